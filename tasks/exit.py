"""The exit evaluation's task (the hourly pipeline's steps are in tasks.pipeline)."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from market_maker.base.identifiers import inside
from market_maker.pipeline.outcomes import ExitOutcome
from market_maker.pipeline.steps import HourServices, evaluate_exit
from market_maker.regime import files
from market_maker.regime.model import metrics_relpath


@task(name="evaluate-exit", cache_policy=NO_CACHE)
def evaluate_exit_task(h: HourServices, symbol: str, hour: datetime) -> ExitOutcome:
    """Decide, notify and record the exit state from the hour's stored metrics file."""
    n = h.settings.snapshots.period_minutes
    return evaluate_exit(h, files.read(inside(h.root, metrics_relpath(symbol, hour, n))))
