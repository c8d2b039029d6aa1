"""The base of every file and settings model, and the annotated field types they share."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, PlainSerializer

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


class FrozenModel(BaseModel):
    """Immutable, unknown keys refused; infinite floats (a half-life) stay ``.inf``, not null."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")
