"""Operator commands on grids: add a grid file, enable or disable it (appends to its history).

Plain functions, not flows: each takes the repository lock, rebases onto the
remote, writes one validated grid file, commits and pushes it. Grids are
operator state: the next hourly run picks the change up without a redeploy.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from market_maker.config import load_settings
from market_maker.decisions.store import DecisionStore
from market_maker.grids.book import GridBook, add_grid, set_running
from market_maker.store import GitDataStore
from market_maker.timeutil import format_utc


def _store() -> tuple[GitDataStore, float]:
    settings = load_settings()
    return GitDataStore.from_settings(settings), settings.grids.fee_rate


def grid_add(source: Path) -> str:
    store, fee = _store()
    with store.locked():
        store.sync()
        path = add_grid(store.path, source, fee_rate=fee)
        grid_id = path.stem
        store.commit(f"grid add: {grid_id}\n\nfrom {source.name}\n", [path])
        result = store.push()
    return f"grid {grid_id} added at {path} ({result.detail})"


def grid_set(
    grid_id: str,
    *,
    enabled: bool,
    at: datetime,
    reason: str | None,
    decision: str | None = None,
) -> str:
    store, fee = _store()
    action = "enable" if enabled else "disable"
    with store.locked():
        store.sync()
        path = set_running(store.path, grid_id, enabled=enabled, at=at, reason=reason, fee_rate=fee)
        paths = [path]
        if decision:
            paths.append(
                DecisionStore(store.path).append(
                    decision,
                    "action",
                    {"action": f"grid {action}", "grid_id": grid_id, "reason": reason},
                    recorded_at=at,
                )
            )
        store.commit(
            f"grid {action}: {grid_id} {format_utc(at)}\n\n{reason or 'no reason given'}\n", paths
        )
        result = store.push()
    return f"grid {grid_id} {action}d at {format_utc(at)} ({result.detail})"


def grid_list(at: datetime) -> str:
    store, fee = _store()
    book = GridBook.load(store.path, fee_rate=fee)
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
