"""Collecting snapshots: the one code path behind hourly collection and backfill."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from market_maker.base.errors import NewerSchemaError
from market_maker.base.timeutil import format_utc, is_period_start, last_closed_period
from market_maker.context import RunContext
from market_maker.snapshots import write_snapshot
from market_maker.snapshots.builder import build_snapshot, fetch_bundle
from market_maker.snapshots.model import GridStatusRecord
from market_maker.snapshots.problems import newer_schema

Status = Literal["written", "unchanged", "missing_at_source", "not_closed"]


@dataclass(frozen=True)
class HourOutcome:
    symbol: str
    hour: datetime
    status: Status
    path: Path | None = None
    detail: str = ""

    def __str__(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.symbol} {format_utc(self.hour)}: {self.status}{extra}"


GridLookup = Callable[[str, datetime], GridStatusRecord | None]


def collect_hours(
    ctx: RunContext,
    symbol: str,
    hours: list[datetime],
    *,
    collected_at: datetime,
    grid_status: GridLookup | None = None,
) -> list[HourOutcome]:
    """Write the snapshot of every hour in ``hours`` that is missing or invalid.

    An "hour" is the start of a collection period (``snapshots.period_minutes``, an hour by
    default). A valid stored snapshot is never rewritten (reruns change nothing). Periods
    not yet closed at the exchange's clock are skipped; periods whose minutes the source
    lacks are reported, never filled in. The live market summary is used for the period
    that has just closed, a derived one otherwise.
    """
    exchange = ctx.exchange
    cfg = ctx.settings.snapshots
    n = cfg.period_minutes
    misaligned = [h for h in hours if not is_period_start(h, n)]
    if misaligned:
        raise ValueError(
            f"{format_utc(misaligned[0])} is not the start of a {n}-minute collection period "
            "(snapshots.period_minutes)"
        )
    latest = last_closed_period(exchange.now(), n)
    outcomes: dict[datetime, HourOutcome] = {}
    need: list[datetime] = []
    for hour in sorted(set(hours)):
        if hour > latest:
            outcomes[hour] = HourOutcome(
                symbol, hour, "not_closed", None, "not closed at the source yet"
            )
        elif ctx.reader.is_valid(symbol, hour):
            outcomes[hour] = HourOutcome(
                symbol, hour, "unchanged", ctx.reader.path_for(symbol, hour)
            )
        else:
            _refuse_newer(ctx, symbol, hour)
            need.append(hour)
    if not need:
        return list(outcomes.values())

    bundle = fetch_bundle(
        exchange,
        symbol,
        need[0],
        need[-1],
        window_1h=cfg.window_1h,
        window_4h=cfg.window_4h,
        period_minutes=n,
    )
    live_summary = exchange.market_summary(symbol) if latest in need else None
    for hour in need:
        built = build_snapshot(
            bundle,
            hour,
            price_scale=cfg.price_scale(symbol),
            window_1h=cfg.window_1h,
            window_4h=cfg.window_4h,
            collected_at=collected_at,
            source=exchange.name,
            config_version=ctx.config_version,
            code_version=ctx.code_version,
            summary=live_summary if hour == latest else None,
            grid=grid_status(symbol, hour) if grid_status else None,
        )
        if built.snapshot is None:
            outcomes[hour] = HourOutcome(symbol, hour, "missing_at_source", None, built.reason)
            continue
        path = write_snapshot(ctx.store.path, built.snapshot, limits=ctx.limits)
        outcomes[hour] = HourOutcome(symbol, hour, "written", path)
    return [outcomes[h] for h in sorted(outcomes)]


def _refuse_newer(ctx: RunContext, symbol: str, hour: datetime) -> None:
    """A snapshot a newer version wrote is never overwritten: stop and name it."""
    problem = newer_schema(ctx.reader.check(symbol, hour)[1])
    if problem is not None:
        raise NewerSchemaError(f"{ctx.reader.path_for(symbol, hour)}: {problem.message}")


def written_paths(outcomes: list[HourOutcome]) -> list[Path]:
    return [o.path for o in outcomes if o.status == "written" and o.path is not None]
