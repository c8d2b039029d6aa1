"""A data repository filled by the library's pipeline at a given collection period, on the
recorded sample: the hourly pipeline's five steps (``run_hour``) for each period, as the
scheduled cycle runs them, with the replay exchange's clock just after each period closes.
No Prefect, no remote; notifications go to the log (no keys)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from market_maker.base.timeutil import periods_between
from market_maker.config import load_settings
from market_maker.context import RunContext
from market_maker.exchange import ReplayExchange
from market_maker.exit_strategy.evaluator import ExitEvaluator
from market_maker.grids.book import add_grid
from market_maker.lifecycle.setup_evaluator import Balance, SetupEvaluator
from market_maker.pipeline.outcomes import HourResult
from market_maker.pipeline.steps import hour_alerts, hour_services, load_book, run_hour
from tests.conftest import SAMPLE_FILE
from tests.grid_files import grid_data

SYMBOL = "ETH-USDT"
BALANCE = Balance(10_000.0, "test")


@dataclass
class PeriodRepo:
    ctx: RunContext
    results: list[HourResult]

    @property
    def root(self) -> Path:
        return self.ctx.store.path


def open_repo(repo: Path, period_minutes: int, now: datetime) -> RunContext:
    """The settings in force with ``period_minutes``, a data repository at ``repo`` (no
    remote) and the replay exchange on the sample."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("MARKET_MAKER_") and name != "MARKET_MAKER_PREFECT_SERVER":
                mp.delenv(name)
        mp.setenv("MARKET_MAKER_DATA_REPOSITORY__BASE_PATH", str(repo))
        mp.setenv("MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL", "")
        mp.setenv("MARKET_MAKER_SNAPSHOTS__PERIOD_MINUTES", str(period_minutes))
        return RunContext.open(load_settings(), ReplayExchange(SAMPLE_FILE, SYMBOL, now=now))


def replay(
    repo: Path,
    period_minutes: int,
    start: datetime,
    end: datetime,
    *,
    grid: dict | None = None,
) -> PeriodRepo:
    """Every period from ``start`` to ``end`` through the pipeline; ``grid``: grid file data
    added first (e.g. :func:`tests.grid_files.grid_data`)."""
    step = timedelta(minutes=period_minutes)
    ctx = open_repo(repo, period_minutes, start + step + timedelta(minutes=5))
    if grid is not None:
        source = repo.parent / f"{grid['id']}.yaml"
        source.write_text(yaml.safe_dump(grid))
        add_grid(ctx.store.path, source, fee_rate=ctx.settings.grids.fee_rate)
    evaluator = ExitEvaluator(ctx.store.path, ctx.settings)
    alerts = hour_alerts(ctx.store.path, ctx.settings, evaluator)
    setup = SetupEvaluator(ctx.store.path, ctx.settings, BALANCE)
    results = []
    for at in periods_between(start, end, period_minutes):
        collected_at = at + step + timedelta(minutes=5)
        ctx.exchange.set_now(collected_at)
        h = hour_services(ctx, book=load_book(ctx), exits=evaluator, alerts=alerts, setup=setup)
        results.append(run_hour(h, SYMBOL, at, collected_at=collected_at))
    return PeriodRepo(ctx, results)


def with_grid(**changes: object) -> dict:
    return grid_data(**changes)
