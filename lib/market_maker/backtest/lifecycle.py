"""The live grid lifecycle replayed hour by hour: the setup evaluation and its grid, the
operator's approval, probation and promotion, the exit engine, the operator's stop, the
cooldowns and the restart gates.

Every decision is the live one, reading the hour through the same view as its metrics file
(:class:`~market_maker.regime.model.AnalysedHour`): the restart gates
(:func:`~market_maker.lifecycle.restart_gates.step`), the setup evaluation and its grid
(:func:`~market_maker.lifecycle.setup.evaluate_setup`), the promotion rule
(:func:`~market_maker.lifecycle.setup.promotion_of`) and the exit engine
(:func:`~market_maker.exit_strategy.engine.evaluate`). Only the storage differs: the grid
book, the exit history and the gates live in memory instead of the data repository, and the
operator is simulated, as the demo's: it approves every CREATE_GRID and promotion, and stops
the grid at the first recommendation at or above ``act_on``, ``delay`` after each decision
is issued (when its hour closes).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from market_maker.backtest.feed import Feed
from market_maker.base.timeutil import HOUR, from_seconds
from market_maker.config import Settings
from market_maker.decisions.model import ProposedGrid, decision_id
from market_maker.decisions.states import RECOMMENDATION, ExitState
from market_maker.exit_strategy.engine import Evaluation, evaluate
from market_maker.grids.book import GridBook
from market_maker.grids.model import GridConfig, HistoryEntry
from market_maker.lifecycle.restart_gates import inputs_of, step
from market_maker.lifecycle.setup import Context, evaluate_setup, promotion_of, setup_context
from market_maker.lifecycle.setup_evaluator import LOOKBACK_HOURS, approved_grid
from market_maker.regime.analysis import BatchHour
from market_maker.regime.gate_records import GateEvaluation
from market_maker.regime.model import Verdict

# The exit rules read a grid's recent evaluations; none looks further back than this.
PRIOR_KEPT = 240


@dataclass(frozen=True)
class Operator:
    """How the simulated operator follows the advice."""

    delay: timedelta = timedelta(minutes=10)
    act_on: ExitState = ExitState.LATEST_ACCEPTABLE_EXIT


@dataclass(frozen=True)
class ReplayedDecision:
    """An hour's decision as the replay issued it: what the live record says, in brief."""

    id: str
    hour: datetime
    kind: Literal["GRID_SETUP", "GRID_MANAGE"]
    recommendation: str
    mode: str | None = None  # a CREATE_GRID's
    grid: ProposedGrid | None = None  # a CREATE_GRID's proposal
    grid_id: str | None = None  # the grid a GRID_MANAGE decision is about
    exit_state: ExitState | None = None
    promotion: ProposedGrid | None = None
    reasons: tuple[str, ...] = ()
    expires_at: datetime | None = None


@dataclass
class GridLife:
    """A grid the operator placed on the system's advice, and how its life ended."""

    grid: GridConfig  # as placed
    placed_at: datetime
    decision: str  # the CREATE_GRID or promotion it was placed on
    evaluations: list[Evaluation] = field(default_factory=list)
    ended_at: datetime | None = None  # stopped, or replaced by its promotion
    end_reason: str = ""
    acted_hour: datetime | None = None  # the evaluated hour whose recommendation ended it

    @property
    def promoted(self) -> bool:
        return self.end_reason.startswith("promoted")


@dataclass
class Lifecycle:
    """What the replay did: every grid's life and every hour's decision."""

    lives: list[GridLife]
    decisions: list[ReplayedDecision]
    gates: dict[datetime, GateEvaluation]  # after a stop, each hour's restart gates


class LifecycleReplay:
    """Steps the hours of ``feed`` through the lifecycle; ``balance``: the quote balance the
    capital is computed from, and its source (as the live evaluator reports it)."""

    def __init__(
        self, feed: Feed, settings: Settings, operator: Operator, balance: tuple[float, str]
    ):
        self.feed = feed
        self.settings = settings
        self.operator = operator
        self.balance = balance
        self.book = GridBook(Path("."), {}, {})
        self.lives: dict[str, GridLife] = {}
        self.decisions: list[ReplayedDecision] = []
        self.gates: dict[datetime, GateEvaluation] = {}
        self._prior: dict[str, list[Evaluation]] = {}
        self._last_gates: GateEvaluation | None = None
        self._streak = 0  # RANGE_OK hours in a row, up to the hour just analysed
        self._expired: list[tuple[datetime, datetime]] = []  # (issued, expired) setups

    def run(self) -> Lifecycle:
        feed = self.feed
        first = feed.index(feed.start)
        for i in range(first, len(feed.hours)):
            self._hour(i)
        return Lifecycle(list(self.lives.values()), self.decisions, self.gates)

    def _hour(self, i: int) -> None:
        feed, symbol = self.feed, self.feed.symbol
        hour = from_seconds(int(feed.hours[i]))
        previous = feed.previous(i)
        view = feed.view(i)
        view = replace(view, gate_evaluation=self._gates(hour, view, previous))
        ranging = view.verdict == Verdict.RANGE_OK
        self._streak = (self._streak if previous is not None else 0) + 1 if ranging else 0
        running = self.book.running(symbol, hour)
        decision = None
        if running is not None:
            decision = self._manage(i, view, running)
        if running is None and self.book.running(symbol, hour + HOUR) is None:
            decision = self._setup(view)
        if decision is not None:
            self.decisions.append(decision)
            self._act(decision)

    def _gates(
        self, hour: datetime, view: BatchHour, previous: BatchHour | None
    ) -> GateEvaluation | None:
        """The restart gates after the symbol's last stop, as the analyse step attaches them
        (a missing hour before starts them again)."""
        stop = self.book.last_stop(self.feed.symbol, hour)
        if stop is None:
            self._last_gates = None
            return None
        before = self._last_gates if previous is not None else None
        gates = step(before, stop, inputs_of(view, previous), self.settings.lifecycle.gates)
        self._last_gates = self.gates[hour] = gates
        return gates

    def _context(self, view: BatchHour) -> Context:
        at = view.hour + HOUR
        return setup_context(
            view,
            self.book,
            period=HOUR,
            fee_rate=self.settings.grids.fee_rate,
            balance=self.balance,
            closed=self._closed(at),
        )

    def _closed(self, at: datetime) -> tuple[datetime | None, str | None]:
        """The latest setup left to expire before ``at`` (issued within the lookback)."""
        since = at - timedelta(hours=LOOKBACK_HOURS)
        expired = [e for issued, e in self._expired if since <= issued < at and e <= at]
        return (max(expired), "left to expire") if expired else (None, None)

    def _manage(self, i: int, view: BatchHour, grid: GridConfig) -> ReplayedDecision:
        """The exit evaluation of the running grid, with its promotion when one is due."""
        cfg = self.settings
        promotion = None
        if grid.mode == "probationary":  # the only grids a promotion replaces
            promotion = promotion_of(
                view,
                grid,
                self._context(view),
                ranging_hours=self._streak * HOUR,
                period=HOUR,
                cfg=cfg.lifecycle,
            )
        prior = self._prior.setdefault(grid.id, [])
        before = prior[0].state if prior else ExitState.NORMAL
        e = evaluate(self.feed.observation(i, grid), before, prior, cfg.exit_strategy)
        self.lives[grid.id].evaluations.append(e)
        self._prior[grid.id] = [e, *prior[: PRIOR_KEPT - 1]]
        issued = view.hour + HOUR
        return ReplayedDecision(
            id=decision_id(view.symbol, issued),
            hour=view.hour,
            kind="GRID_MANAGE",
            recommendation=str(RECOMMENDATION[e.after]),
            grid_id=grid.id,
            exit_state=e.after,
            promotion=promotion,
            reasons=tuple(c.name for c in e.conditions_met),
        )

    def _setup(self, view: BatchHour) -> ReplayedDecision:
        cfg = self.settings.lifecycle
        result = evaluate_setup(view, self._context(view), cfg)
        issued = view.hour + HOUR
        creates = result.recommendation == "CREATE_GRID"
        return ReplayedDecision(
            id=decision_id(view.symbol, issued),
            hour=view.hour,
            kind="GRID_SETUP",
            recommendation=result.recommendation,
            mode=result.mode,
            grid=result.grid,
            reasons=tuple(result.reasons),
            expires_at=issued + timedelta(minutes=cfg.setup.expiry_minutes) if creates else None,
        )

    def _act(self, d: ReplayedDecision) -> None:
        """The simulated operator, ``delay`` after the decision was issued."""
        issued = d.hour + HOUR
        at = issued + self.operator.delay
        if d.kind == "GRID_SETUP" and d.grid is not None:
            if d.expires_at is not None and at > d.expires_at:
                self._expired.append((issued, d.expires_at))
                return
            grid = approved_grid(
                self.feed.symbol, d.id, issued, d.grid, d.mode or "full", at, f"CREATE_GRID {d.id}"
            )
            self._place(grid, at, d.id)
        elif d.promotion is not None and d.grid_id is not None:
            old = self.book.grids[d.grid_id]
            if not old.running_at(at):
                return
            full = approved_grid(
                self.feed.symbol, d.id, issued, d.promotion, "full", at, f"promotes {old.id}"
            )
            self._stop(old, at, f"promoted: replaced by {full.id} ({d.id})", d.hour)
            self._place(full, at, d.id)
        elif (
            d.exit_state is not None
            and d.recommendation == "STOP_GRID"
            and d.exit_state.rank >= self.operator.act_on.rank
            and d.grid_id is not None
        ):
            grid = self.book.grids[d.grid_id]
            if grid.running_at(at):
                self._stop(grid, at, f"STOP_GRID after {d.exit_state} ({d.id})", d.hour)

    def _place(self, grid: GridConfig, at: datetime, decision: str) -> None:
        self.book.grids[grid.id] = grid
        self.lives[grid.id] = GridLife(grid, at, decision)

    def _stop(self, grid: GridConfig, at: datetime, reason: str, hour: datetime) -> None:
        entry = HistoryEntry(disabled=at, reason=reason)
        stopped = grid.model_copy(update={"history": [*grid.history, entry]})
        life = self.lives[grid.id]
        life.ended_at, life.end_reason, life.acted_hour = at, reason, hour
        # The book answers for the hours to come only: which grid runs, and the last stop.
        # Grids stopped before the last one can answer neither, so they leave the book.
        self.book.grids = {gid: g for gid, g in self.book.grids.items() if g.running_at(at)} | {
            grid.id: stopped
        }
