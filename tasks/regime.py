"""Tasks of the regime analysis."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from market_maker.context import RunContext
from market_maker.pipeline.steps import analyze_hour
from market_maker.regime.index import RefreshStats
from market_maker.regime.model import MetricsFile
from market_maker.regime.stored_analysis import (
    RangeAnalysis,
    analyze_range,
    write_records,
)


@task(name="analyze-hour", cache_policy=NO_CACHE)
def analyze_hour_task(ctx: RunContext, symbol: str, hour: datetime) -> MetricsFile:
    return analyze_hour(ctx, symbol, hour)


@task(name="analyze-range", cache_policy=NO_CACHE)
def analyze_range_task(
    ctx: RunContext, symbol: str, start: datetime, end: datetime
) -> RangeAnalysis:
    return analyze_range(
        ctx.reader,
        ctx.cache_dir,
        symbol,
        start,
        end,
        ctx.settings.regime,
        config_version=ctx.config_version,
        code_version=ctx.code_version,
    )


@task(name="write-metrics", cache_policy=NO_CACHE)
def write_metrics_task(
    ctx: RunContext, records: list[MetricsFile], recompute: bool
) -> list[tuple[Path, str]]:
    return write_records(ctx.store.path, records, overwrite=recompute)


@task(name="refresh-regime-index", cache_policy=NO_CACHE)
def refresh_index_task(ctx: RunContext, symbol: str) -> RefreshStats:
    return ctx.regime_index.refresh(symbol)
