"""Reading stored snapshots, loose or packed: single hours, ranges (cached), validation.

"Hour" here is the start of a collection period (``Limits.period_minutes``, an hour by
default): the reader reads the files of its period only (``HH.json`` at 60 minutes,
``HH-MM.json`` below).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from stat import S_ISLNK

from market_maker.base.errors import DataError
from market_maker.base.identifiers import inside, symbol_part
from market_maker.base.timeutil import floor_period, format_utc, periods_between, utc
from market_maker.snapshots.arrays import SnapshotArrays
from market_maker.snapshots.fast_read import LineMemo, read_snapshot
from market_maker.snapshots.io import InvalidSnapshotError
from market_maker.snapshots.model import Snapshot
from market_maker.snapshots.packing import (
    PACK_SUFFIX,
    OpenPack,
    hour_of_member,
    member_name,
    month_of_pack,
    pack_relpath,
)
from market_maker.snapshots.paths import SNAPSHOTS_DIR, hour_from_path, snapshot_relpath
from market_maker.snapshots.problems import DEFAULT_LIMITS, Limits, Problem, errors_only, located
from market_maker.snapshots.rules import validate_sequence
from market_maker.snapshots.validation import parse_snapshot, validate_snapshot


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
    """Reads snapshots under a data repository's root, loose or packed by month.

    Parsed snapshots are cached per file (keyed by modification time and
    size), so repeated range loads in one process parse each file once.
    """

    def __init__(self, root: Path, limits: Limits = DEFAULT_LIMITS):
        self.root = root
        self.limits = limits
        self._cache: dict[str, tuple[tuple[int, int], Snapshot | None, list[Problem]]] = {}
        self._arrays: dict[str, tuple[tuple[int, int], SnapshotArrays | None, list[Problem]]] = {}
        self._packs: dict[Path, OpenPack] = {}
        self._folders: dict[Path, Path] = {}
        self._memos: dict[str, LineMemo] = {}

    @property
    def period_minutes(self) -> int:
        """The collection period read (an hour unless the limits say otherwise)."""
        return self.limits.period_minutes or 60

    def path_for(self, symbol: str, hour: datetime) -> Path:
        """Where the hour's loose file is (or would be)."""
        return self._inside(snapshot_relpath(symbol, hour, self.period_minutes))

    def _inside(self, relative: Path) -> Path:
        """As :func:`inside`, faster for the thousands of files of a range: each folder is
        resolved once; a file that is itself a link is checked when it is read."""
        folder = relative.parent
        known = self._folders.get(folder)
        if known is None:
            known = self._folders[folder] = inside(self.root, folder)
        return known / relative.name

    def pack_for(self, symbol: str, hour: datetime) -> Path:
        """The pack that would hold the hour once its month is packed."""
        hour = utc(hour)
        return self._inside(pack_relpath(symbol, hour.year, hour.month))

    def location(self, symbol: str, hour: datetime) -> str:
        """The file an hour is read from, as problems name it: a loose path or pack:member."""
        path = self.path_for(symbol, hour)
        if path.exists():
            return str(path)
        pack = self._pack(self.pack_for(symbol, hour))
        name = member_name(hour, self.period_minutes)
        if pack is not None and name in pack.members:
            return f"{pack.path}:{name}"
        return str(path)

    def exists(self, symbol: str, hour: datetime) -> bool:
        return self._source(symbol, hour) is not None

    def raw(self, symbol: str, hour: datetime) -> bytes | None:
        """The stored bytes of an hour's snapshot, loose or packed; None when there is none."""
        source = self._source(symbol, hour)
        return None if source is None else source[2]()

    def _source(self, symbol: str, hour: datetime):
        """(where, fingerprint, read) of the hour's file: a loose file wins over a pack."""
        path = self.path_for(symbol, hour)
        try:
            stat = os.lstat(path)
            if S_ISLNK(stat.st_mode):
                path = inside(self.root, path.relative_to(self.root))  # refused if it leaves
                stat = path.stat()
            return str(path), (stat.st_mtime_ns, stat.st_size), path.read_bytes
        except FileNotFoundError:
            pass
        pack = self._pack(self.pack_for(symbol, hour))
        name = member_name(hour, self.period_minutes)
        if pack is None or name not in pack.members:
            return None
        info = pack.members[name]
        return (
            f"{pack.path}:{name}",
            (pack.mtime_ns, info.CRC),
            lambda: pack.read(name),
        )

    def _pack(self, path: Path) -> OpenPack | None:
        try:
            stat = path.stat()
        except FileNotFoundError:
            self._packs.pop(path, None)
            return None
        known = self._packs.get(path)
        if known is not None and (known.mtime_ns, known.size) == (stat.st_mtime_ns, stat.st_size):
            return known
        if known is not None:
            known.close()
        self._packs[path] = OpenPack.open(path)
        return self._packs[path]

    def check(self, symbol: str, hour: datetime) -> tuple[Snapshot | None, list[Problem]]:
        """The stored snapshot for an hour (None if absent or unreadable) and its problems."""
        source = self._source(symbol, hour)
        if source is None:
            return None, []
        where, fingerprint, read = source
        cached = self._cache.get(where)
        if cached and cached[0] == fingerprint:
            return cached[1], cached[2]
        snap, problems = check_bytes(
            _read(where, read), symbol=symbol, hour=utc(hour), limits=self.limits
        )
        problems = located(problems, where)
        self._cache[where] = (fingerprint, snap, problems)
        return snap, problems

    def check_arrays(
        self, symbol: str, hour: datetime
    ) -> tuple[SnapshotArrays | None, list[Problem]]:
        """As :meth:`check`, the candles as arrays: the fast path for ranges of hours."""
        source = self._source(symbol, hour)
        if source is None:
            return None, []
        where, fingerprint, read = source
        cached = self._arrays.get(where)
        if cached and cached[0] == fingerprint:
            return cached[1], cached[2]
        raw = _read(where, read)
        if isinstance(raw, list):
            snap, problems = None, raw
        else:
            memo = self._memos.setdefault(symbol, LineMemo())
            snap, problems = read_snapshot(
                raw, expected_symbol=symbol, expected_hour=utc(hour), limits=self.limits, memo=memo
            )
        problems = located(problems, where)
        self._arrays[where] = (fingerprint, snap, problems)
        return snap, problems

    def is_valid(self, symbol: str, hour: datetime) -> bool:
        snap, problems = self.check_arrays(symbol, hour)
        return snap is not None and not errors_only(problems)

    def load_snapshot(self, symbol: str, hour: datetime) -> Snapshot:
        """The snapshot for ``hour``; raises if it is missing or invalid."""
        hour = floor_period(hour, self.period_minutes)
        snap, problems = self.check(symbol, hour)
        if snap is None and not problems:
            path = self.path_for(symbol, hour)
            raise SnapshotNotFoundError(f"no snapshot for {symbol} at {format_utc(hour)} ({path})")
        if snap is None or errors_only(problems):
            raise InvalidSnapshotError(self.location(symbol, hour), errors_only(problems))
        return snap

    def load_range(self, symbol: str, start: datetime, end: datetime) -> list[Snapshot]:
        """Stored snapshots for every hour in [start, end] that has one, oldest first.

        Hours without a file are skipped (the caller sees the gap); an invalid
        file raises, naming its problems.
        """
        return [
            self.load_snapshot(symbol, hour)
            for hour in periods_between(start, end, self.period_minutes)
            if self.exists(symbol, hour)
        ]

    def stored_hours(self, symbol: str) -> list[datetime]:
        """Every hour (period start) with a snapshot of the reader's period, loose or packed."""
        base = inside(self.root, Path(SNAPSHOTS_DIR, symbol_part(symbol)))
        period = self.period_minutes
        hours = {
            hour_from_path(p.relative_to(self.root), period) for p in base.glob("*/*/*/*.json")
        }
        for path in base.glob(f"*/*{PACK_SUFFIX}"):
            month = month_of_pack(path.relative_to(self.root))
            pack = self._pack(path) if month else None
            if pack is not None and month is not None:
                hours |= {hour_of_member(*month, name, period) for name in pack.members}
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
        good: list[SnapshotArrays] = []
        for hour in periods_between(start, end, self.period_minutes):
            if not self.exists(symbol, hour):
                report.problems.append(
                    Problem(
                        "(file)", "no snapshot for this hour", file=str(self.path_for(symbol, hour))
                    )
                )
                continue
            report.files_checked += 1
            snap, problems = self.check_arrays(symbol, hour)
            report.problems += problems
            if snap is not None and not errors_only(problems):
                good.append(snap)
        for snap, problem in validate_sequence(good):
            # Gaps are already reported as missing files above.
            if problem.field != "hour":
                report.problems += located([problem], self.location(symbol, snap.hour))
        return report


def _read(where: str, read) -> bytes | list[Problem]:
    try:
        return read()
    except (OSError, DataError) as exc:
        return [Problem("(file)", f"unreadable: {exc}")]


def check_bytes(raw, *, symbol: str, hour: datetime, limits: Limits):
    """Parse and validate a file's bytes with the model (problems not yet located)."""
    if isinstance(raw, list):
        return None, raw
    snap, problems = parse_snapshot(raw)
    if snap is not None:
        problems = validate_snapshot(
            snap, expected_symbol=symbol, expected_hour=hour, limits=limits
        )
    return snap, problems
