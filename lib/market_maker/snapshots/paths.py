"""Where snapshots live in the data repository.

An hourly snapshot is ``{DD}/{HH}.json``; a snapshot of a shorter collection period is
named by the period's start, ``{DD}/{HH}-{MM}.json``, so both kinds can sit side by side
(a repository that changed its period keeps its hourly files).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from market_maker.base.identifiers import symbol_part
from market_maker.base.timeutil import is_period_start

SNAPSHOTS_DIR = "snapshots"
_PATH_RE = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(\d{2})(?:-(\d{2}))?\.json$")
_NAME_RE = re.compile(r"^(\d{2})(?:-(\d{2}))?\.json$")


def file_name(start: datetime, period_minutes: int = 60) -> str:
    """``{HH}.json`` for an hour, ``{HH}-{MM}.json`` for a shorter period."""
    start = start.astimezone(UTC)
    return f"{start:%H}.json" if period_minutes == 60 else f"{start:%H-%M}.json"


def snapshot_relpath(symbol: str, hour: datetime, period_minutes: int = 60) -> Path:
    """``snapshots/{SYMBOL}/{YYYY}/{MM}/{DD}/{HH}.json`` (``{HH}-{MM}.json`` under an hour)."""
    return Path(
        SNAPSHOTS_DIR,
        symbol_part(symbol),
        hour.astimezone(UTC).strftime("%Y/%m/%d"),
        file_name(hour, period_minutes),
    )


def start_of_name(
    year: int, month: int, day: int, name: str, period_minutes: int | None = None
) -> datetime | None:
    """The period start a file name (``HH.json`` or ``HH-MM.json``) stands for in that day.

    With ``period_minutes`` only names of that period count: the hourly form at 60, the
    minute form aligned to the period below it; None accepts both forms.
    """
    match = _NAME_RE.match(name)
    if not match:
        return None
    hourly = match.group(2) is None
    try:
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        start = datetime(year, month, day, hour, minute, tzinfo=UTC)
    except ValueError:
        return None
    if period_minutes is None:
        return start if hourly or start.minute % 5 == 0 else None
    if hourly != (period_minutes == 60) or not is_period_start(start, period_minutes):
        return None
    return start


def hour_from_path(path: Path, period_minutes: int | None = None) -> datetime | None:
    """The period start a snapshot path stands for, or None if the path is not a snapshot's
    (of that period, when ``period_minutes`` is given: see :func:`start_of_name`)."""
    match = _PATH_RE.search(path.as_posix())
    if not match:
        return None
    year, month, day, hour, minute = match.groups()
    name = f"{hour}.json" if minute is None else f"{hour}-{minute}.json"
    try:
        return start_of_name(int(year), int(month), int(day), name, period_minutes)
    except ValueError:
        return None
