"""Candle series in columnar form (numpy), intervals, and aggregation of minutes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import numpy as np

from market_maker.base.timeutil import from_seconds, to_seconds


class Interval(StrEnum):
    """Candle intervals the project uses, named as KuCoin names them."""

    MINUTE = "1min"
    HOUR = "1hour"
    FOUR_HOURS = "4hour"

    @property
    def seconds(self) -> int:
        return {"1min": 60, "1hour": 3600, "4hour": 14400}[self.value]


@dataclass(frozen=True)
class CandleSeries:
    """Candles oldest first; ``t`` is each candle's open time in Unix seconds."""

    interval: Interval
    t: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @classmethod
    def empty(cls, interval: Interval) -> CandleSeries:
        z = np.empty(0)
        return cls(interval, np.empty(0, dtype=np.int64), z, z, z, z, z)

    @classmethod
    def from_rows(cls, interval: Interval, rows: np.ndarray) -> CandleSeries:
        """From an (n, 6) array of time_s, open, high, low, close, volume."""
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
        return cls(
            interval,
            rows[:, 0].astype(np.int64),
            rows[:, 1].copy(),
            rows[:, 2].copy(),
            rows[:, 3].copy(),
            rows[:, 4].copy(),
            rows[:, 5].copy(),
        )

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def take(self, index: np.ndarray | slice) -> CandleSeries:
        return CandleSeries(
            self.interval,
            self.t[index],
            self.open[index],
            self.high[index],
            self.low[index],
            self.close[index],
            self.volume[index],
        )

    def between(self, start: datetime, end: datetime) -> CandleSeries:
        """Candles with open time in [start, end)."""
        lo = np.searchsorted(self.t, to_seconds(start), side="left")
        hi = np.searchsorted(self.t, to_seconds(end), side="left")
        return self.take(slice(lo, hi))

    def closed_by(self, moment: datetime) -> CandleSeries:
        """Candles that have closed at ``moment`` (open time + interval <= moment)."""
        hi = np.searchsorted(self.t, to_seconds(moment) - self.interval.seconds, side="right")
        return self.take(slice(0, hi))

    def last(self, count: int) -> CandleSeries:
        return self.take(slice(max(len(self) - count, 0), len(self)))

    def times(self) -> list[datetime]:
        return [from_seconds(s) for s in self.t.tolist()]

    def sorted_unique(self) -> CandleSeries:
        """Sorted by open time, keeping the first candle of each duplicated time."""
        _, first = np.unique(self.t, return_index=True)
        return self.take(first)


def concat(parts: list[CandleSeries], interval: Interval) -> CandleSeries:
    parts = [p for p in parts if len(p)]
    if not parts:
        return CandleSeries.empty(interval)
    return CandleSeries(
        interval,
        np.concatenate([p.t for p in parts]),
        np.concatenate([p.open for p in parts]),
        np.concatenate([p.high for p in parts]),
        np.concatenate([p.low for p in parts]),
        np.concatenate([p.close for p in parts]),
        np.concatenate([p.volume for p in parts]),
    )


def aggregate(minutes: CandleSeries, interval: Interval) -> CandleSeries:
    """Aggregate 1-minute candles into ``interval`` candles aligned to the Unix epoch (UTC).

    A bucket with at least one minute yields a candle, as exchanges do; a bucket
    with none yields nothing (gaps are reported by the caller, never filled).
    """
    if len(minutes) == 0:
        return CandleSeries.empty(interval)
    bucket = minutes.t - minutes.t % interval.seconds
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(minutes)] - 1
    return CandleSeries(
        interval,
        bucket[starts],
        minutes.open[starts],
        np.maximum.reduceat(minutes.high, starts),
        np.minimum.reduceat(minutes.low, starts),
        minutes.close[ends],
        np.add.reduceat(minutes.volume, starts),
    )


def expected_times(interval: Interval, start: datetime, end: datetime) -> np.ndarray:
    """Open times of every ``interval`` candle in [start, end), aligned to the epoch."""
    step = interval.seconds
    first = -(-to_seconds(start) // step) * step
    return np.arange(first, to_seconds(end), step, dtype=np.int64)


@dataclass(frozen=True)
class FetchResult:
    """Candles returned for a range and the open times the source did not have."""

    candles: CandleSeries
    missing: list[datetime] = field(default_factory=list)

    @classmethod
    def checked(cls, candles: CandleSeries, start: datetime, end: datetime) -> FetchResult:
        expected = expected_times(candles.interval, start, end)
        absent = np.setdiff1d(expected, candles.t, assume_unique=True)
        return cls(candles, [from_seconds(s) for s in absent.tolist()])
