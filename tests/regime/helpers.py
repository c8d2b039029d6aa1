"""Helpers of the regime tests: recorded candles, hours, windows, materialised records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from market_maker.base.candles import CandleSeries
from market_maker.base.timeutil import from_seconds, hours_between
from market_maker.regime.analysis import Frames, RegimeBatch
from market_maker.regime.model import MetricsFile
from market_maker.snapshots.paths import snapshot_relpath

SYMBOL = "ETH-USDT"


@dataclass(frozen=True)
class Recording:
    minutes: CandleSeries
    h1: CandleSeries
    h4: CandleSeries

    @property
    def frames(self) -> Frames:
        return Frames(self.h1, self.h4)

    def hour_at(self, index: int) -> datetime:
        return from_seconds(int(self.h1.t[index]))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def hours(start: datetime, end: datetime) -> list[datetime]:
    return list(hours_between(start, end))


def windows(values: np.ndarray, ends: np.ndarray, n: int) -> np.ndarray:
    """(k, n): the n values ending at each index of ``ends``."""
    return sliding_window_view(values, n)[np.asarray(ends) - n + 1]


def spread_ends(length: int, n: int, count: int, seed: int) -> np.ndarray:
    """``count`` distinct window ends spread at random over a series of ``length`` bars."""
    candidates = np.arange(n - 1, length)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(candidates, min(count, len(candidates)), replace=False))


def record(batch: RegimeBatch, i: int) -> MetricsFile:
    """One analysed hour as its metrics file (fixed provenance fields)."""
    return batch.record(
        i,
        snapshot_path=snapshot_relpath(batch.symbol, from_seconds(int(batch.hours[i]))).as_posix(),
        collected_at=None,
        config_version="test-config",
        code_version="test-code",
    )


def records(batch: RegimeBatch) -> list[MetricsFile]:
    return [record(batch, i) for i in range(len(batch.hours))]
