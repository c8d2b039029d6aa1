"""A columnar cache of stored snapshots' candles, per symbol and month.

Derived data, never the source of truth: each month's arrays are rebuilt
from the snapshot files whenever a file of that month is added, removed or
changed (its modification time or size differ), and the whole cache can be
deleted at any time. It lets a year of hours be analysed without parsing
8,760 JSON files each time, and a backtest read its 1-minute candles from the
data repository (version 2 keeps each snapshot's minutes too).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from market_maker.base.atomic import write_atomic
from market_maker.base.candles import CandleSeries, Interval
from market_maker.base.identifiers import inside, symbol_part
from market_maker.base.timeutil import from_seconds, to_seconds
from market_maker.snapshots.model import GridStatusRecord
from market_maker.snapshots.packing import PACK_SUFFIX, OpenPack, hour_of_member
from market_maker.snapshots.parallel import map_parts
from market_maker.snapshots.paths import SNAPSHOTS_DIR, hour_from_path
from market_maker.snapshots.problems import errors_only
from market_maker.snapshots.reader import SnapshotReader

CACHE_VERSION = 2


@dataclass
class CachedCandles:
    """Candles of the snapshots of a range, and what each hour's snapshot said."""

    h1: CandleSeries
    h4: CandleSeries
    hours: list[datetime] = field(default_factory=list)
    grids: dict[datetime, GridStatusRecord | None] = field(default_factory=dict)
    collected_at: dict[datetime, datetime] = field(default_factory=dict)
    invalid: list[datetime] = field(default_factory=list)
    # Under an hour: each period's last close (an hour's is its own 1h candle's close).
    prices: dict[datetime, float] = field(default_factory=dict)


class CandleCache:
    def __init__(self, reader: SnapshotReader, cache_dir: Path):
        self.reader = reader
        self.cache_dir = cache_dir

    def load(self, symbol: str, start: datetime, end: datetime) -> CachedCandles:
        """Candles of every stored snapshot whose hour lies in [start, end] (windows included)."""
        months = _months(start, end)
        parts = self._months(symbol, months)
        lo, hi = to_seconds(start), to_seconds(end)
        h1 = _merge([p["h1"] for p in parts], Interval.HOUR)
        h4 = _merge([p["h4"] for p in parts], Interval.FOUR_HOURS)
        out = CachedCandles(h1, h4)
        for p in parts:
            prices = p["price"].tolist() if "price" in p else [None] * len(p["hours"])
            for t, grid, collected, price in zip(
                p["hours"].tolist(),
                p["grids"].tolist(),
                p["collected"].tolist(),
                prices,
                strict=True,
            ):
                if lo <= t <= hi:
                    hour = from_seconds(t)
                    out.hours.append(hour)
                    out.grids[hour] = GridStatusRecord.model_validate_json(grid) if grid else None
                    out.collected_at[hour] = from_seconds(collected)
                    if price is not None:
                        out.prices[hour] = price
            out.invalid += [from_seconds(t) for t in p["invalid"].tolist() if lo <= t <= hi]
        return out

    def minutes(self, symbol: str, start: datetime, end: datetime) -> CandleSeries:
        """The 1-minute candles of every valid stored snapshot, opening in [start, end)."""
        parts = self._months(symbol, _months(start, end))
        return _merge([p["m1"] for p in parts], Interval.MINUTE).between(start, end)

    def _months(self, symbol: str, months: list[tuple[int, int]]) -> list[dict[str, np.ndarray]]:
        parts: dict[tuple[int, int], dict[str, np.ndarray]] = {}
        stale: dict[tuple[int, int], np.ndarray] = {}
        for year, month in months:
            fingerprint = self._fingerprint(symbol, year, month)
            cached = _read(self._path(symbol, year, month))
            if cached is not None and np.array_equal(cached["fingerprint"], fingerprint):
                parts[year, month] = cached
            else:
                stale[year, month] = fingerprint
        # A cold range reads thousands of files: the months are read on every core.
        built = dict(
            zip(
                stale,
                map_parts(
                    self.reader,
                    _build,
                    [(symbol, f) for f in stale.values()],
                    files=sum(len(f) for f in stale.values()),
                ),
                strict=True,
            )
        )
        for (year, month), arrays in built.items():
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            write_atomic(self._path(symbol, year, month), buffer.getvalue())
            parts[year, month] = arrays
        return [parts[key] for key in months]

    def rebuild(self, symbol: str, year: int, month: int) -> bool:
        """Rebuild one month from the files; True when the cache already held exactly that."""
        path = self._path(symbol, year, month)
        old = _read(path)
        fresh = _build(self.reader, (symbol, self._fingerprint(symbol, year, month)))
        same = old is not None and set(old) == set(fresh)
        same = same and all(np.array_equal(old[k], fresh[k]) for k in fresh)  # type: ignore[index]
        buffer = io.BytesIO()
        np.savez(buffer, **fresh)
        write_atomic(path, buffer.getvalue())
        return same

    def _path(self, symbol: str, year: int, month: int) -> Path:
        period = self.reader.period_minutes
        suffix = "" if period == 60 else f"-{period}m"  # each period's snapshots apart
        return self.cache_dir / symbol / f"{year:04d}-{month:02d}{suffix}.npz"

    def _fingerprint(self, symbol: str, year: int, month: int) -> np.ndarray:
        """(hour, mtime_ns, size) of each of the month's files; a packed hour gives its pack's
        mtime and its member's CRC."""
        root, period = self.reader.root, self.reader.period_minutes
        folder = inside(root, Path(SNAPSHOTS_DIR, symbol_part(symbol), f"{year:04d}"))
        rows = {
            h: (to_seconds(h), st.st_mtime_ns, st.st_size)
            for p in sorted((folder / f"{month:02d}").glob("*/*.json"))
            if (h := hour_from_path(p.relative_to(root), period)) is not None
            for st in [p.stat()]
        }
        pack = folder / f"{month:02d}{PACK_SUFFIX}"
        if pack.exists():
            opened = OpenPack.open(pack)  # a damaged pack: a DataError naming it
            try:
                for name, info in opened.members.items():
                    h = hour_of_member(year, month, name, period)
                    if h is not None and h not in rows:  # a loose file wins, as in the reader
                        rows[h] = (to_seconds(h), opened.mtime_ns, info.CRC)
            finally:
                opened.close()
        return np.array([rows[h] for h in sorted(rows)], dtype=np.int64).reshape(-1, 3)


def _build(reader: SnapshotReader, part: tuple[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A month's arrays from its files (``part``: the symbol and the month's fingerprint)."""
    symbol, fingerprint = part
    h1: list[np.ndarray] = []
    h4: list[np.ndarray] = []
    m1: list[np.ndarray] = []
    hours, grids, collected, invalid, prices = [], [], [], [], []
    for t in fingerprint[:, 0].tolist():
        snap, problems = reader.check_arrays(symbol, from_seconds(t))
        if snap is None or errors_only(problems):
            invalid.append(t)
            continue
        h1.append(snap.rows("candles_1h"))
        h4.append(snap.rows("candles_4h"))
        m1.append(snap.rows("minutes"))
        hours.append(t)
        grids.append(snap.header.grid.model_dump_json() if snap.header.grid else "")
        collected.append(to_seconds(snap.header.collected_at))
        if len(snap.minutes):
            prices.append(snap.rows("minutes")[-1, 4])
    extra = {}
    if reader.period_minutes != 60:  # hourly caches keep their keys as before
        extra["price"] = np.array(prices, dtype=np.float64)
    return {
        **extra,
        "version": np.array([CACHE_VERSION]),
        "fingerprint": fingerprint,
        "h1": _union(h1),
        "h4": _union(h4),
        "m1": _union(m1),
        "hours": np.array(hours, dtype=np.int64),
        "grids": np.array(grids, dtype=str),
        "collected": np.array(collected, dtype=np.int64),
        "invalid": np.array(invalid, dtype=np.int64),
    }


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
