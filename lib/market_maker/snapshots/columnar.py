"""A columnar cache of stored snapshots' candles, per symbol and month.

Derived data, never the source of truth: each month's arrays are rebuilt
from the snapshot files whenever a file of that month is added, removed or
changed (its modification time or size differ), and the whole cache can be
deleted at any time. It lets a year of hours be analysed without parsing
8,760 JSON files each time.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from market_maker.candles import CandleSeries, Interval
from market_maker.identifiers import inside, symbol_part
from market_maker.snapshots.model import GridStatusRecord, Snapshot
from market_maker.snapshots.paths import SNAPSHOTS_DIR, hour_from_path
from market_maker.snapshots.reader import SnapshotReader
from market_maker.snapshots.validation import errors_only
from market_maker.store.atomic import write_atomic
from market_maker.timeutil import from_seconds, to_seconds

CACHE_VERSION = 1


@dataclass
class CachedCandles:
    """Candles of the snapshots of a range, and what each hour's snapshot said."""

    h1: CandleSeries
    h4: CandleSeries
    hours: list[datetime] = field(default_factory=list)
    grids: dict[datetime, GridStatusRecord | None] = field(default_factory=dict)
    collected_at: dict[datetime, datetime] = field(default_factory=dict)
    invalid: list[datetime] = field(default_factory=list)


class CandleCache:
    def __init__(self, reader: SnapshotReader, cache_dir: Path):
        self.reader = reader
        self.cache_dir = cache_dir

    def load(self, symbol: str, start: datetime, end: datetime) -> CachedCandles:
        """Candles of every stored snapshot whose hour lies in [start, end] (windows included)."""
        months = _months(start, end)
        parts = [self._month(symbol, y, m) for y, m in months]
        lo, hi = to_seconds(start), to_seconds(end)
        h1 = _merge([p["h1"] for p in parts], Interval.HOUR)
        h4 = _merge([p["h4"] for p in parts], Interval.FOUR_HOURS)
        out = CachedCandles(h1, h4)
        for p in parts:
            for t, grid, collected in zip(
                p["hours"].tolist(), p["grids"].tolist(), p["collected"].tolist(), strict=True
            ):
                if lo <= t <= hi:
                    hour = from_seconds(t)
                    out.hours.append(hour)
                    out.grids[hour] = GridStatusRecord.model_validate_json(grid) if grid else None
                    out.collected_at[hour] = from_seconds(collected)
            out.invalid += [from_seconds(t) for t in p["invalid"].tolist() if lo <= t <= hi]
        return out

    def _month(self, symbol: str, year: int, month: int) -> dict[str, np.ndarray]:
        folder = inside(
            self.reader.root,
            Path(SNAPSHOTS_DIR, symbol_part(symbol), f"{year:04d}", f"{month:02d}"),
        )
        files = sorted(folder.glob("*/*.json"))
        fingerprint = np.array(
            [
                (to_seconds(h), st.st_mtime_ns, st.st_size)
                for p in files
                if (h := hour_from_path(p.relative_to(self.reader.root))) is not None
                for st in [p.stat()]
            ],
            dtype=np.int64,
        ).reshape(-1, 3)
        path = self.cache_dir / symbol / f"{year:04d}-{month:02d}.npz"
        cached = _read(path)
        if cached is not None and np.array_equal(cached["fingerprint"], fingerprint):
            return cached
        built = self._build(symbol, fingerprint)
        buffer = io.BytesIO()
        np.savez(buffer, **built)
        write_atomic(path, buffer.getvalue())
        return built

    def _build(self, symbol: str, fingerprint: np.ndarray) -> dict[str, np.ndarray]:
        h1: list[np.ndarray] = []
        h4: list[np.ndarray] = []
        hours, grids, collected, invalid = [], [], [], []
        for t in fingerprint[:, 0].tolist():
            snap, problems = self.reader.check(symbol, from_seconds(t))
            if snap is None or errors_only(problems):
                invalid.append(t)
                continue
            h1.append(_rows(snap, "candles_1h"))
            h4.append(_rows(snap, "candles_4h"))
            hours.append(t)
            grids.append(snap.grid.model_dump_json() if snap.grid else "")
            collected.append(to_seconds(snap.collected_at))
        return {
            "version": np.array([CACHE_VERSION]),
            "fingerprint": fingerprint,
            "h1": _union(h1),
            "h4": _union(h4),
            "hours": np.array(hours, dtype=np.int64),
            "grids": np.array(grids, dtype=str),
            "collected": np.array(collected, dtype=np.int64),
            "invalid": np.array(invalid, dtype=np.int64),
        }


def _rows(snap: Snapshot, section: str) -> np.ndarray:
    series = snap.series(section)  # type: ignore[arg-type]
    return np.column_stack(
        [series.t, series.open, series.high, series.low, series.close, series.volume]
    )


def _union(parts: list[np.ndarray]) -> np.ndarray:
    """Candles of all snapshots, one per open time: the first snapshot (in hour order) wins,
    which for a snapshot's own hour is that snapshot."""
    if not parts:
        return np.empty((0, 6))
    rows = np.concatenate(parts)
    _, first = np.unique(rows[:, 0], return_index=True)
    return rows[first]


def _merge(parts: list[np.ndarray], interval: Interval) -> CandleSeries:
    rows = _union([p for p in parts if len(p)])
    return CandleSeries.from_rows(interval, rows) if len(rows) else CandleSeries.empty(interval)


def _read(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["version"][0]) != CACHE_VERSION:
                return None
            return {key: data[key] for key in data.files}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        # A damaged file (empty, truncated) is derived data like any other: rebuild it.
        return None


def _months(start: datetime, end: datetime) -> list[tuple[int, int]]:
    out = []
    y, m = start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


__all__ = ["CachedCandles", "CandleCache"]
