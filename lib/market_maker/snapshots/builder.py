"""Building snapshots from exchange candles: one code path for live collection and backfill.

A snapshot covers one collection period (an hour by default). Whatever the period, its
1h and 4h sections hold the candles closed when the period ends, never one closing later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from market_maker.base.candles import CandleSeries, FetchResult, Interval
from market_maker.base.errors import DataError
from market_maker.base.timeutil import HOUR, from_seconds, last_closed_bar, period, to_seconds
from market_maker.exchange.base import Exchange, MarketSummary
from market_maker.snapshots.model import (
    CandleRecord,
    GridStatusRecord,
    MarketSummaryRecord,
    Snapshot,
    schema_for,
)

FOUR_HOURS = 4 * HOUR
DAY = timedelta(days=1)


@dataclass(frozen=True)
class CandleBundle:
    """Everything needed to build the snapshots of periods ``first``..``last``."""

    symbol: str
    first: datetime
    last: datetime
    minutes: FetchResult
    hours: FetchResult
    four_hours: FetchResult
    period_minutes: int = 60


def fetch_bundle(
    exchange: Exchange,
    symbol: str,
    first: datetime,
    last: datetime,
    *,
    window_1h: int,
    window_4h: int,
    period_minutes: int = 60,
) -> CandleBundle:
    """Fetch the minutes of the periods and the 1h/4h windows closed when each ends.

    Under an hour the minutes start a day earlier: the derived market summary of a period
    is the rolling 24 h up to its end (an hour's is its 24 closed hourly candles).
    """
    step = period(period_minutes)
    end = last + step
    first_4h = from_seconds(to_seconds(first + step) // 14400 * 14400) - window_4h * FOUR_HOURS
    first_1h = last_closed_bar(first, period_minutes) - (window_1h - 1) * HOUR
    first_minute = first if period_minutes == 60 else first + step - DAY
    return CandleBundle(
        symbol,
        first,
        last,
        minutes=exchange.candles(symbol, Interval.MINUTE, first_minute, end),
        hours=exchange.candles(symbol, Interval.HOUR, first_1h, end),
        four_hours=exchange.candles(symbol, Interval.FOUR_HOURS, first_4h, end),
        period_minutes=period_minutes,
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
    """The snapshot of the period starting at ``hour`` from the bundle; None when the source
    lacks some of its minutes.

    ``summary`` is the live market summary (only for the period just closed);
    otherwise the summary is derived from the candles closed by the period's end.
    """
    n = bundle.period_minutes
    end = hour + period(n)
    minutes = bundle.minutes.candles.between(hour, end)
    missing = [t for t in bundle.minutes.missing if hour <= t < end]
    if missing or len(minutes) != n:
        return Built(
            hour,
            None,
            missing,
            f"{len(missing) or n - len(minutes)} minute(s) missing at the source",
        )
    hours = bundle.hours.candles.closed_by(end).last(window_1h)
    if len(hours) == 0 or int(hours.t[-1]) != to_seconds(last_closed_bar(hour, n)):
        what = "the hour" if n == 60 else "the last hour closed by the period's end"
        return Built(hour, None, [], f"the source has no 1h candle for {what}")
    four = bundle.four_hours.candles.closed_by(end).last(window_4h)
    if summary is not None:
        summary_record = _live_summary(summary, price_scale, bundle.symbol)
    elif n == 60:
        summary_record = _derived_summary(
            bundle.hours.candles.closed_by(end).last(24), price_scale, bundle.symbol
        )
    else:
        summary_record = _rolling_summary(
            bundle.minutes.candles.between(end - DAY, end), end, price_scale, bundle.symbol
        )
    snapshot = Snapshot(
        schema_version=schema_for(n),
        symbol=bundle.symbol,
        period_minutes=n,
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
    """The 24 h of closed hourly candles, as of the last one's close."""
    return _rolling_summary(day, from_seconds(int(day.t[-1]) + 3600), scale, symbol)


def _rolling_summary(
    day: CandleSeries, end: datetime, scale: int, symbol: str
) -> MarketSummaryRecord:
    """The 24 h up to ``end`` from its minutes (periods under an hour: as of the period's
    end, where closed hourly candles would lag by up to an hour)."""
    high, low, last = scale_prices(
        np.array([day.high.max(), day.low.min(), day.close[-1]]), scale, symbol
    )
    return MarketSummaryRecord(
        last=int(last),
        high_24h=int(high),
        low_24h=int(low),
        volume_24h=round(float(day.volume.sum()), VOLUME_DECIMALS),
        as_of=end,
        origin="candles",
    )
