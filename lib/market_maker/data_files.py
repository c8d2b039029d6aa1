"""Validation of a file found uncommitted in the data repository, by what its path says it is.

The next writer runs it over everything an interrupted run left behind
(:meth:`GitDataStore.reconcile`): a file passes only with the checks it
would have passed when written.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from market_maker.base.errors import DataError
from market_maker.base.yaml_files import load_model
from market_maker.dashboard.page import check_dashboard_page
from market_maker.decisions.model import DecisionEntry
from market_maker.decisions.store import DecisionStore
from market_maker.exit_strategy.store import read_day_file
from market_maker.grids.book import load_grid_file
from market_maker.kpis.model import read_kpi_file
from market_maker.notifications.digest import read_digest
from market_maker.regime import files as metrics_files
from market_maker.snapshots.arrays import read_snapshot
from market_maker.snapshots.io import check_file
from market_maker.snapshots.model import Snapshot
from market_maker.snapshots.packing import PACK_SUFFIX, hour_of_member, month_of_pack, read_pack
from market_maker.snapshots.paths import hour_from_path
from market_maker.snapshots.validation import Limits, Problem, errors_only
from market_maker.store.git_store import Validator

ENTRY_SUFFIXES = ("-action.yaml", "-evaluation.yaml")


class DataFileValidator(Validator):
    """Every kind of file the system writes, each by its own model and checks."""

    def __init__(self, limits: Limits, fee_rate: float):
        self.limits = limits
        self.fee_rate = fee_rate

    def immutable(self, relative: Path) -> bool:
        return relative.parts[0] == "decisions"

    def __call__(self, root: Path, relative: Path) -> None:
        path = root / relative
        kind = relative.parts[0]
        if kind == "snapshots" and relative.suffix == ".json":
            self._snapshot(path, relative)
        elif kind == "snapshots" and relative.suffix == PACK_SUFFIX:
            self._pack(path, relative)
        elif kind == "metrics" and relative.suffix == ".yaml":
            metrics_files.read(path)
        elif kind == "exit_states" and relative.suffix == ".yaml":
            read_day_file(path)
        elif kind == "grids" and relative.suffix == ".yaml" and len(relative.parts) == 2:
            load_grid_file(path, fee_rate=self.fee_rate)
        elif kind == "decisions" and relative.name.endswith(ENTRY_SUFFIXES):
            entry = load_model(path.read_bytes(), DecisionEntry, str(path))
            DecisionStore(root).find(entry.decision_id)
        elif kind == "decisions" and relative.suffix == ".yaml":
            DecisionStore(root).read(path)
        elif kind == "kpis" and relative.suffix == ".yaml" and len(relative.parts) == 2:
            read_kpi_file(path)
        elif relative == Path("dashboard", "index.html"):
            check_dashboard_page(path, relative)
        elif kind == "digests" and relative.suffix == ".yaml" and len(relative.parts) == 2:
            read_digest(path)
        elif kind == "backtests":
            # Imported here: the backtest pulls in its simulator, which an hourly run never needs.
            from market_maker.backtest.page import check_report_files

            check_report_files(path, relative)
        else:
            raise DataError(f"{relative}: not a file market-maker writes")

    def _limits_for(self, name: str) -> Limits:
        """A file is checked against the period its name says (``HH.json``: an hour;
        ``HH-MM.json``: the period it records), not the one configured now: files of an
        earlier period stay valid."""
        return replace(self.limits, period_minutes=None if "-" in name else 60)

    def _pack(self, path: Path, relative: Path) -> None:
        """A month's pack (left by an interrupted maintenance run): every member checked."""
        month = month_of_pack(relative)
        if month is None or len(relative.parts) != 4:
            raise DataError(f"{relative}: not a snapshot pack path")
        for name, raw in read_pack(path).items():
            hour = hour_of_member(*month, name)
            if hour is None:
                raise DataError(f"{relative}: member {name} is not an hour of the month")
            snap, problems = read_snapshot(
                raw,
                expected_symbol=relative.parts[1],
                expected_hour=hour,
                limits=self._limits_for(name),
            )
            problems += _period_form(snap.header if snap else None, name)
            errors = errors_only(problems)
            if errors:
                raise DataError(f"{relative}:{name}: {errors[0].field}: {errors[0].message}")

    def _snapshot(self, path: Path, relative: Path) -> None:
        hour = hour_from_path(relative)
        if hour is None or len(relative.parts) != 6:
            raise DataError(f"{relative}: not a snapshot path")
        snap, problems = check_file(
            path, symbol=relative.parts[1], hour=hour, limits=self._limits_for(relative.name)
        )
        problems += _period_form(snap, relative.name)
        errors = errors_only(problems)
        if errors:
            raise DataError("; ".join(f"{p.field}: {p.message}" for p in errors[:3]))


def _period_form(snap: Snapshot | None, name: str) -> list[Problem]:
    """A file named by a period start (``HH-MM.json``) must hold a period under an hour."""
    if snap is None or "-" not in name or snap.period_minutes < 60:
        return []
    return [Problem("period_minutes", f"{name} names a period start but the file holds an hour")]
