"""The exit evaluation's task (the hourly pipeline's steps are in tasks.pipeline)."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from market_maker.base.identifiers import inside
from market_maker.context import RunContext
from market_maker.exit_strategy.service import ExitEvaluator, ExitOutcome
from market_maker.grids.book import GridBook
from market_maker.regime import files
from market_maker.regime.model import metrics_relpath


@task(name="evaluate-exit", cache_policy=NO_CACHE)
def evaluate_exit_task(
    ctx: RunContext,
    evaluator: ExitEvaluator,
    book: GridBook,
    symbol: str,
    hour: datetime,
    run_url: str | None,
) -> ExitOutcome:
    """Evaluate the exit state from the hour's stored metrics file."""
    metrics = files.read(
        inside(ctx.store.path, metrics_relpath(symbol, hour, ctx.settings.snapshots.period_minutes))
    )
    return evaluator.evaluate(metrics, book, code_version=ctx.code_version, run_url=run_url)
