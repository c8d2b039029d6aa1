"""A snapshot with its candles as arrays: what the fast read path gives, and ranges read.

Every field but the candles stays in the :class:`Snapshot` model (``header``); each candle
section is three arrays (:class:`Candles`). :mod:`market_maker.snapshots.fast_read` reads
files into this form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np

from market_maker.base.candles import CandleSeries, Interval
from market_maker.base.timeutil import from_seconds, to_seconds
from market_maker.snapshots.model import CandleRecord, Snapshot

Section = Literal["minutes", "candles_1h", "candles_4h"]
SECTIONS: tuple[Section, ...] = ("minutes", "candles_1h", "candles_4h")
INTERVALS = {
    "minutes": Interval.MINUTE,
    "candles_1h": Interval.HOUR,
    "candles_4h": Interval.FOUR_HOURS,
}


def empty_sections() -> dict[str, list]:
    return {section: [] for section in SECTIONS}


@dataclass(frozen=True)
class Candles:
    """One section's candles: open times (Unix s), prices (integers, rows o/h/l/c), volumes."""

    t: np.ndarray
    prices: np.ndarray
    v: np.ndarray

    @classmethod
    def empty(cls) -> Candles:
        return cls(np.empty(0, np.int64), np.empty((4, 0), np.int64), np.empty(0))

    @classmethod
    def from_records(cls, records: list[CandleRecord]) -> Candles:
        if not records:
            return cls.empty()
        return cls(
            np.array([to_seconds(r.t) for r in records], dtype=np.int64),
            price_rows(records),
            np.array([r.v for r in records], dtype=np.float64),
        )

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def rows(self, price_scale: int) -> np.ndarray:
        """(n, 6) float rows: time, open, high, low, close, volume (prices as prices)."""
        out = np.empty((len(self), 6))
        out[:, 0] = self.t
        out[:, 1:5] = self.prices.T
        out[:, 1:5] /= price_scale
        out[:, 5] = self.v
        return out

    def records(self) -> list[CandleRecord]:
        """As models, without validating again (the arrays have passed every check)."""
        return [
            CandleRecord.model_construct(t=from_seconds(t), o=o, h=h, l=low, c=c, v=v)
            for t, o, h, low, c, v in zip(
                self.t.tolist(), *self.prices.tolist(), self.v.tolist(), strict=True
            )
        ]


@dataclass(frozen=True)
class SnapshotArrays:
    """A snapshot with its candles as arrays; ``header`` holds every other field."""

    header: Snapshot  # the model, its three candle lists empty
    minutes: Candles
    candles_1h: Candles
    candles_4h: Candles

    @classmethod
    def from_snapshot(cls, snap: Snapshot) -> SnapshotArrays:
        return cls(
            snap.model_copy(update=empty_sections()),
            *(Candles.from_records(getattr(snap, s)) for s in SECTIONS),
        )

    @property
    def symbol(self) -> str:
        return self.header.symbol

    @property
    def hour(self) -> datetime:
        return self.header.hour

    def section(self, name: Section) -> Candles:
        return getattr(self, name)

    def rows(self, name: Section) -> np.ndarray:
        return self.section(name).rows(self.header.price_scale)

    def series(self, name: Section) -> CandleSeries:
        """A section as float prices in columnar form (as :meth:`Snapshot.series`)."""
        candles = self.section(name)
        if not len(candles):
            return CandleSeries.empty(INTERVALS[name])
        return CandleSeries.from_rows(INTERVALS[name], self.rows(name))

    def to_snapshot(self) -> Snapshot:
        return self.header.model_copy(update={s: self.section(s).records() for s in SECTIONS})


def price_rows(records: list[CandleRecord]) -> np.ndarray:
    """The records' prices as rows o/h/l/c: int64, or Python ints where int64 is too small
    (the model takes any integer)."""
    prices = [(r.o, r.h, r.l, r.c) for r in records]
    try:
        return np.array(prices, dtype=np.int64).T.copy()
    except OverflowError:
        return np.array(prices, dtype=object).T.copy()
