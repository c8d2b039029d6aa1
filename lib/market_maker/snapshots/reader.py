"""Reading stored snapshots: single hours, ranges (cached within a process), validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from market_maker.errors import DataError
from market_maker.identifiers import inside, symbol_part
from market_maker.snapshots.io import InvalidSnapshotError, check_file
from market_maker.snapshots.model import Snapshot
from market_maker.snapshots.paths import SNAPSHOTS_DIR, hour_from_path, snapshot_relpath
from market_maker.snapshots.validation import (
    DEFAULT_LIMITS,
    Limits,
    Problem,
    errors_only,
    located,
    validate_sequence,
)
from market_maker.timeutil import floor_hour, format_utc, hours_between, utc


class SnapshotNotFoundError(DataError):
    """No snapshot is stored for the hour asked for."""


@dataclass
class ValidationReport:
    """Every problem found, per file; ``ok`` when none is an error."""

    symbol: str
    files_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return errors_only(self.problems)

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


class SnapshotReader:
    """Reads snapshots under a data repository's root.

    Parsed snapshots are cached per file (keyed by modification time and
    size), so repeated range loads in one process parse each file once.
    """

    def __init__(self, root: Path, limits: Limits = DEFAULT_LIMITS):
        self.root = root
        self.limits = limits
        self._cache: dict[Path, tuple[int, int, Snapshot | None, list[Problem]]] = {}

    def path_for(self, symbol: str, hour: datetime) -> Path:
        return inside(self.root, snapshot_relpath(symbol, hour))

    def check(self, symbol: str, hour: datetime) -> tuple[Snapshot | None, list[Problem]]:
        """The stored snapshot for an hour (None if absent or unreadable) and its problems."""
        path = self.path_for(symbol, hour)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None, []
        cached = self._cache.get(path)
        if cached and cached[:2] == (stat.st_mtime_ns, stat.st_size):
            return cached[2], cached[3]
        snap, problems = check_file(path, symbol=symbol, hour=utc(hour), limits=self.limits)
        self._cache[path] = (stat.st_mtime_ns, stat.st_size, snap, problems)
        return snap, problems

    def is_valid(self, symbol: str, hour: datetime) -> bool:
        snap, problems = self.check(symbol, hour)
        return snap is not None and not errors_only(problems)

    def load_snapshot(self, symbol: str, hour: datetime) -> Snapshot:
        """The snapshot for ``hour``; raises if it is missing or invalid."""
        hour = floor_hour(hour)
        path = self.path_for(symbol, hour)
        snap, problems = self.check(symbol, hour)
        if snap is None and not problems:
            raise SnapshotNotFoundError(f"no snapshot for {symbol} at {format_utc(hour)} ({path})")
        if snap is None or errors_only(problems):
            raise InvalidSnapshotError(path, errors_only(problems))
        return snap

    def load_range(self, symbol: str, start: datetime, end: datetime) -> list[Snapshot]:
        """Stored snapshots for every hour in [start, end] that has one, oldest first.

        Hours without a file are skipped (the caller sees the gap); an invalid
        file raises, naming its problems.
        """
        return [
            self.load_snapshot(symbol, hour)
            for hour in hours_between(start, end)
            if self.path_for(symbol, hour).exists()
        ]

    def stored_hours(self, symbol: str) -> list[datetime]:
        base = inside(self.root, Path(SNAPSHOTS_DIR, symbol_part(symbol)))
        hours = (hour_from_path(p.relative_to(self.root)) for p in base.glob("*/*/*/*.json"))
        return sorted(h for h in hours if h is not None)

    def validate(
        self, symbol: str, start: datetime | None = None, end: datetime | None = None
    ) -> ValidationReport:
        """Validate every file in the range (all stored hours by default) and how they join.

        Within an explicit range a missing hour is an error; without one, the
        range runs from the first stored hour to the last.
        """
        report = ValidationReport(symbol)
        stored = self.stored_hours(symbol)
        if start is None or end is None:
            if not stored:
                return report
            start, end = start or stored[0], end or stored[-1]
        good: list[Snapshot] = []
        for hour in hours_between(start, end):
            path = self.path_for(symbol, hour)
            if not path.exists():
                report.problems.append(
                    Problem("(file)", "no snapshot for this hour", file=str(path))
                )
                continue
            report.files_checked += 1
            snap, problems = self.check(symbol, hour)
            report.problems += problems
            if snap is not None and not errors_only(problems):
                good.append(snap)
        for snap, problem in validate_sequence(good):
            # Gaps are already reported as missing files above.
            if problem.field != "hour":
                report.problems += located([problem], self.path_for(symbol, snap.hour))
        return report
