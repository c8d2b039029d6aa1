"""The snapshot file: one collection period of one symbol, self-contained for the regime analysis.

A period is an hour by default (``snapshots.period_minutes``); ``hour`` is the period's
start whatever its length.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveInt,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from market_maker.base.candles import CandleSeries, Interval
from market_maker.base.identifiers import GridId
from market_maker.base.timeutil import last_closed_bar
from market_maker.base.types import (
    FastUtcDatetime,
    FrozenModel,
    PeriodMinutes,
    UtcDatetime,
    aligned_start,
)
from market_maker.config.models import Symbol

SCHEMA_VERSION = "2.0"
# 2.1 adds period_minutes, written only for periods under an hour: hourly files stay 2.0.
PERIOD_SCHEMA_VERSION = "2.1"
KNOWN_VERSIONS = ("1.0", "2.0", PERIOD_SCHEMA_VERSION)
LATEST_VERSION = PERIOD_SCHEMA_VERSION
V1_PRICE_SCALE = 100  # version 1.0 files stored prices x100 without saying so


Record = FrozenModel


class CandleRecord(Record):
    """One candle; prices are integers (price x ``price_scale``), ``v`` base-asset volume."""

    t: FastUtcDatetime = Field(description="Open time.")
    o: int
    h: int
    l: int  # noqa: E741 - the contract's field name
    c: int
    v: float = Field(ge=0, allow_inf_nan=False)


class MarketSummaryRecord(Record):
    last: int
    high_24h: int
    low_24h: int
    volume_24h: NonNegativeFloat
    best_bid: int | None = None
    best_ask: int | None = None
    as_of: UtcDatetime | None = Field(None, description="When the figures were true.")
    origin: Literal["exchange", "candles"] = Field(
        "candles",
        description="exchange: the live ticker at collection; candles: derived from the "
        "hour's closed candles (backfills, replays).",
    )


class GridStatusRecord(Record):
    """The grid configured for the symbol at collection time."""

    grid_id: GridId
    running: bool
    lower_price: float = Field(gt=0, allow_inf_nan=False)
    upper_price: float = Field(gt=0, allow_inf_nan=False)
    levels: int = Field(ge=2)
    running_since: UtcDatetime | None = Field(None, description="When the grid last started.")
    grid_version: str | None = Field(None, description="Git hash of the grid file.")


def schema_for(period_minutes: int) -> str:
    """The schema version a snapshot of this period is written with."""
    return SCHEMA_VERSION if period_minutes == 60 else PERIOD_SCHEMA_VERSION


class Snapshot(Record):
    schema_version: Literal["2.0", "2.1"] = SCHEMA_VERSION
    symbol: Symbol
    # Before ``hour``, whose alignment it sets; left out of the file at 60 (hourly files).
    period_minutes: PeriodMinutes = Field(60, description="Length of the period (2.1 only).")
    hour: UtcDatetime = Field(description="Start of the period (the hour at 60 minutes).")
    collected_at: UtcDatetime
    source: str = Field(description="Exchange name, or replay.")
    price_scale: PositiveInt
    minutes: list[CandleRecord]
    candles_1h: list[CandleRecord]
    candles_4h: list[CandleRecord]
    market_summary: MarketSummaryRecord
    grid: GridStatusRecord | None = None
    config_version: str
    code_version: str = "unknown"

    @field_validator("hour")
    @classmethod
    def _period_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        return aligned_start(value, info.data.get("period_minutes", 60))

    @model_validator(mode="after")
    def _version_names_the_period(self) -> Snapshot:
        if self.schema_version != schema_for(self.period_minutes):
            raise ValueError(
                f"schema_version {self.schema_version} does not go with a "
                f"{self.period_minutes}-minute period (60: 2.0; under 60: 2.1)"
            )
        return self

    @model_serializer(mode="wrap")
    def _hourly_without_period(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if self.period_minutes == 60:
            data.pop("period_minutes", None)  # hourly files stay byte for byte as before
        return data

    @property
    def period(self) -> timedelta:
        return timedelta(minutes=self.period_minutes)

    @property
    def end(self) -> datetime:
        """When the period closes: its minutes end here, every candle in it closed by then."""
        return self.hour + self.period

    @property
    def bar_hour(self) -> datetime:
        """Open time of the last 1h candle closed at :attr:`end` (the analysed 1h bar)."""
        return last_closed_bar(self.hour, self.period_minutes)

    def price(self, value: int) -> float:
        return value / self.price_scale

    def series(self, section: Literal["minutes", "candles_1h", "candles_4h"]) -> CandleSeries:
        """A section as float prices in columnar form."""
        interval = {
            "minutes": Interval.MINUTE,
            "candles_1h": Interval.HOUR,
            "candles_4h": Interval.FOUR_HOURS,
        }[section]
        return records_to_series(getattr(self, section), interval, self.price_scale)


def records_to_series(
    records: list[CandleRecord], interval: Interval, price_scale: int
) -> CandleSeries:
    if not records:
        return CandleSeries.empty(interval)
    rows = np.array([(r.t.timestamp(), r.o, r.h, r.l, r.c, r.v) for r in records], dtype=np.float64)
    rows[:, 1:5] /= price_scale
    return CandleSeries.from_rows(interval, rows)


def migrate(raw: dict[str, Any]) -> dict[str, Any]:
    """Bring a parsed snapshot up to the current schema (lazy migration on read).

    1.0 -> 2.0: prices were a fixed x100 with no ``price_scale`` field and no
    ``code_version``.
    """
    version = raw.get("schema_version")
    if version == "1.0":
        raw = {**raw, "schema_version": SCHEMA_VERSION}
        raw.setdefault("price_scale", V1_PRICE_SCALE)
    return raw
