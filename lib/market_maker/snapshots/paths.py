"""Where snapshots live in the data repository."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from market_maker.identifiers import symbol_part

SNAPSHOTS_DIR = "snapshots"
_PATH_RE = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(\d{2})\.json$")


def snapshot_relpath(symbol: str, hour: datetime) -> Path:
    """``snapshots/{SYMBOL}/{YYYY}/{MM}/{DD}/{HH}.json``."""
    return Path(
        SNAPSHOTS_DIR, symbol_part(symbol), hour.astimezone(UTC).strftime("%Y/%m/%d/%H.json")
    )


def hour_from_path(path: Path) -> datetime | None:
    """The hour a snapshot path stands for, or None if the path is not a snapshot's."""
    match = _PATH_RE.search(path.as_posix())
    if not match:
        return None
    try:
        return datetime(*(int(g) for g in match.groups()), tzinfo=UTC)
    except ValueError:
        return None
