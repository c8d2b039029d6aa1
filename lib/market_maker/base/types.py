"""The base of every file and settings model, and the annotated field types they share."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, PlainSerializer

from market_maker.base.timeutil import check_period, format_utc, is_period_start, utc


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must be UTC with a Z suffix, e.g. 2024-08-05T10:00:00Z")
    # Stored to the second: keep the model equal to what it reads back.
    return utc(value).replace(microsecond=0)


def _on_the_hour(value: datetime) -> datetime:
    if value.minute or value.second or value.microsecond:
        raise ValueError(f"{format_utc(value)} is not on the hour")
    return value


def aligned_start(value: datetime, period_minutes: int) -> datetime:
    """``value`` if it starts a period of ``period_minutes``; the hourly wording at 60."""
    if not is_period_start(value, period_minutes):
        if period_minutes == 60:
            raise ValueError(f"{format_utc(value)} is not on the hour")
        raise ValueError(
            f"{format_utc(value)} is not the start of a {period_minutes}-minute period"
        )
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_aware_utc), PlainSerializer(format_utc)]
UtcHour = Annotated[
    datetime, AfterValidator(_aware_utc), AfterValidator(_on_the_hour), PlainSerializer(format_utc)
]


def _period_start(value: datetime) -> datetime:
    # The shortest collection period is 5 minutes: every period start is a multiple of it.
    if value.minute % 5 or value.second or value.microsecond:
        raise ValueError(f"{format_utc(value)} is not the start of a collection period")
    return value


# The hour evaluated, or under an hour the start of the period (snapshots.period_minutes):
# what exit states, decisions and gates record as their ``hour``.
UtcPeriodStart = Annotated[
    datetime, AfterValidator(_aware_utc), AfterValidator(_period_start), PlainSerializer(format_utc)
]

# A collection period in minutes (snapshots.period_minutes): divides the hour.
PeriodMinutes = Annotated[int, AfterValidator(check_period)]

# For the hundreds of candle times in a snapshot: the offset check runs inside
# pydantic-core, with no Python call per value (the reader's hot path).
FastUtcDatetime = Annotated[AwareDatetime, PlainSerializer(format_utc)]


class FrozenModel(BaseModel):
    """Immutable, unknown keys refused; infinite floats (a half-life) stay ``.inf``, not null."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")
