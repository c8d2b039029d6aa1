"""The setup side's messages: a CREATE_GRID asks for the operator's approval, and a probationary
grid's promotion is announced once. Never urgent: placing capital waits for the operator."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from market_maker.alerts.message import Notification, trim
from market_maker.alerts.notifier import Delivery, Notifier
from market_maker.base.identifiers import inside
from market_maker.base.prices import format_price
from market_maker.config import Settings
from market_maker.decisions.model import Decision, SetupDecision, decision_relpath
from market_maker.decisions.store import DecisionStore
from market_maker.lifecycle.setup_evaluator import SetupDecided


class SetupAlerts:
    def __init__(self, root: Path, settings: Settings, notifier: Notifier):
        self.root = root
        self.notifier = notifier
        self.decisions = DecisionStore(root)
        self._period = timedelta(minutes=settings.snapshots.period_minutes)

    def setup(self, decided: SetupDecided) -> list[Delivery]:
        """Ask for the operator's approval of a new CREATE_GRID (once: not on a rerun)."""
        d = decided.decision
        if decided.recorded or d.recommendation != "CREATE_GRID":
            return []
        return self.notifier.send(setup_notification(d))

    def promotion(self, decision: Decision, written: bool) -> list[Delivery]:
        """Tell the operator once, the first hour a promotion is proposed."""
        if decision.promotion is None or not written:
            return []
        earlier = inside(
            self.root, decision_relpath(decision.symbol, decision.issued_at - self._period)
        )
        if earlier.exists():
            before = self.decisions.read(earlier)
            if isinstance(before, Decision) and before.promotion is not None:
                return []
        return self.notifier.send(promotion_notification(decision))


def setup_notification(d: SetupDecision) -> Notification:
    """CREATE_GRID: never urgent (priority 0); placing capital waits for the operator."""
    assert d.grid is not None and d.capital is not None and d.expires_at is not None
    g = d.grid
    base = d.symbol.split("-")[0]
    lines = [
        f"{d.symbol} {format_price(d.price)}: the market ranges ({d.verdict}, confidence "
        f"{d.confidence:.2f}). Proposed {d.mode} grid:",
        f"{format_price(g.lower_price)}-{format_price(g.upper_price)}, {g.levels} levels "
        f"{g.spacing} "
        f"({g.spacing_pct:.2f} % apart), {g.amount_per_grid:g} {base} a level, "
        f"{100 * g.profit_per_grid_net:.2f} % a pair after fees.",
        f"Capital: {d.capital.used or 0:,.2f} of {d.capital.unlocked:,.2f} unlocked "
        f"(reserve {d.capital.reserve:,.2f}).",
        f"Approve before {d.expires_at:%H:%M} UTC: market-maker decision act --id {d.id} "
        "--action executed (or declined).",
    ]
    return Notification(
        kind="grid_setup",
        title=f"{d.symbol} setup: CREATE_GRID ({d.mode})",
        message=trim("\n".join(lines)),
        priority=0,
        timestamp=int(d.hour.timestamp()),
        symbol=d.symbol,
        state="CREATE_GRID",
        context={"decision": d.id},
    )


def promotion_notification(d: Decision) -> Notification:
    """A probationary grid's promotion is ready: never urgent, approval needed."""
    assert d.promotion is not None
    g = d.promotion
    message = (
        f"{d.symbol}: grid {d.grid.grid_id} has run a day in a confirmed range. A full grid "
        f"{format_price(g.lower_price)}-{format_price(g.upper_price)}, {g.levels} levels "
        f"({g.spacing_pct:.2f} % "
        f"apart, {g.amount_per_grid:g} a level) can replace it: market-maker decision act "
        f"--id {d.id} --action executed."
    )
    return Notification(
        kind="grid_promotion",
        title=f"{d.symbol} {d.grid.grid_id}: promotion ready",
        message=trim(message),
        priority=0,
        timestamp=int(d.hour.timestamp()),
        symbol=d.symbol,
        state="PROMOTE_GRID",
        context={"decision": d.id},
    )
