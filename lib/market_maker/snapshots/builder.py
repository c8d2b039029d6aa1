"""Building snapshots from exchange candles: one code path for live collection and backfill."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from market_maker.candles import CandleSeries, FetchResult, Interval
from market_maker.errors import DataError
from market_maker.exchange.base import Exchange, MarketSummary
from market_maker.snapshots.model import (
    CandleRecord,
    GridStatusRecord,
    MarketSummaryRecord,
    Snapshot,
)
from market_maker.timeutil import HOUR, from_seconds, to_seconds

FOUR_HOURS = 4 * HOUR


@dataclass(frozen=True)
class CandleBundle:
    """Everything needed to build the snapshots of hours ``first``..``last``."""

    symbol: str
    first: datetime
    last: datetime
    minutes: FetchResult
    hours: FetchResult
    four_hours: FetchResult


def fetch_bundle(
    exchange: Exchange,
    symbol: str,
    first: datetime,
    last: datetime,
    *,
    window_1h: int,
    window_4h: int,
) -> CandleBundle:
    """Fetch the minutes of the hours and the 1h/4h windows that end at each of them."""
    end = last + HOUR
    first_4h = from_seconds(to_seconds(first + HOUR) // 14400 * 14400) - window_4h * FOUR_HOURS
    return CandleBundle(
        symbol,
        first,
        last,
        minutes=exchange.candles(symbol, Interval.MINUTE, first, end),
        hours=exchange.candles(symbol, Interval.HOUR, first - (window_1h - 1) * HOUR, end),
        four_hours=exchange.candles(symbol, Interval.FOUR_HOURS, first_4h, end),
    )


@dataclass(frozen=True)
class Built:
    """A snapshot, or the reason there is none (minutes missing at the source)."""

    hour: datetime
    snapshot: Snapshot | None
    missing_minutes: list[datetime] = field(default_factory=list)
    reason: str = ""


def build_snapshot(
    bundle: CandleBundle,
    hour: datetime,
    *,
    price_scale: int,
    window_1h: int,
    window_4h: int,
    collected_at: datetime,
    source: str,
    config_version: str,
    code_version: str,
    summary: MarketSummary | None = None,
    grid: GridStatusRecord | None = None,
) -> Built:
    """The snapshot of ``hour`` from the bundle; None when the source lacks some of its minutes.

    ``summary`` is the live market summary (only for the hour just closed);
    otherwise the summary is derived from the hour's closed candles.
    """
    end = hour + HOUR
    minutes = bundle.minutes.candles.between(hour, end)
    missing = [t for t in bundle.minutes.missing if hour <= t < end]
    if missing or len(minutes) != 60:
        return Built(
            hour,
            None,
            missing,
            f"{len(missing) or 60 - len(minutes)} minute(s) missing at the source",
        )
    hours = bundle.hours.candles.closed_by(end).last(window_1h)
    if len(hours) == 0 or int(hours.t[-1]) != to_seconds(hour):
        return Built(hour, None, [], "the source has no 1h candle for the hour")
    four = bundle.four_hours.candles.closed_by(end).last(window_4h)
    summary_record = (
        _live_summary(summary, price_scale, bundle.symbol)
        if summary is not None
        else _derived_summary(
            bundle.hours.candles.closed_by(end).last(24), price_scale, bundle.symbol
        )
    )
    snapshot = Snapshot(
        symbol=bundle.symbol,
        hour=hour,
        collected_at=collected_at,
        source=source,
        price_scale=price_scale,
        minutes=_records(minutes, price_scale, bundle.symbol),
        candles_1h=_records(hours, price_scale, bundle.symbol),
        candles_4h=_records(four, price_scale, bundle.symbol),
        market_summary=summary_record,
        grid=grid,
        config_version=config_version,
        code_version=code_version,
    )
    return Built(hour, snapshot)


def scale_prices(values: np.ndarray, scale: int, symbol: str) -> np.ndarray:
    """Prices as integers; refuse prices that are not whole ticks at this scale."""
    scaled = np.asarray(values, dtype=np.float64) * scale
    rounded = np.rint(scaled)
    off = np.abs(scaled - rounded) > 1e-6 * np.maximum(1.0, np.abs(scaled))
    if np.any(off):
        bad = float(np.asarray(values)[np.flatnonzero(off)[0]])
        raise DataError(
            f"{symbol} price {bad!r} is not a multiple of 1/{scale}: set "
            f"snapshots.price_scales.{symbol} to match the symbol's tick size"
        )
    return rounded.astype(np.int64)


VOLUME_DECIMALS = 8  # sums of minute volumes carry float noise in the last digits


def _records(series: CandleSeries, scale: int, symbol: str) -> list[CandleRecord]:
    prices = scale_prices(
        np.stack([series.open, series.high, series.low, series.close]), scale, symbol
    )
    volumes = np.round(series.volume, VOLUME_DECIMALS)
    return [
        CandleRecord(t=from_seconds(t), o=o, h=h, l=low, c=c, v=v)
        for t, o, h, low, c, v in zip(
            series.t.tolist(),
            *(row.tolist() for row in prices),
            volumes.tolist(),
            strict=True,
        )
    ]


def _live_summary(summary: MarketSummary, scale: int, symbol: str) -> MarketSummaryRecord:
    def to_int(value: float) -> int:
        return int(scale_prices(np.array([value]), scale, symbol)[0])

    return MarketSummaryRecord(
        last=to_int(summary.last),
        high_24h=to_int(summary.high_24h),
        low_24h=to_int(summary.low_24h),
        volume_24h=summary.volume_24h,
        best_bid=None if summary.best_bid is None else to_int(summary.best_bid),
        best_ask=None if summary.best_ask is None else to_int(summary.best_ask),
        as_of=summary.as_of,
        origin="exchange",
    )


def _derived_summary(day: CandleSeries, scale: int, symbol: str) -> MarketSummaryRecord:
    high, low, last = scale_prices(
        np.array([day.high.max(), day.low.min(), day.close[-1]]), scale, symbol
    )
    return MarketSummaryRecord(
        last=int(last),
        high_24h=int(high),
        low_24h=int(low),
        volume_24h=round(float(day.volume.sum()), VOLUME_DECIMALS),
        as_of=from_seconds(int(day.t[-1]) + 3600),
        origin="candles",
    )
