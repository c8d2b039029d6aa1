"""Keeping the data repository in shape: packing old months, derived data checked, sizes.

Every function here runs with the repository's lock held (the maintenance flow takes it).
Packing never loses a snapshot: the pack is written to a temporary file, read back and
compared with the loose files byte for byte, renamed into place, and the loose files are
removed in the very commit that adds it; until that commit the loose files stay in Git's
last commit, and the next writer restores any that an interrupted run had removed.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from market_maker.base.atomic import write_atomic
from market_maker.base.errors import DataError
from market_maker.base.identifiers import inside, symbol_part, valid_symbol
from market_maker.regime.index import RegimeIndex
from market_maker.snapshots.columnar import CandleCache
from market_maker.snapshots.fast_read import read_snapshot
from market_maker.snapshots.packing import (
    PACK_SUFFIX,
    build_pack,
    hour_of_member,
    month_of_pack,
    pack_relpath,
    read_pack,
)
from market_maker.snapshots.paths import SNAPSHOTS_DIR, hour_from_path
from market_maker.snapshots.problems import Problem, errors_only
from market_maker.snapshots.reader import SnapshotReader
from market_maker.store.git_store import GitDataStore

Month = tuple[int, int]


# -- what is stored -----------------------------------------------------------


def stored_symbols(root: Path) -> list[str]:
    base = root / SNAPSHOTS_DIR
    return sorted(p.name for p in base.glob("*") if p.is_dir() and valid_symbol(p.name))


def stored_months(root: Path, symbol: str) -> list[Month]:
    """Months with a snapshot of ``symbol``, loose or packed."""
    base = inside(root, Path(SNAPSHOTS_DIR, symbol_part(symbol)))
    months = {(int(p.parent.name), int(p.name)) for p in base.glob("*/*") if p.is_dir()}
    months |= {m for p in base.glob(f"*/*{PACK_SUFFIX}") if (m := month_of_pack(p)) is not None}
    return sorted(m for m in months if 1 <= m[1] <= 12)


def _loose_files(root: Path, symbol: str, month: Month) -> dict[str, Path]:
    """The month's loose snapshot files by member name (``DD/HH.json``, ``DD/HH-MM.json``
    under an hour: the member keeps the file's name, whatever the period)."""
    folder = inside(
        root, Path(SNAPSHOTS_DIR, symbol_part(symbol), f"{month[0]:04d}", f"{month[1]:02d}")
    )
    files = {}
    for path in sorted(folder.glob("*/*.json")):
        if hour_from_path(path.relative_to(root)) is not None:
            files[f"{path.parent.name}/{path.name}"] = path
    return files


class MonthSize(BaseModel):
    symbol: str
    month: str  # YYYY-MM
    loose_files: int
    loose_bytes: int
    packed_hours: int
    pack_bytes: int

    @property
    def bytes(self) -> int:
        return self.loose_bytes + self.pack_bytes


def month_sizes(root: Path, symbol: str) -> list[MonthSize]:
    """What each month of ``symbol`` takes in the working copy, loose and packed."""
    out = []
    for month in stored_months(root, symbol):
        loose = _loose_files(root, symbol, month)
        pack = inside(root, pack_relpath(symbol, *month))
        members = len(read_pack(pack)) if pack.exists() else 0
        out.append(
            MonthSize(
                symbol=symbol,
                month=f"{month[0]:04d}-{month[1]:02d}",
                loose_files=len(loose),
                loose_bytes=sum(p.stat().st_size for p in loose.values()),
                packed_hours=members,
                pack_bytes=pack.stat().st_size if pack.exists() else 0,
            )
        )
    return out


# -- packing ------------------------------------------------------------------


class PackOutcome(BaseModel):
    symbol: str
    month: str
    status: str  # packed, unpacked, refused
    hours: int = 0
    loose_bytes: int = 0
    pack_bytes: int = 0
    commit: str | None = None
    detail: str = ""


def months_to_pack(root: Path, symbol: str, after_months: int, now: datetime) -> list[Month]:
    """Months with loose files that ended at least ``after_months`` whole months before now."""
    now = now.astimezone(UTC)
    current = now.year * 12 + now.month - 1
    return [
        m
        for m in stored_months(root, symbol)
        if current - (m[0] * 12 + m[1] - 1) > after_months and _loose_files(root, symbol, m)
    ]


def pack_month(
    store: GitDataStore,
    reader: SnapshotReader,
    symbol: str,
    month: Month,
    sign: Callable[[str], str] = str,
) -> PackOutcome:
    """Pack the month's loose files (with any pack already there) into one file, one commit.

    Refused, with nothing changed, when a file is invalid or a file and the pack's copy of
    the same hour differ.
    """
    label = f"{month[0]:04d}-{month[1]:02d}"
    root = store.path
    loose = _loose_files(root, symbol, month)
    if not loose:
        return PackOutcome(symbol=symbol, month=label, status="unchanged", detail="no loose file")
    pack = inside(root, pack_relpath(symbol, *month))
    members = read_pack(pack) if pack.exists() else {}
    contents: dict[str, bytes] = {}
    for name, path in loose.items():
        problems = _check_loose(reader, symbol, month, name, path)
        if errors_only(problems):
            return _refused(symbol, label, f"{path.relative_to(root)}: {errors_only(problems)[0]}")
        contents[name] = path.read_bytes()
        if name in members and members[name] != contents[name]:
            return _refused(
                symbol, label, f"{path.relative_to(root)} differs from its copy in {pack.name}"
            )
    packed = {**members, **contents}
    data = build_pack(packed)

    def same_bytes(tmp: Path) -> None:
        if read_pack(tmp) != packed:
            raise DataError(f"{pack}: the pack read back differs from the files packed")

    with store.transaction():
        write_atomic(pack, data, same_bytes)
        for path in loose.values():
            path.unlink()
        _remove_empty_folders(pack.with_suffix(""))
        sha = store.commit(
            sign(
                f"maintenance: pack {symbol} {label}\n\n{len(loose)} snapshot file(s) into "
                f"{pack.relative_to(root)} ({len(packed)} hours, {len(data)} bytes)\n"
            ),
            [pack, *loose.values()],
        )
    return PackOutcome(
        symbol=symbol,
        month=label,
        status="packed",
        hours=len(packed),
        loose_bytes=sum(len(b) for b in contents.values()),
        pack_bytes=len(data),
        commit=sha,
    )


def unpack_month(
    store: GitDataStore, symbol: str, month: Month, sign: Callable[[str], str] = str
) -> PackOutcome:
    """Write a packed month back as loose files, byte for byte, and drop the pack; one commit.

    An hour that also has a loose file keeps that file (the reader reads it already)."""
    label = f"{month[0]:04d}-{month[1]:02d}"
    root = store.path
    pack = inside(root, pack_relpath(symbol, *month))
    if not pack.exists():
        return PackOutcome(symbol=symbol, month=label, status="unchanged", detail="no pack")
    members = read_pack(pack)
    loose = _loose_files(root, symbol, month)
    written = []
    with store.transaction():
        for name, raw in sorted(members.items()):
            if name in loose:
                continue
            if hour_of_member(*month, name) is None:
                raise DataError(f"{pack}: member {name} is not a snapshot of the month")
            # The member's name is the file's (DD/HH.json or DD/HH-MM.json).
            path = inside(
                root,
                Path(
                    SNAPSHOTS_DIR, symbol_part(symbol), f"{month[0]:04d}", f"{month[1]:02d}", name
                ),
            )
            write_atomic(path, raw, _same(raw))
            written.append(path)
        pack.unlink()
        sha = store.commit(
            sign(
                f"maintenance: unpack {symbol} {label}\n\n{pack.relative_to(root)} back into "
                f"{len(written)} snapshot file(s)\n"
            ),
            [pack, *written],
        )
    return PackOutcome(
        symbol=symbol,
        month=label,
        status="unpacked",
        hours=len(members),
        loose_bytes=sum(len(members[n]) for n in members if n not in loose),
        pack_bytes=0,
        commit=sha,
    )


def _check_loose(
    reader: SnapshotReader, symbol: str, month: Month, name: str, path: Path
) -> list[Problem]:
    """A loose file's problems: through the reader for the reader's own period (cached),
    else on its own against the start and period its name says (a file left from an
    earlier collection period is packed as it is, checked all the same)."""
    hour = hour_of_member(*month, name, reader.period_minutes)
    if hour is not None:
        return reader.check_arrays(symbol, hour)[1]
    start = hour_of_member(*month, name)
    assert start is not None
    limits = replace(reader.limits, period_minutes=None)
    _, problems = read_snapshot(
        path.read_bytes(), expected_symbol=symbol, expected_hour=start, limits=limits
    )
    return problems


def _same(raw: bytes):
    def check(tmp: Path) -> None:
        if tmp.read_bytes() != raw:
            raise DataError(f"{tmp}: written bytes differ")

    return check


def _refused(symbol: str, label: str, why: str) -> PackOutcome:
    return PackOutcome(symbol=symbol, month=label, status="refused", detail=why)


def _remove_empty_folders(folder: Path) -> None:
    """The month's day folders, once their files are packed (Git tracks no folders)."""
    if not folder.is_dir():
        return
    for day in sorted(folder.iterdir()):
        if day.is_dir() and not any(day.iterdir()):
            day.rmdir()
    if not any(folder.iterdir()):
        folder.rmdir()


# -- derived data -------------------------------------------------------------


class DerivedCheck(BaseModel):
    """A derived store rebuilt from the files, and what the old copy got wrong."""

    name: str
    items: int  # months (candle cache) or rows (regime index) rebuilt
    differed: int  # of those, how many the old copy had otherwise (stale or missing)
    detail: str = ""


def rebuild_candle_cache(reader: SnapshotReader, cache_dir: Path, symbol: str) -> DerivedCheck:
    """Rebuild every month of the columnar cache from the files; count the months the cache
    had otherwise (missing, stale or damaged)."""
    cache = CandleCache(reader, cache_dir)
    months = stored_months(reader.root, symbol)
    differed = sum(not cache.rebuild(symbol, year, month) for year, month in months)
    return DerivedCheck(name=f"candle cache {symbol}", items=len(months), differed=differed)


def rebuild_regime_index(index_path: Path, data_root: Path) -> DerivedCheck:
    """Build the regime index afresh from the metrics files, compare it with the one in use,
    and put the fresh one in its place."""
    fresh_path = index_path.with_name(f".{index_path.name}.rebuild")
    fresh_path.unlink(missing_ok=True)
    stats = RegimeIndex(fresh_path, data_root).refresh()
    fresh = _index_rows(fresh_path)
    old = _index_rows(index_path) if index_path.exists() else set()
    os.replace(fresh_path, index_path)
    detail = f"{stats.skipped} damaged metrics file(s) left out" if stats.skipped else ""
    return DerivedCheck(
        name="regime index", items=len(fresh), differed=len(fresh ^ old), detail=detail
    )


def _index_rows(path: Path) -> set[tuple]:
    with closing(sqlite3.connect(path)) as db:
        try:
            return set(db.execute("SELECT * FROM hours"))
        except sqlite3.DatabaseError:
            return set()


__all__ = [
    "DerivedCheck",
    "MaintenanceReport",
    "MonthSize",
    "PackOutcome",
    "month_sizes",
    "months_to_pack",
    "pack_month",
    "rebuild_candle_cache",
    "rebuild_regime_index",
    "stored_months",
    "stored_symbols",
    "unpack_month",
]


# -- the report ---------------------------------------------------------------


class MaintenanceReport(BaseModel):
    """What a maintenance run found and did; rendered for the run's artifact and the CLI."""

    fsck_problems: list[str] = []
    git_bytes_before_gc: int = 0
    git_bytes_after_gc: int = 0
    gc_ran: bool = False
    pack_after_months: int | None = None
    packs: list[PackOutcome] = []
    derived: list[DerivedCheck] = []
    sizes: list[MonthSize] = []
    commits: list[str] = []
    pushed: bool = False

    @property
    def ok(self) -> bool:
        return not self.fsck_problems and not any(p.status == "refused" for p in self.packs)

    def failures(self) -> list[str]:
        out = [f"git fsck: {line}" for line in self.fsck_problems]
        out += [
            f"pack {p.symbol} {p.month} refused: {p.detail}"
            for p in self.packs
            if p.status == "refused"
        ]
        return out

    def lines(self) -> list[str]:
        """For the console."""
        out = [
            "git fsck: "
            + ("no problem" if not self.fsck_problems else f"{len(self.fsck_problems)} problem(s)"),
            *(f"  {line}" for line in self.fsck_problems),
        ]
        if self.gc_ran:
            out.append(
                f"git gc: history {_size(self.git_bytes_before_gc)} -> "
                f"{_size(self.git_bytes_after_gc)}"
            )
        policy = (
            "keep every snapshot as its own file"
            if self.pack_after_months is None
            else f"pack months that ended more than {self.pack_after_months} month(s) ago"
        )
        out.append(f"retention: {policy}")
        out += [
            f"  {p.status} {p.symbol} {p.month}: {p.hours} hours"
            + (f", {_size(p.loose_bytes)} -> {_size(p.pack_bytes)}" if p.status == "packed" else "")
            + (f" ({p.detail})" if p.detail else "")
            for p in self.packs
        ]
        out += [
            f"{d.name}: {d.items} rebuilt from the files, {d.differed} differed"
            + (f" ({d.detail})" if d.detail else "")
            for d in self.derived
        ]
        out.append("size per symbol and month (working copy):")
        out += [
            f"  {row.symbol} {row.month}: {row.loose_files} file(s) {_size(row.loose_bytes)}, "
            f"{row.packed_hours} packed hour(s) {_size(row.pack_bytes)}, growth {growth}"
            for row, growth in self._growth()
        ]
        return out

    def markdown(self) -> str:
        """For the run's artifact in the Prefect UI."""
        lines = ["# Data repository maintenance", ""]
        if self.fsck_problems:
            lines += [f"**git fsck found {len(self.fsck_problems)} problem(s):**", ""]
            lines += [f"- `{line}`" for line in self.fsck_problems[:100]]
        else:
            lines.append("git fsck: no problem.")
        if self.gc_ran:
            lines += [
                "",
                f"git gc: history {_size(self.git_bytes_before_gc)} before, "
                f"{_size(self.git_bytes_after_gc)} after.",
            ]
        lines += ["", "## Retention", ""]
        if self.pack_after_months is None:
            lines.append("Policy: keep every snapshot as its own file.")
        else:
            lines.append(
                f"Policy: pack each month that ended more than {self.pack_after_months} "
                "month(s) ago into one file per symbol and month."
            )
        if self.packs:
            lines += ["", "| symbol | month | outcome | hours | before | after | commit | detail |"]
            lines.append("|---|---|---|---|---|---|---|---|")
            lines += [
                f"| {p.symbol} | {p.month} | {p.status} | {p.hours} | {_size(p.loose_bytes)} | "
                f"{_size(p.pack_bytes)} | {(p.commit or '')[:10]} | {p.detail} |"
                for p in self.packs
            ]
        lines += ["", "## Derived data rebuilt from the files", ""]
        lines += ["| store | rebuilt | differed before | detail |", "|---|---|---|---|"]
        lines += [f"| {d.name} | {d.items} | {d.differed} | {d.detail} |" for d in self.derived]
        lines += ["", "## Size and growth per symbol and month", ""]
        lines += [
            "| symbol | month | loose files | loose | packed hours | pack | total | growth |",
            "|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r.symbol} | {r.month} | {r.loose_files} | {_size(r.loose_bytes)} | "
            f"{r.packed_hours} | {_size(r.pack_bytes)} | {_size(r.bytes)} | {growth} |"
            for r, growth in self._growth()
        ]
        return "\n".join(lines)

    def _growth(self) -> list[tuple[MonthSize, str]]:
        """Each month's size against the symbol's month before (what the month added)."""
        out = []
        previous: dict[str, int] = {}
        for row in self.sizes:
            before = previous.get(row.symbol)
            change = (
                "" if before is None else f"{(row.bytes - before) / before:+.0%}" if before else ""
            )
            out.append(
                (
                    row,
                    f"{_size(row.bytes)}" + (f" ({change} on the month before)" if change else ""),
                )
            )
            previous[row.symbol] = row.bytes
        return out


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"
