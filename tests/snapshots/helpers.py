"""Building real snapshots from the recorded sample, and writing raw (possibly broken) files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from market_maker.base.timeutil import HOUR
from market_maker.exchange.replay import ReplayExchange
from market_maker.snapshots import Problem, Snapshot, check_file, dumps, snapshot_relpath
from market_maker.snapshots.builder import build_snapshot, fetch_bundle
from market_maker.snapshots.paths import hour_from_path

SYMBOL = "ETH-USDT"
PRICE_SCALE = 100
WINDOW_1H = 200
WINDOW_4H = 100
# A quiet stretch of July 2023: every hour has its 60 minutes and full 1h/4h windows.
FIRST_HOUR = datetime(2023, 7, 10, 0, tzinfo=UTC)
LAST_HOUR = datetime(2023, 7, 10, 5, tzinfo=UTC)
COLLECTION_DELAY = timedelta(minutes=2)


def build_hours(
    exchange: ReplayExchange,
    first: datetime,
    last: datetime,
    *,
    collected_at: datetime | None = None,
) -> dict[datetime, Snapshot]:
    """Snapshots of hours first..last, as the collection builds them from the exchange."""
    bundle = fetch_bundle(exchange, SYMBOL, first, last, window_1h=WINDOW_1H, window_4h=WINDOW_4H)
    built: dict[datetime, Snapshot] = {}
    hour = first
    while hour <= last:
        result = build_snapshot(
            bundle,
            hour,
            price_scale=PRICE_SCALE,
            window_1h=WINDOW_1H,
            window_4h=WINDOW_4H,
            collected_at=collected_at or hour + HOUR + COLLECTION_DELAY,
            source="replay",
            config_version="test-config",
            code_version="test-code",
        )
        assert result.snapshot is not None, result.reason
        built[hour] = result.snapshot
        hour += HOUR
    return built


def as_json(snapshot: Snapshot) -> dict[str, Any]:
    """The snapshot as its file holds it, ready to be damaged."""
    return json.loads(dumps(snapshot))


def write_raw(root: Path, data: dict[str, Any] | bytes, hour: datetime | None = None) -> Path:
    """Write a file where the snapshot of ``hour`` (default: the data's own hour) belongs."""
    if isinstance(data, bytes):
        assert hour is not None
        raw = data
    else:
        hour = hour or datetime.fromisoformat(data["hour"])
        raw = json.dumps(data, indent=1).encode()
    path = root / snapshot_relpath(SYMBOL, hour)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return path


def check_stored(path: Path) -> list[Problem]:
    """Validate a stored file as the reader does: symbol and hour taken from its path."""
    _, problems = check_file(path, symbol=SYMBOL, hour=hour_from_path(path))
    return problems
