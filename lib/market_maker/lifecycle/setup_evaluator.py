"""The hourly setup evaluation for a symbol with no grid running: the GRID_SETUP record (the
approval a CREATE_GRID asks for is sent by :mod:`market_maker.alerts.setup_alerts`), and the
grid file an approved setup or promotion becomes."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from market_maker.base.errors import DataError
from market_maker.base.identifiers import inside
from market_maker.base.timeutil import HOUR, format_utc
from market_maker.config import Settings
from market_maker.decisions.model import (
    ActionData,
    Decision,
    ProposedGrid,
    SetupDecision,
    decision_id,
    decision_relpath,
)
from market_maker.decisions.store import DecisionStore, ImmutableRecordError
from market_maker.grids.book import GridBook, add_grid_config, set_running
from market_maker.grids.model import SCHEMA_WITH_SETUP, GridConfig
from market_maker.lifecycle.setup import Context, evaluate_setup, promotion_of, setup_context
from market_maker.regime import files
from market_maker.regime.model import MetricsFile, Verdict, metrics_relpath

# How far back a closed (declined or expired) setup can still hold a cooldown.
LOOKBACK_HOURS = 6


@dataclass(frozen=True)
class Balance:
    """The quote balance the capital is computed from, and where it came from."""

    total: float
    source: str


@dataclass
class SetupOutcome:
    symbol: str
    hour: datetime
    decision: SetupDecision
    path: Path
    written: bool

    def line(self) -> str:
        d = self.decision
        if d.recommendation == "CREATE_GRID" and d.grid is not None:
            g = d.grid
            what = (
                f"CREATE_GRID {d.mode} {g.lower_price:,.2f}-{g.upper_price:,.2f} "
                f"x{g.levels} ({d.id}, approve before {format_utc(d.expires_at)})"
                if d.expires_at
                else f"CREATE_GRID {d.id}"
            )
        else:
            what = f"NO_SETUP ({'; '.join(d.reasons)[:160]})"
        return f"setup {what}"

    @property
    def paths(self) -> list[Path]:
        return [self.path] if self.written else []


@dataclass
class SetupDecided:
    """The decide step's GRID_SETUP decision; ``recorded``: an earlier run wrote it."""

    decision: SetupDecision
    recorded: bool


class SetupEvaluator:
    def __init__(self, root: Path, settings: Settings, balance: Balance):
        self.root = root
        self.settings = settings
        self._n = settings.snapshots.period_minutes
        self._period = timedelta(minutes=self._n)
        self.balance = balance
        self.decisions = DecisionStore(root)
        self._previous: dict[str, MetricsFile] = {}
        self._streak: dict[str, int] = {}

    def remember(self, metrics: MetricsFile) -> None:
        """The hour just analysed: the next hour's gates start from it, and the streak of
        RANGE_OK hours a probationary grid's promotion waits for goes on or ends."""
        before = self._previous.get(metrics.symbol)
        if before is not None and before.hour == metrics.hour - self._period:
            streak = self._streak.get(metrics.symbol, 0)
        else:
            streak = self._read_streak(metrics.symbol, metrics.hour - self._period)
        self._streak[metrics.symbol] = streak + 1 if metrics.verdict == Verdict.RANGE_OK else 0
        self._previous[metrics.symbol] = metrics

    def _read_streak(self, symbol: str, hour: datetime) -> int:
        """RANGE_OK hours in a row ending at ``hour``, read back (as far as a promotion needs)."""
        need = self.settings.lifecycle.setup.promote_after_hours * 60 // self._n
        count = 0
        while count < need:
            path = inside(self.root, metrics_relpath(symbol, hour - count * self._period, self._n))
            if not path.exists() or files.read(path).verdict != Verdict.RANGE_OK:
                break
            count += 1
        return count

    def promotion(
        self, metrics: MetricsFile, grid: GridConfig, book: GridBook
    ) -> ProposedGrid | None:
        """A full grid to replace a probationary one that has run ``promote_after_hours``
        RANGE_OK hours in a row (call after ``remember(metrics)``); None otherwise."""
        return promotion_of(
            metrics,
            grid,
            self.context(metrics, book),
            ranging_hours=self._streak.get(metrics.symbol, 0) * self._period,
            period=self._period,
            cfg=self.settings.lifecycle,
        )

    def previous(self, symbol: str, hour: datetime) -> MetricsFile | None:
        """The metrics of the hour before ``hour`` (None when it was never analysed)."""
        cached = self._previous.get(symbol)
        if cached is not None and cached.hour == hour - HOUR:
            return cached
        path = inside(self.root, metrics_relpath(symbol, hour - HOUR, self._n))
        return files.read(path) if path.exists() else None

    def context(self, metrics: MetricsFile, book: GridBook) -> Context:
        return setup_context(
            metrics,
            book,
            period=self._period,
            fee_rate=self.settings.grids.fee_rate,
            balance=(self.balance.total, self.balance.source),
            closed=self._last_closed_setup(metrics.symbol, metrics.hour + self._period),
        )

    def decide(self, metrics: MetricsFile, book: GridBook, *, code_version: str) -> SetupDecided:
        """The hour's GRID_SETUP decision, from stored files only; an earlier run's record of
        the hour (another code or configuration version) stands."""
        cfg = self.settings.lifecycle
        ctx = self.context(metrics, book)
        result = evaluate_setup(metrics, ctx, cfg)
        issued = ctx.at
        creates = result.recommendation == "CREATE_GRID"
        decision = SetupDecision(
            id=decision_id(metrics.symbol, issued),
            symbol=metrics.symbol,
            hour=metrics.hour,
            issued_at=issued,
            expires_at=issued + timedelta(minutes=cfg.setup.expiry_minutes) if creates else None,
            recommendation=result.recommendation,
            mode=result.mode,
            price=metrics.price,
            grid=result.grid,
            capital=result.capital,
            gates=result.gates,
            verdict=metrics.verdict,
            confidence=metrics.confidence,
            reasons=result.reasons,
            checks=result.checks,
            metrics_file=metrics_relpath(
                metrics.symbol, metrics.hour, metrics.period_minutes
            ).as_posix(),
            config_version=self.settings.config_version,
            code_version=code_version,
        )
        stored = self.decisions.recorded(decision)
        if isinstance(stored, SetupDecision):
            decision = stored
        return SetupDecided(decision, stored is not None)

    def record(self, decided: SetupDecided) -> SetupOutcome:
        d = decided.decision
        path, written = self.decisions.path(d), False
        if not decided.recorded:
            # Recorded meanwhile by another run: that record stands.
            with suppress(ImmutableRecordError):
                path, written = self.decisions.write(d)
        return SetupOutcome(d.symbol, d.hour, d, path, written)

    def _last_closed_setup(self, symbol: str, at: datetime) -> tuple[datetime | None, str | None]:
        """The latest CREATE_GRID declined, or left to expire, before ``at``."""
        latest: tuple[datetime | None, str | None] = (None, None)
        for k in range(1, LOOKBACK_HOURS * 60 // self._n + 1):
            issued = at - k * self._period
            path = inside(self.root, decision_relpath(symbol, issued))
            if not path.exists():
                continue
            d = self.decisions.read(path)
            if not isinstance(d, SetupDecision) or d.recommendation != "CREATE_GRID":
                continue
            actions = [
                ActionData.model_validate(e.data) for e in self.decisions.entries(d.id, "action")
            ]
            declined = [a.at for a in actions if a.action in ("declined", "ignored")]
            executed = [a for a in actions if a.action == "executed"]
            if declined:
                closed = (max(declined), "declined")
            elif not executed and d.expires_at is not None and d.expires_at <= at:
                closed = (d.expires_at, "left to expire")
            else:
                continue
            if closed[0] <= at and (latest[0] is None or closed[0] > latest[0]):
                latest = closed
        return latest


def configured_balance(settings: Settings) -> Balance:
    """The replay exchange has no account: the balance is configuration."""
    return Balance(
        settings.lifecycle.capital.total_quote,
        "configuration: lifecycle.capital.total_quote",
    )


def _grid_file(
    decision: Decision | SetupDecision, g: ProposedGrid, mode: str, at: datetime, why: str
) -> GridConfig:
    return approved_grid(decision.symbol, decision.id, decision.issued_at, g, mode, at, why)


def approved_grid(
    symbol: str,
    decision_id: str,
    issued_at: datetime,
    g: ProposedGrid,
    mode: str,
    at: datetime,
    why: str,
) -> GridConfig:
    """The grid file of a proposal approved at ``at``, named after the decision's issue."""
    return GridConfig.model_validate(
        {
            "schema_version": SCHEMA_WITH_SETUP,
            "id": f"{symbol.lower()}-{issued_at:%Y%m%d-%H%M}",
            "symbol": symbol,
            "lower_price": g.lower_price,
            "upper_price": g.upper_price,
            "levels": g.levels,
            "amount_per_grid": g.amount_per_grid,
            "profit_per_grid": g.profit_per_grid,
            "spacing": g.spacing,
            "mode": mode,
            "setup_decision": decision_id,
            "history": [{"enabled": format_utc(at), "reason": why}],
        }
    )


def grid_from_setup(decision: SetupDecision, at: datetime) -> GridConfig:
    """The grid file a CREATE_GRID becomes once the operator placed it at ``at``."""
    if decision.recommendation != "CREATE_GRID" or decision.grid is None:
        raise DataError(f"{decision.id} is a NO_SETUP: there is no grid to create")
    if decision.expires_at is not None and at > decision.expires_at:
        raise DataError(
            f"setup {decision.id} expired at {format_utc(decision.expires_at)}: its price and "
            "bounds are stale; wait for the next setup recommendation (nothing was written)"
        )
    return _grid_file(
        decision, decision.grid, decision.mode or "full", at, f"CREATE_GRID {decision.id}"
    )


def grid_from_promotion(decision: Decision, at: datetime) -> GridConfig:
    """The full grid that replaces a probationary one when its promotion is approved."""
    if decision.promotion is None:
        raise DataError(f"{decision.id} proposes no promotion: there is nothing to execute")
    if decision.expires_at is not None and at > decision.expires_at:
        raise DataError(
            f"the promotion in {decision.id} expired at {format_utc(decision.expires_at)}: "
            "wait for the next one (nothing was written)"
        )
    return _grid_file(decision, decision.promotion, "full", at, f"promotes {decision.grid.grid_id}")


def place_approved(
    root: Path, decision: Decision | SetupDecision, at: datetime, fee_rate: float
) -> tuple[list[Path], str | None]:
    """What approving ``decision`` at ``at`` writes: a setup's grid, or a promotion's full
    grid replacing the probationary one (stopped at the same moment). Checked before any
    file is written; ([], None) for a decision that places nothing."""
    if isinstance(decision, SetupDecision):
        grid = grid_from_setup(decision, at)
        return [add_grid_config(root, grid, decision.id, fee_rate=fee_rate)], grid.id
    if decision.promotion is None:
        return [], None
    grid = grid_from_promotion(decision, at)
    stopped = set_running(
        root,
        decision.grid.grid_id,
        enabled=False,
        at=at,
        reason=f"promoted: replaced by {grid.id} ({decision.id})",
        fee_rate=fee_rate,
    )
    return [stopped, add_grid_config(root, grid, decision.id, fee_rate=fee_rate)], grid.id
