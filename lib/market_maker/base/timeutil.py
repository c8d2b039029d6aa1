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


# Collection periods that divide the hour: a period is named by its start (UTC, aligned).
PERIOD_MINUTES = (60, 30, 20, 15, 10, 5)


def check_period(minutes: int) -> int:
    """``minutes`` if it is an allowed collection period, else a ValueError listing them."""
    if minutes not in PERIOD_MINUTES:
        allowed = ", ".join(str(m) for m in PERIOD_MINUTES)
        raise ValueError(f"{minutes} is not a collection period: one of {allowed} (minutes)")
    return minutes


def period(minutes: int) -> timedelta:
    return timedelta(minutes=check_period(minutes))


def floor_period(dt: datetime, minutes: int) -> datetime:
    """The start of the ``minutes`` period holding ``dt``."""
    dt = utc(dt)
    return dt.replace(minute=dt.minute - dt.minute % check_period(minutes), second=0, microsecond=0)


def is_period_start(dt: datetime, minutes: int) -> bool:
    dt = utc(dt)
    return dt.minute % check_period(minutes) == 0 and dt.second == 0 and dt.microsecond == 0


def last_closed_period(now: datetime, minutes: int) -> datetime:
    """The most recent period whose minutes have all closed at ``now``."""
    return floor_period(now, minutes) - period(minutes)


def periods_between(start: datetime, end: datetime, minutes: int) -> Iterator[datetime]:
    """Every period start from ``start`` to ``end`` inclusive (both floored to the period)."""
    step = period(minutes)
    at, last = floor_period(start, minutes), floor_period(end, minutes)
    while at <= last:
        yield at
        at += step


def floor_hour(dt: datetime) -> datetime:
    return floor_period(dt, 60)


def last_closed_hour(now: datetime) -> datetime:
    """The most recent hour whose 60 minutes have all closed at ``now``."""
    return last_closed_period(now, 60)


def hours_between(start: datetime, end: datetime) -> Iterator[datetime]:
    """Every hour from ``start`` to ``end`` inclusive (both floored to the hour)."""
    return periods_between(start, end, 60)


def last_closed_bar(start: datetime, minutes: int) -> datetime:
    """Open time of the last 1h bar closed when the period starting at ``start`` ends.

    The period's own hour at 60 minutes; within an hour, the hour before until its last
    period (no lookahead: a bar closing after the period's end is never used).
    """
    return floor_hour(utc(start) + period(minutes)) - HOUR


def to_seconds(dt: datetime) -> int:
    return int(utc(dt).timestamp())


def from_seconds(seconds: int | float) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)


def period_cron(minutes: int, offset_minutes: int) -> str:
    """The cron of a run ``offset_minutes`` after each period closes (UTC).

    ``5 * * * *`` for an hour; ``5,20,35,50 * * * *`` for 15 minutes.
    """
    check_period(minutes)
    if not 0 <= offset_minutes < minutes:
        raise ValueError(f"offset {offset_minutes} min must be less than the {minutes}-min period")
    return ",".join(str(m) for m in range(offset_minutes, 60, minutes)) + " * * * *"


def cron_period(cron: str) -> tuple[int, int] | None:
    """(period minutes, offset minutes) of a cron :func:`period_cron` writes, else None."""
    fields = cron.split()
    if len(fields) != 5 or fields[1:] != ["*"] * 4:
        return None
    try:
        minutes = sorted(int(m) for m in fields[0].split(","))
    except ValueError:
        return None
    if not minutes or minutes[0] < 0 or minutes[-1] > 59:
        return None
    step = 60 // len(minutes)
    if step not in PERIOD_MINUTES or minutes != list(range(minutes[0], 60, step)):
        return None
    return step, minutes[0] % step
