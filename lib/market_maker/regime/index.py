"""The regime index: a SQLite table derived from the metrics files, for queries.

Never the source of truth: :meth:`RegimeIndex.refresh` brings it up to date
from the files (only files added, changed or removed since the last refresh
are read), and deleting the database loses nothing.

It indexes the metrics files of one collection period (hourly by default): a row is a
period, "consecutive" means one period apart. Files of another period (a repository
that changed ``snapshots.period_minutes``) are left out.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path

from market_maker.base.errors import DataError
from market_maker.base.identifiers import symbol_part, valid_symbol
from market_maker.base.timeutil import format_utc, from_seconds, to_seconds
from market_maker.regime import files
from market_maker.regime.model import METRICS_DIR, metrics_file_period

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS hours (
    symbol TEXT NOT NULL,
    hour INTEGER NOT NULL,
    status TEXT NOT NULL,
    verdict TEXT,
    verdict_1h TEXT,
    verdict_4h TEXT,
    confidence REAL,
    score REAL,
    price REAL,
    config_version TEXT NOT NULL,
    code_version TEXT NOT NULL,
    path TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (symbol, hour)
);
CREATE INDEX IF NOT EXISTS hours_by_verdict ON hours (symbol, verdict, hour);
"""


@dataclass(frozen=True)
class Period:
    verdict: str
    start: str
    end: str
    hours: float  # the run's length in hours (its number of periods at 60 minutes)
    mean_confidence: float | None


@dataclass(frozen=True)
class Transition:
    hour: str
    from_verdict: str
    to_verdict: str
    confidence: float | None


@dataclass(frozen=True)
class HourRow:
    symbol: str
    hour: str
    status: str
    verdict: str | None
    verdict_1h: str | None
    verdict_4h: str | None
    confidence: float | None
    score: float | None
    price: float
    path: str


@dataclass(frozen=True)
class RefreshStats:
    read: int
    removed: int
    unchanged: int
    skipped: int = 0


class RegimeIndex:
    def __init__(self, db_path: Path, data_root: Path, period_minutes: int = 60):
        self.db_path = db_path
        self.data_root = data_root
        self.period_minutes = period_minutes
        self._form = "hour" if period_minutes == 60 else "period"
        self._step = 60 * period_minutes
        db_path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.db_path, timeout=30)) as db, db:
            yield db

    def refresh(self, symbol: str | None = None) -> RefreshStats:
        """Read metrics files that are new or changed, drop rows whose file is gone."""
        base = self.data_root / METRICS_DIR
        symbols = (
            [symbol_part(symbol)]
            if symbol
            else sorted(p.name for p in base.glob("*") if p.is_dir() and valid_symbol(p.name))
        )
        read = removed = unchanged = skipped = 0
        with self._connect() as db:
            for sym in symbols:
                known = {
                    row[0]: (row[1], row[2])
                    for row in db.execute(
                        "SELECT path, mtime_ns, size FROM hours WHERE symbol = ?", (sym,)
                    )
                }
                seen = set()
                for path in sorted((base / sym).glob("*.yaml")):
                    if metrics_file_period(path.name) not in (self._form, None):
                        continue  # another period's file: not a row here (a row is gone)
                    rel = path.relative_to(self.data_root).as_posix()
                    seen.add(rel)
                    stat = path.stat()
                    if known.get(rel) == (stat.st_mtime_ns, stat.st_size):
                        unchanged += 1
                        continue
                    try:
                        self._upsert(db, path, rel, stat.st_mtime_ns, stat.st_size)
                    except DataError as exc:
                        # Derived data: a damaged file is left out (and named), not fatal.
                        log.warning("regime index skips %s: %s", rel, exc)
                        db.execute("DELETE FROM hours WHERE path = ?", (rel,))
                        skipped += 1
                        continue
                    read += 1
                gone = [p for p in known if p not in seen]
                db.executemany("DELETE FROM hours WHERE path = ?", [(p,) for p in gone])
                removed += len(gone)
        return RefreshStats(read, removed, unchanged, skipped)

    def _upsert(self, db: sqlite3.Connection, path: Path, rel: str, mtime: int, size: int) -> None:
        m = files.read(path)  # a DataError names the file
        db.execute(
            "INSERT OR REPLACE INTO hours VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                m.symbol,
                to_seconds(m.hour),
                m.status,
                m.verdict,
                m.verdict_1h,
                m.confirmation_4h.verdict,
                m.confidence,
                m.score,
                m.price,
                m.config_version,
                m.code_version,
                rel,
                mtime,
                size,
            ),
        )

    # -- queries --------------------------------------------------------------

    def _rows(
        self, symbol: str, start: datetime | None, end: datetime | None
    ) -> list[tuple[int, str | None, float | None]]:
        lo = to_seconds(start) if start else -(2**62)
        hi = to_seconds(end) if end else 2**62
        with self._connect() as db:
            return list(
                db.execute(
                    "SELECT hour, verdict, confidence FROM hours "
                    "WHERE symbol = ? AND hour BETWEEN ? AND ? ORDER BY hour",
                    (symbol, lo, hi),
                )
            )

    def periods(
        self,
        symbol: str,
        verdict: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Period]:
        """Runs of consecutive hours with one verdict (a missing hour ends a run)."""
        out: list[Period] = []
        run: list[tuple[int, str | None, float | None]] = []

        def close() -> None:
            if run and run[0][1] is not None and (verdict is None or run[0][1] == verdict):
                conf = [c for _, _, c in run if c is not None]
                out.append(
                    Period(
                        verdict=str(run[0][1]),
                        start=format_utc(from_seconds(run[0][0])),
                        end=format_utc(from_seconds(run[-1][0])),
                        hours=_hours(len(run), self.period_minutes),
                        mean_confidence=round(sum(conf) / len(conf), 4) if conf else None,
                    )
                )

        for row in self._rows(symbol, start, end):
            if run and (row[1] != run[-1][1] or row[0] - run[-1][0] != self._step):
                close()
                run = []
            run.append(row)
        close()
        return out

    def transitions(
        self,
        symbol: str,
        start: datetime | None = None,
        end: datetime | None = None,
        from_verdict: str | None = None,
        to_verdict: str | None = None,
    ) -> list[Transition]:
        """Hours whose verdict differs from the hour before's."""
        rows = self._rows(symbol, start, end)
        out = []
        for (t0, a, _), (t1, b, conf) in pairwise(rows):
            if t1 - t0 != self._step or a is None or b is None or a == b:
                continue
            if (from_verdict and a != from_verdict) or (to_verdict and b != to_verdict):
                continue
            out.append(Transition(format_utc(from_seconds(t1)), a, b, conf))
        return out

    def confidence_distribution(
        self,
        symbol: str,
        start: datetime | None = None,
        end: datetime | None = None,
        verdict: str | None = None,
        bins: int = 10,
    ) -> list[dict[str, object]]:
        """Counts of hours per confidence bin [i/bins, (i+1)/bins)."""
        counts: Counter[int] = Counter()
        for _, v, conf in self._rows(symbol, start, end):
            if conf is None or (verdict and v != verdict):
                continue
            counts[min(int(conf * bins), bins - 1)] += 1
        return [
            {"low": i / bins, "high": (i + 1) / bins, "hours": counts.get(i, 0)}
            for i in range(bins)
        ]

    def verdict_at(self, symbol: str, hour: datetime) -> HourRow | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT symbol, hour, status, verdict, verdict_1h, verdict_4h, confidence, score, "
                "price, path FROM hours WHERE symbol = ? AND hour = ?",
                (symbol, to_seconds(hour)),
            ).fetchone()
        if row is None:
            return None
        return HourRow(row[0], format_utc(from_seconds(row[1])), *row[2:])

    def count(self, symbol: str, start: datetime | None = None, end: datetime | None = None) -> int:
        """Hours indexed for ``symbol``, within ``start``..``end`` (inclusive) when given."""
        low = to_seconds(start) if start is not None else -(2**62)
        high = to_seconds(end) if end is not None else 2**62
        with self._connect() as db:
            row = db.execute(
                "SELECT COUNT(*) FROM hours WHERE symbol = ? AND hour BETWEEN ? AND ?",
                (symbol, low, high),
            ).fetchone()
        return int(row[0])


def _hours(periods: int, period_minutes: int) -> float:
    """Elapsed hours of ``periods`` periods; an integer count at 60 minutes, as before."""
    return periods if period_minutes == 60 else round(periods * period_minutes / 60, 4)


def as_dict(item: Period | Transition | HourRow) -> dict[str, object]:
    return asdict(item)


__all__ = ["HourRow", "Period", "RegimeIndex", "Transition", "as_dict"]
