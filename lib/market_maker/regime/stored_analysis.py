"""Analysis over stored snapshots: one hour (live) or a range (with summary statistics)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Literal

import numpy as np

from market_maker.base.timeutil import format_utc, from_seconds, periods_between
from market_maker.config.regime import RegimeSettings
from market_maker.regime import files
from market_maker.regime.analysis import (
    Frames,
    RegimeBatch,
    analyze,
    analyze_frames,
    analyze_periods,
)
from market_maker.regime.classifier import MISSING
from market_maker.regime.model import VERDICTS, MetricsFile
from market_maker.snapshots.columnar import CachedCandles, CandleCache
from market_maker.snapshots.model import GridStatusRecord
from market_maker.snapshots.paths import snapshot_relpath
from market_maker.snapshots.problems import errors_only
from market_maker.snapshots.reader import SnapshotReader


@dataclass
class RangeSummary:
    symbol: str
    start: datetime
    end: datetime
    hours_analysed: int = 0
    hours_refused: int = 0
    hours_without_snapshot: int = 0
    invalid_snapshots: list[datetime] = field(default_factory=list)
    # (snapshot file, what is wrong with it), one per invalid snapshot
    invalid_reasons: list[tuple[str, str]] = field(default_factory=list)
    verdicts: dict[str, int] = field(default_factory=dict)
    transitions: dict[str, int] = field(default_factory=dict)
    mean_confidence: float | None = None

    def shares(self) -> dict[str, float]:
        total = sum(self.verdicts.values()) or 1
        return {v: n / total for v, n in self.verdicts.items()}

    def lines(self) -> list[str]:
        shares = self.shares()
        out = [
            f"{self.symbol} {format_utc(self.start)}..{format_utc(self.end)}: "
            f"{self.hours_analysed} hours analysed, {self.hours_refused} refused "
            f"(insufficient metrics), {self.hours_without_snapshot} without a snapshot, "
            f"{len(self.invalid_snapshots)} invalid snapshots",
        ]
        out += [f"  invalid snapshot {path}: {why}" for path, why in self.invalid_reasons]
        out += [
            f"  {v:<11} {self.verdicts.get(v, 0):6d}  {100 * shares.get(v, 0):5.1f} %"
            for v in [*(str(x) for x in VERDICTS), "REFUSED"]
        ]
        if self.mean_confidence is not None:
            out.append(f"  mean confidence {self.mean_confidence:.3f}")
        top = sorted(self.transitions.items(), key=lambda kv: -kv[1])[:8]
        if top:
            out.append("  transitions: " + ", ".join(f"{k} {n}" for k, n in top))
        return out


@dataclass
class RangeAnalysis:
    batch: RegimeBatch
    summary: RangeSummary
    collected_at: dict[datetime, datetime]
    config_version: str
    code_version: str

    def records(self) -> list[MetricsFile]:
        return [self.record(i) for i in range(len(self.batch.hours))]

    def record(self, i: int) -> MetricsFile:
        hour = from_seconds(int(self.batch.hours[i]))
        return self.batch.record(
            i,
            snapshot_path=snapshot_relpath(
                self.batch.symbol, hour, self.batch.period_minutes
            ).as_posix(),
            collected_at=self.collected_at.get(hour),
            config_version=self.config_version,
            code_version=self.code_version,
        )


def analyze_range(
    reader: SnapshotReader,
    cache_dir: Path,
    symbol: str,
    start: datetime,
    end: datetime,
    cfg: RegimeSettings,
    *,
    config_version: str,
    code_version: str,
    grid_status: Callable[[str, datetime], GridStatusRecord | None] | None = None,
) -> RangeAnalysis:
    """Analyse every stored snapshot's hour in [start, end] with the live path's functions.

    ``grid_status`` gives the grid in force at each hour (from the grid files);
    by default the grid each snapshot recorded at collection.
    """
    cached = CandleCache(reader, cache_dir).load(symbol, start, end)
    grids = (
        {hour: grid_status(symbol, hour) for hour in cached.hours} if grid_status else cached.grids
    )
    n = reader.period_minutes
    if n == 60:
        batch = analyze_frames(symbol, _frames(cached), cached.hours, cfg, grids)
    else:
        prices = [cached.prices[h] for h in cached.hours]
        batch = analyze_periods(symbol, _frames(cached), cached.hours, prices, cfg, n, grids)
    summary = summarize(batch, start, end)
    summary.invalid_snapshots = cached.invalid
    summary.invalid_reasons = [_invalid_reason(reader, symbol, hour) for hour in cached.invalid]
    summary.hours_without_snapshot = (
        len(list(periods_between(start, end, n))) - len(cached.hours) - len(cached.invalid)
    )
    return RangeAnalysis(batch, summary, cached.collected_at, config_version, code_version)


def _invalid_reason(reader: SnapshotReader, symbol: str, hour: datetime) -> tuple[str, str]:
    """An invalid snapshot's file and its errors, as the snapshot checks name them."""
    _, problems = reader.check_arrays(symbol, hour)
    errors = errors_only(problems) or problems
    why = "; ".join(f"{p.field}: {p.message}" for p in errors[:3]) or "unreadable"
    if len(errors) > 3:
        why += f"; and {len(errors) - 3} more"
    return snapshot_relpath(symbol, hour, reader.period_minutes).as_posix(), why


def _frames(cached: CachedCandles) -> Frames:
    return Frames(cached.h1, cached.h4)


def summarize(batch: RegimeBatch, start: datetime, end: datetime) -> RangeSummary:
    final = batch.final
    names = [str(VERDICTS[c]) if c >= 0 else "REFUSED" for c in final.tolist() if c != MISSING]
    transitions: Counter[str] = Counter()
    for (t0, a), (t1, b) in pairwise(zip(batch.hours.tolist(), final.tolist(), strict=True)):
        if t1 - t0 == 60 * batch.period_minutes and a >= 0 and b >= 0 and a != b:
            transitions[f"{VERDICTS[a]}->{VERDICTS[b]}"] += 1
    confident = batch.confidence[np.isfinite(batch.confidence)]
    return RangeSummary(
        symbol=batch.symbol,
        start=start,
        end=end,
        hours_analysed=len(names),
        hours_refused=names.count("REFUSED"),
        verdicts=dict(Counter(names)),
        transitions=dict(transitions),
        mean_confidence=float(confident.mean()) if len(confident) else None,
    )


def analyze_stored_hour(
    reader: SnapshotReader,
    symbol: str,
    hour: datetime,
    cfg: RegimeSettings,
    *,
    config_version: str,
    code_version: str,
    grid: GridStatusRecord | Literal["snapshot"] | None = "snapshot",
) -> MetricsFile:
    """The live path: the stored snapshot of ``hour``, analysed from its own windows."""
    snapshot = reader.load_snapshot(symbol, hour)
    return analyze(
        snapshot,
        cfg,
        config_version=config_version,
        code_version=code_version,
        path=snapshot_relpath(symbol, snapshot.hour, snapshot.period_minutes).as_posix(),
        grid=grid,
    )


def write_records(
    root: Path, records: list[MetricsFile], *, overwrite: bool = False
) -> list[tuple[Path, str]]:
    """Write each metrics file (atomic, validated); returns (path, written|unchanged|kept)."""
    return [files.write(root, record, overwrite=overwrite) for record in records]
