"""A backtest's 1-minute candles from the data repository: the minutes of every stored
snapshot (packed months included), read through the columnar cache.

A user backfills a symbol from the exchange and backtests it with nothing else. The minutes
go through the same preflight as a recording's (coverage with the warm-up, gaps, OHLC
checks): a stretch never backfilled is a coverage or gap finding naming the period.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from market_maker.backtest.recording import RawRecording
from market_maker.base.identifiers import symbol_part
from market_maker.context import RunContext
from market_maker.snapshots import Limits, SnapshotReader
from market_maker.snapshots.columnar import CandleCache
from market_maker.snapshots.paths import SNAPSHOTS_DIR

# How a preflight names the data it checked (a recording is its data_file).
PARAMETER = "snapshots"


@dataclass(frozen=True)
class StoredMinutes:
    """Where a data repository's snapshots and their cache are; picklable, so a sweep's
    worker processes read it too."""

    root: Path
    cache_dir: Path
    limits: Limits

    @classmethod
    def of(cls, ctx: RunContext) -> StoredMinutes:
        return cls(ctx.store.path, ctx.cache_dir, ctx.limits)

    def where(self, symbol: str) -> Path:
        return self.root / SNAPSHOTS_DIR / symbol_part(symbol)

    def recording(self, symbol: str, start: datetime, end: datetime) -> RawRecording:
        """The stored minutes opening in [start, end), as a recording the preflight reads."""
        reader = SnapshotReader(self.root, self.limits)
        m = CandleCache(reader, self.cache_dir).minutes(symbol, start, end)
        return RawRecording(
            path=self.where(symbol),
            t=m.t.astype(np.int64),
            open=m.open,
            high=m.high,
            low=m.low,
            close=m.close,
            volume=m.volume,
            parameter=PARAMETER,
        )


def digest(raw: RawRecording) -> str:
    """The minutes' content, for the run's name: same candles, same name."""
    h = hashlib.sha1(usedforsecurity=False)
    for column in (raw.t, raw.open, raw.high, raw.low, raw.close, raw.volume):
        h.update(np.ascontiguousarray(column).tobytes())
    return h.hexdigest()
