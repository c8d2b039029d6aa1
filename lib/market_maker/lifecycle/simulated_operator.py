"""An operator who follows the system, for the demo: approves every CREATE_GRID and stops
the grid at the first exit decision at or above a state, a few minutes after each is issued.

It acts through the same records a human's commands write (decision actions, grid files),
so everything downstream (the next hour's evaluation, the KPIs) sees a real operator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from market_maker.base.timeutil import format_utc
from market_maker.decisions.model import Decision, SetupDecision
from market_maker.decisions.states import ExitState
from market_maker.decisions.store import DecisionStore
from market_maker.grids.book import GridBook, set_running
from market_maker.lifecycle.setup_evaluator import place_approved


@dataclass(frozen=True)
class OperatorAction:
    at: datetime
    decision_id: str
    what: str  # "approved" or "stopped"
    grid_id: str
    detail: str


@dataclass
class SimulatedOperator:
    root: Path
    fee_rate: float
    delay: timedelta = timedelta(minutes=10)
    stop_at: ExitState = ExitState.MANDATORY_EXIT
    actions: list[OperatorAction] = field(default_factory=list)

    def act(self, decision: Decision | SetupDecision | None) -> list[Path]:
        """Act on the hour's decision if it calls for it; the files written."""
        if isinstance(decision, SetupDecision) and decision.recommendation == "CREATE_GRID":
            return self._approve(decision)
        if isinstance(decision, Decision) and decision.promotion is not None:
            return self._approve(decision)
        if (
            isinstance(decision, Decision)
            and decision.recommendation == "STOP_GRID"
            and decision.exit_state.rank >= self.stop_at.rank
        ):
            return self._stop(decision)
        return []

    def _approve(self, decision: Decision | SetupDecision) -> list[Path]:
        at = decision.issued_at + self.delay
        store = DecisionStore(self.root)
        if store.entries(decision.id, "action"):  # a rerun: done already
            return []
        if isinstance(decision, Decision):  # a promotion: only of the grid still running
            old = GridBook.load(self.root, fee_rate=self.fee_rate).grids.get(decision.grid.grid_id)
            if old is None or not old.running_at(at):
                return []
        placed, grid_id = place_approved(self.root, decision, at, self.fee_rate)
        action, _ = store.act(decision.id, "executed", at, source="demo operator", grid_id=grid_id)
        g = decision.grid if isinstance(decision, SetupDecision) else decision.promotion
        assert g is not None and grid_id is not None
        what = (
            f"{decision.mode} grid" if isinstance(decision, SetupDecision) else "promoted to full"
        )
        self.actions.append(
            OperatorAction(
                at,
                decision.id,
                "approved",
                grid_id,
                f"{what} {g.lower_price:,.2f}-{g.upper_price:,.2f} x{g.levels}",
            )
        )
        return [action, *placed]

    def _stop(self, decision: Decision) -> list[Path]:
        at = decision.issued_at + self.delay
        store = DecisionStore(self.root)
        grid = GridBook.load(self.root, fee_rate=self.fee_rate).grids.get(decision.grid.grid_id)
        if store.entries(decision.id, "action") or grid is None or not grid.running_at(at):
            return []  # a rerun, or the hour the grid was stopped in: nothing left to stop
        reason = f"STOP_GRID after {decision.exit_state} ({decision.id})"
        path = set_running(
            self.root,
            decision.grid.grid_id,
            enabled=False,
            at=at,
            reason=reason,
            fee_rate=self.fee_rate,
        )
        action, _ = store.act(
            decision.id, "executed", at, source="demo operator", grid_id=decision.grid.grid_id
        )
        self.actions.append(
            OperatorAction(
                at, decision.id, "stopped", decision.grid.grid_id, f"at {format_utc(at)}: {reason}"
            )
        )
        return [path, action]
