"""Tasks that collect and validate snapshots."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from market_maker.context import RunContext
from market_maker.pipeline.collection import HourOutcome, collect_hours
from market_maker.snapshots import ValidationReport
from tasks.retry import retry_transient


@task(
    name="collect-hours",
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
    tags=["exchange"],
)
def collect_hours_task(
    ctx: RunContext, symbol: str, hours: list[datetime], collected_at: datetime
) -> list[HourOutcome]:
    """Fetch from the exchange and write the snapshots of ``hours`` that are missing or invalid."""
    return collect_hours(ctx, symbol, hours, collected_at=collected_at)


@task(name="validate-snapshots", cache_policy=NO_CACHE)
def validate_task(
    ctx: RunContext, symbol: str, start: datetime | None, end: datetime | None
) -> ValidationReport:
    return ctx.reader.validate(symbol, start, end)
