"""Every kind of file the system writes, gathered from the packages that own them.

The registry (:class:`~market_maker.store.file_kinds.FileKinds`) is what the next writer
checks an interrupted run's leftovers with (:meth:`GitDataStore.reconcile`): each file by
its own model and checks, as when it was written.
"""

from __future__ import annotations

from market_maker.alerts.digest import DIGEST_FILES
from market_maker.backtest.page import REPORT_FILES
from market_maker.context import RunContext
from market_maker.dashboard.page import DASHBOARD_PAGE
from market_maker.decisions.store import DECISION_FILES
from market_maker.exit_strategy.store import EXIT_STATE_FILES
from market_maker.grids.book import grid_files
from market_maker.kpis.model import KPI_FILES
from market_maker.regime.files import METRICS_FILES
from market_maker.snapshots.file_kinds import snapshot_kinds
from market_maker.snapshots.problems import Limits
from market_maker.store.file_kinds import FileKinds


def data_file_validator(limits: Limits, fee_rate: float) -> FileKinds:
    """The registry of every kind, with the snapshot windows and fee of the run."""
    return FileKinds(
        [
            *snapshot_kinds(limits),
            METRICS_FILES,
            EXIT_STATE_FILES,
            grid_files(fee_rate),
            *DECISION_FILES,
            KPI_FILES,
            DASHBOARD_PAGE,
            DIGEST_FILES,
            REPORT_FILES,
        ]
    )


def validator_for(ctx: RunContext) -> FileKinds:
    """The registry for a run: its snapshot windows and its fee."""
    return data_file_validator(ctx.limits, ctx.settings.grids.fee_rate)
