"""Operator commands on grids: add a grid file, enable or disable it (appends to its history).

Plain functions, not flows: each takes the repository lock, rebases onto the
remote, writes one validated grid file, commits and pushes it. Grids are
operator state: the next hourly run picks the change up without a redeploy.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from market_maker.base.errors import DataError
from market_maker.base.timeutil import format_utc
from market_maker.config import load_settings
from market_maker.context import RunContext
from market_maker.decisions.store import DecisionStore
from market_maker.grids.book import GridBook, add_grid, parse_grid, set_running
from market_maker.operator.writing import writing

log = logging.getLogger("market_maker.grid_admin")


def grid_add(source: Path) -> str:
    with writing("grid add") as ctx:
        try:
            symbol = parse_grid(source.read_text(), str(source)).symbol
        except OSError as exc:
            raise DataError(f"grid file {source}: {exc.strerror}") from None
        ctx.settings.require_symbols([symbol])
        path = add_grid(ctx.store.path, source, fee_rate=ctx.settings.grids.fee_rate)
        grid_id = path.stem
        ctx.store.commit(f"grid add: {grid_id}\n\nfrom {source.name}\n", [path])
    result = ctx.store.push()
    return f"grid {grid_id} added at {path} ({result.detail})"


def grid_set(
    grid_id: str,
    *,
    enabled: bool,
    at: datetime,
    reason: str | None,
    decision: str | None = None,
) -> str:
    action = "enable" if enabled else "disable"
    with writing(f"grid {action}") as ctx:
        root = ctx.store.path
        decisions = DecisionStore(root)
        if decision:  # an unknown decision stops the command before any write
            recommendation = str(decisions.read(decisions.find(decision)).recommendation)
        fee = ctx.settings.grids.fee_rate
        path = set_running(root, grid_id, enabled=enabled, at=at, reason=reason, fee_rate=fee)
        paths = [path]
        if decision:
            # Stopping a grid follows a STOP_GRID and goes against a HOLD or WATCH; restarting
            # one does the opposite.
            follows = (recommendation == "STOP_GRID") == (not enabled)
            entry, recorded = decisions.act(
                decision,
                "executed" if follows else "declined",
                at,
                note=reason,
                source=f"grid {action}",
                grid_id=grid_id,
                grace=timedelta(minutes=ctx.settings.kpis.late_action_minutes),
            )
            paths.append(entry)
            if recorded.late:
                log.warning("decision %s had expired: the action is recorded as late", decision)
        ctx.store.commit(
            f"grid {action}: {grid_id} {format_utc(at)}\n\n{reason or 'no reason given'}\n", paths
        )
    result = ctx.store.push()
    return f"grid {grid_id} {action}d at {format_utc(at)} ({result.detail})"


def grid_list(at: datetime) -> str:
    settings = load_settings()
    ctx = RunContext.open(settings)
    book = GridBook.load(ctx.store.path, fee_rate=settings.grids.fee_rate)
    if not book.grids:
        return "(no grids)"
    lines = []
    for grid in book.grids.values():
        state = "running" if grid.running_at(at) else "stopped"
        lines.append(
            f"{grid.id}  {grid.symbol}  {grid.lower_price:g}-{grid.upper_price:g}  "
            f"{grid.levels} levels  {state}"
        )
    return "\n".join(lines)
