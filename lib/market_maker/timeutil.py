"""UTC time helpers: every timestamp the project stores is UTC, ISO 8601 with ``Z``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def utc(dt: datetime) -> datetime:
    """Return ``dt`` as an aware UTC datetime; naive values are taken as UTC."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_utc(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` or offset; naive means UTC)."""
    try:
        return utc(datetime.fromisoformat(text.strip().replace("z", "Z")))
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 timestamp: {text!r}") from exc


def format_utc(dt: datetime) -> str:
    """Format as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")


def floor_hour(dt: datetime) -> datetime:
    dt = utc(dt)
    return dt.replace(minute=0, second=0, microsecond=0)


def is_hour(dt: datetime) -> bool:
    dt = utc(dt)
    return dt.minute == 0 and dt.second == 0 and dt.microsecond == 0


def last_closed_hour(now: datetime) -> datetime:
    """The most recent hour whose 60 minutes have all closed at ``now``."""
    return floor_hour(now) - HOUR


def hours_between(start: datetime, end: datetime) -> Iterator[datetime]:
    """Every hour from ``start`` to ``end`` inclusive (both floored to the hour)."""
    hour, last = floor_hour(start), floor_hour(end)
    while hour <= last:
        yield hour
        hour += HOUR


def to_seconds(dt: datetime) -> int:
    return int(utc(dt).timestamp())


def from_seconds(seconds: int | float) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)
