"""Annotated field types shared by the file models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, PlainSerializer

from market_maker.timeutil import format_utc, utc


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must be UTC with a Z suffix, e.g. 2024-08-05T10:00:00Z")
    # Stored to the second: keep the model equal to what it reads back.
    return utc(value).replace(microsecond=0)


def _on_the_hour(value: datetime) -> datetime:
    if value.minute or value.second or value.microsecond:
        raise ValueError(f"{format_utc(value)} is not on the hour")
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_aware_utc), PlainSerializer(format_utc)]
UtcHour = Annotated[
    datetime, AfterValidator(_aware_utc), AfterValidator(_on_the_hour), PlainSerializer(format_utc)
]

# For the hundreds of candle times in a snapshot: the offset check runs inside
# pydantic-core, with no Python call per value (the reader's hot path).
FastUtcDatetime = Annotated[AwareDatetime, PlainSerializer(format_utc)]
