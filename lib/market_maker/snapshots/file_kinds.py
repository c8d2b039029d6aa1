"""The snapshot files a run may leave uncommitted: an hour's (or a period's) JSON file, and a
month's pack left by an interrupted maintenance run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from market_maker.base.errors import DataError
from market_maker.snapshots.fast_read import read_snapshot
from market_maker.snapshots.io import check_file
from market_maker.snapshots.model import Snapshot
from market_maker.snapshots.packing import PACK_SUFFIX, hour_of_member, month_of_pack, read_pack
from market_maker.snapshots.paths import SNAPSHOTS_DIR, hour_from_path
from market_maker.snapshots.problems import Limits, Problem, errors_only
from market_maker.store.file_kinds import FileKind, under


def snapshot_kinds(limits: Limits) -> list[FileKind]:
    """Snapshot files and packs, checked against ``limits`` (the run's windows)."""

    def limits_for(name: str) -> Limits:
        # A file is checked against the period its name says (``HH.json``: an hour;
        # ``HH-MM.json``: the period it records), not the one configured now: files of an
        # earlier period stay valid.
        return replace(limits, period_minutes=None if "-" in name else 60)

    def snapshot(root: Path, relative: Path) -> None:
        hour = hour_from_path(relative)
        if hour is None or len(relative.parts) != 6:
            raise DataError(f"{relative}: not a snapshot path")
        snap, problems = check_file(
            root / relative, symbol=relative.parts[1], hour=hour, limits=limits_for(relative.name)
        )
        problems += _period_form(snap, relative.name)
        errors = errors_only(problems)
        if errors:
            raise DataError("; ".join(f"{p.field}: {p.message}" for p in errors[:3]))

    def pack(root: Path, relative: Path) -> None:
        month = month_of_pack(relative)
        if month is None or len(relative.parts) != 4:
            raise DataError(f"{relative}: not a snapshot pack path")
        for name, raw in read_pack(root / relative).items():
            hour = hour_of_member(*month, name)
            if hour is None:
                raise DataError(f"{relative}: member {name} is not an hour of the month")
            snap, problems = read_snapshot(
                raw, expected_symbol=relative.parts[1], expected_hour=hour, limits=limits_for(name)
            )
            problems += _period_form(snap.header if snap else None, name)
            errors = errors_only(problems)
            if errors:
                raise DataError(f"{relative}:{name}: {errors[0].field}: {errors[0].message}")

    return [
        FileKind("snapshot", under(SNAPSHOTS_DIR, ".json"), snapshot),
        FileKind("snapshot pack", under(SNAPSHOTS_DIR, PACK_SUFFIX), pack),
    ]


def _period_form(snap: Snapshot | None, name: str) -> list[Problem]:
    """A file named by a period start (``HH-MM.json``) must hold a period under an hour."""
    if snap is None or "-" not in name or snap.period_minutes < 60:
        return []
    return [Problem("period_minutes", f"{name} names a period start but the file holds an hour")]
