"""The notify step of an exit evaluation: learn the fate of earlier emergencies, plan what is
due (:func:`~market_maker.alerts.plan.plan`), render it and send it on each channel.

Failures are returned, never raised: the record step writes every attempt, and the next
run retries an undelivered alert while its state holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from market_maker.alerts import emergency
from market_maker.alerts.chart import ChartHour, exit_chart
from market_maker.alerts.message import (
    PRIORITY,
    Notification,
    exit_notification,
    refusal_notification,
)
from market_maker.alerts.notifier import Delivery, Notifier
from market_maker.alerts.plan import PlannedAlert, plan
from market_maker.alerts.pushover import ReceiptStatus
from market_maker.base.identifiers import inside
from market_maker.base.timeutil import format_utc
from market_maker.config import Settings
from market_maker.decisions.model import Decision, decision_id, decision_relpath
from market_maker.decisions.states import Recommendation
from market_maker.decisions.store import DecisionStore
from market_maker.exit_strategy.evaluator import ExitDecided
from market_maker.exit_strategy.model import REFUSAL_KEY, DeliveryRecord, ReceiptRecord
from market_maker.regime.model import MetricsFile

log = logging.getLogger(__name__)
# Pushover: poll a receipt no more often than every 5 seconds.
RECEIPT_POLL_SECONDS = 5.0
MetricsAt = Callable[[str, datetime], MetricsFile | None]


@dataclass
class ExitNotified:
    """The notify step's answer: what was sent, on which channel, with what result."""

    notification: Notification | None = None
    notify_reason: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    attempts: list[DeliveryRecord] = field(default_factory=list)  # as the exit-state file keeps
    receipts: list[ReceiptRecord] = field(default_factory=list)  # final outcomes learned now

    @property
    def failed(self) -> list[Delivery]:
        return [d for d in self.deliveries if not d.ok]

    def merged(self, earlier: ExitNotified | None) -> ExitNotified:
        """This attempt with what an earlier attempt of the same step already delivered."""
        if earlier is None:
            return self
        known = {e.receipt for e in earlier.receipts}
        return ExitNotified(
            notification=self.notification or earlier.notification,
            notify_reason=self.notify_reason or earlier.notify_reason,
            deliveries=[d for d in earlier.deliveries if d.ok] + self.deliveries,
            attempts=[d for d in earlier.attempts if d.ok] + self.attempts,
            receipts=earlier.receipts + [r for r in self.receipts if r.receipt not in known],
        )

    def reached(self) -> set[str]:
        """``channel:key`` of every alert delivered, for a retry to leave out."""
        return {f"{a.channel}:{a.key}" for a in self.attempts if a.ok}


class ExitAlerts:
    """Sends the alerts an exit evaluation calls for; ``metrics_at`` reads an hour's metrics
    (the evaluator's cache), for the chart."""

    def __init__(self, root: Path, settings: Settings, notifier: Notifier, metrics_at: MetricsAt):
        self.root = root
        self.settings = settings
        self.notifier = notifier
        self.metrics_at = metrics_at
        self.decisions = DecisionStore(root)
        self._period = timedelta(minutes=settings.snapshots.period_minutes)
        self._receipts: dict[str, tuple[float, ReceiptStatus | None]] = {}

    def notify(
        self, d: ExitDecided, *, run_url: str | None = None, skip: Iterable[str] = ()
    ) -> ExitNotified:
        """Learn the fate of earlier emergencies, then send what the plan says is due on each
        channel (``skip``: ``channel:key`` an earlier attempt of this step delivered)."""
        out = ExitNotified()
        if d.evaluation is None:
            return out
        out.receipts = self._poll_receipts(d)
        due = plan(
            d,
            channels=self.notifier.channels,
            settings=self.settings.notifications,
            cycle=self._cycle(d, out.receipts),
            skip=frozenset(skip),
        )
        out.notify_reason = due.reason
        for alert in due.alerts:
            channels = alert.channels
            if alert.except_reached:
                reached = {x.channel for x in out.deliveries if x.ok}
                channels = [c for c in channels if c not in reached]
            if not channels:
                continue
            n = self._render(d, alert, run_url)
            if out.notification is None:
                out.notification = n
            self._deliver(d, n, channels, alert.key, out)
        return out

    def _render(self, d: ExitDecided, alert: PlannedAlert, run_url: str | None) -> Notification:
        m = d.metrics
        if alert.key == REFUSAL_KEY:
            return refusal_notification(
                symbol=m.symbol,
                grid_id=d.grid_id or "-",
                hour=m.hour,
                computable=m.metrics_computable,
                errors=[f"{k}: {x.error}" for k, x in m.metrics.items() if x.error][:4],
                url=run_url,
            )
        e, decision, o = d.evaluation, d.decision, d.observation
        assert e is not None and decision is not None and o is not None
        ack = self.settings.notifications.acknowledged
        n = exit_notification(
            symbol=d.symbol,
            grid_id=o.grid.id,
            hour=e.hour,
            state=e.after,
            previous=e.before,
            recommendation=decision.recommendation,
            price=o.price,
            lower=o.grid.lower_price,
            upper=o.grid.upper_price,
            verdict=str(decision.verdict) if decision.verdict else None,
            confidence=decision.confidence,
            reasons=[c.reason for c in e.conditions_met][:6],
            decision_id=decision.id,
            expires_at=decision.expires_at,
            url=run_url,
            position=decision.position,
            promotion=decision.promotion,
            missed=self._missed_stop(decision) if not alert.reminder else None,
            undelivered_since=alert.retry_of,
            reminder=f"{alert.reminder}; the grid still runs" if alert.reminder else None,
            priority=ack.reminder_priority if alert.reminder else alert.priority,
        )
        if alert.chart_since is not None:
            png = self._chart(d, alert.chart_since)
            if png is not None:
                n = n.model_copy(update={"attachment": png})
        return n

    def _deliver(
        self, d: ExitDecided, n: Notification, channels: list[str], key: str, out: ExitNotified
    ) -> None:
        """Send on ``channels`` and record every attempt."""
        deliveries = self.notifier.send(n, channels)
        now = datetime.now(UTC).replace(microsecond=0)
        out.attempts += [
            DeliveryRecord(
                hour=d.hour,
                grid_id=d.grid_id or "-",
                key=key,
                channel=x.channel,
                attempted_at=now,
                ok=x.ok,
                detail=x.detail[:300],
                priority=x.priority,
                receipt=x.receipt,
            )
            for x in deliveries
        ]
        out.deliveries += deliveries
        if not any(x.ok for x in deliveries):
            log.warning(
                "no channel delivered the %s alert for %s %s; the next run retries while it holds",
                key,
                d.symbol,
                format_utc(d.hour),
            )

    def _poll_receipts(self, d: ExitDecided) -> list[ReceiptRecord]:
        """Ask Pushover about every emergency receipt of the grid that is not final yet;
        cancel those whose state no longer holds. A failed poll is logged and asked again
        by the next run."""
        e, prior = d.evaluation, d.prior
        if e is None or not prior.sent_receipts:
            return []
        learned = []
        for sent in prior.sent_receipts:
            if sent.receipt in prior.receipt_outcomes or sent.receipt is None:
                continue
            status = self._receipt(sent.receipt)
            if status is None:
                continue
            record = emergency.final_outcome(sent, status, hour=e.hour, grid_id=e.grid_id)
            if record is None and sent.key != e.after.value and self.notifier.cancel(sent.receipt):
                record = emergency.cancelled(sent, hour=e.hour, grid_id=e.grid_id)
            if record is not None:
                log.info(
                    "emergency %s of %s %s: %s%s",
                    sent.receipt,
                    e.grid_id,
                    format_utc(sent.hour),
                    record.outcome,
                    f" by {record.acknowledged_by or '?'} after {record.response_seconds} s"
                    if record.outcome == "acknowledged"
                    else "",
                )
                learned.append(record)
        return learned

    def _receipt(self, receipt: str) -> ReceiptStatus | None:
        """Pushover's answer on a receipt, asked at most every 5 s as Pushover asks (a replay
        evaluates many hours within seconds)."""
        asked = self._receipts.get(receipt)
        if asked is not None and time.monotonic() - asked[0] < RECEIPT_POLL_SECONDS:
            return asked[1]
        status = self.notifier.receipt(receipt)
        self._receipts[receipt] = (time.monotonic(), status)
        return status

    def _cycle(self, d: ExitDecided, learned: list[ReceiptRecord]) -> emergency.Cycle | None:
        """The emergency cycle of the current episode, for a state alerted at priority 2."""
        e, decision, prior = d.evaluation, d.decision, d.prior
        if e is None or decision is None or PRIORITY[e.after] != 2:
            return None
        start = emergency.episode_start(prior.records, e.after, e.before, e.hour)
        outcomes = dict(prior.receipt_outcomes)
        outcomes.update({r.receipt: r for r in learned})
        return emergency.cycle(
            start=start,
            key=e.after.value,
            sent=prior.sent_receipts,
            outcomes=outcomes,
            now=datetime.now(UTC),
            expire_seconds=self.settings.notifications.pushover.emergency_expire_seconds,
            actions=self._actions(d.symbol, start, decision.issued_at),
        )

    def _actions(
        self, symbol: str, start: datetime, until: datetime
    ) -> list[tuple[str, datetime, str]]:
        """Operator actions recorded by ``until`` on the decisions issued since ``start``."""
        out = []
        hour = start
        while hour + self._period <= until:
            issued = hour + self._period
            ident = decision_id(symbol, issued)
            hour += self._period
            if not inside(self.root, decision_relpath(symbol, issued)).exists():
                continue
            for entry in self.decisions.entries(ident, "action"):
                action, at = entry.action_taken()
                if at <= until:
                    out.append((action, at, ident))
        return sorted(out, key=lambda a: a[1])

    def _missed_stop(self, decision: Decision) -> str | None:
        """The hour before's STOP_GRID, if it expired with no action recorded: the next alert
        says it was missed."""
        earlier = inside(
            self.root, decision_relpath(decision.symbol, decision.issued_at - self._period)
        )
        if not earlier.exists():
            return None
        before = self.decisions.read(earlier)
        if (
            not isinstance(before, Decision)
            or before.recommendation != Recommendation.STOP_GRID
            or before.expires_at is None
            or before.expires_at > decision.issued_at
            or self.decisions.entries(before.id, "action")
        ):
            return None
        return (
            f"MISSED: the {before.exit_state} recommendation {before.id} expired at "
            f"{before.expires_at:%H:%M} UTC with no action recorded"
        )

    def _chart(self, d: ExitDecided, changed_at: datetime) -> bytes | None:
        """The alert's PNG, when Pushover will carry it; None (logged) when it cannot be had."""
        cfg = self.settings.notifications.chart
        e, o = d.evaluation, d.observation
        if not cfg.enabled or self.notifier.pushover is None or e is None or o is None:
            return None
        started = time.perf_counter()
        n = self.settings.snapshots.period_minutes
        try:
            hours = []
            for back in range(cfg.hours * 60 // n - 1, -1, -1):
                m = self.metrics_at(d.symbol, e.hour - back * self._period)
                if m is not None:
                    hours.append(ChartHour(m.hour, m.price, str(m.verdict) if m.verdict else None))
            png = exit_chart(
                hours,
                lower=o.grid.lower_price,
                upper=o.grid.upper_price,
                state=e.after.value,
                changed_at=changed_at,
                title=f"{d.symbol} {o.grid.id}: {e.after.value.replace('_', ' ')}",
            )
        except Exception as exc:  # an alert without its chart beats no alert
            log.warning("chart of the %s alert not drawn: %s: %s", e.after, type(exc).__name__, exc)
            return None
        log.debug(
            "chart of %s %s: %d bytes in %.2f s",
            d.symbol,
            format_utc(e.hour),
            len(png),
            time.perf_counter() - started,
        )
        return png
