"""The snapshot file: one hour of one symbol, self-contained for the regime analysis."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, NonNegativeFloat, PositiveInt

from market_maker.candles import CandleSeries, Interval
from market_maker.config.models import Symbol
from market_maker.identifiers import GridId
from market_maker.types import FastUtcDatetime, FrozenModel, UtcDatetime, UtcHour

SCHEMA_VERSION = "2.0"
KNOWN_VERSIONS = ("1.0", "2.0")
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


class Snapshot(Record):
    schema_version: Literal["2.0"] = SCHEMA_VERSION
    symbol: Symbol
    hour: UtcHour
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
