"""One exit evaluation: regime + grid + history -> exit state, decision record, notification."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from market_maker.base.identifiers import inside
from market_maker.base.timeutil import HOUR, format_utc
from market_maker.config import Settings
from market_maker.decisions.model import (
    SCHEMA_WITH_POSITION,
    Decision,
    GridRef,
    ProposedGrid,
    decision_id,
    decision_relpath,
)
from market_maker.decisions.states import RECOMMENDATION, ExitState, Recommendation
from market_maker.decisions.store import DecisionStore, ImmutableRecordError
from market_maker.exit_strategy.engine import Evaluation, evaluate
from market_maker.exit_strategy.model import REFUSAL_KEY, DeliveryRecord, ReceiptRecord
from market_maker.exit_strategy.observation import Observation
from market_maker.exit_strategy.store import ExitStateStore, Prior
from market_maker.grids.book import GridBook
from market_maker.grids.model import GridConfig
from market_maker.grids.position_path import PositionTracker
from market_maker.notifications import emergency
from market_maker.notifications.chart import ChartHour, exit_chart
from market_maker.notifications.message import (
    PRIORITY,
    Notification,
    exit_notification,
    refusal_notification,
)
from market_maker.notifications.notifier import Delivery, Notifier
from market_maker.notifications.policy import should_notify
from market_maker.notifications.pushover import ReceiptStatus
from market_maker.regime import files
from market_maker.regime.model import MetricsFile, metrics_relpath

log = logging.getLogger(__name__)
# Pushover: poll a receipt no more often than every 5 seconds.
RECEIPT_POLL_SECONDS = 5.0
# Given the last delivery per key on a channel: (send?, why).
Decide = Callable[[dict[str, datetime | None]], tuple[bool, str]]


@dataclass
class ExitDecided:
    """The decide step's answer for one symbol and hour: the exit state and the decision
    record, computed from stored files only; nothing is written or sent yet."""

    symbol: str
    hour: datetime
    grid_id: str | None
    metrics: MetricsFile
    evaluation: Evaluation | None = None
    observation: Observation | None = None
    decision: Decision | None = None
    # True when an earlier run recorded this hour's decision: that record stands, and the
    # operator was told then.
    decision_recorded: bool = False
    prior: Prior = field(default_factory=Prior)
    inputs: str = ""
    skipped: str = ""


@dataclass
class ExitNotified:
    """The notify step's answer: what was sent, on which channel, with what result."""

    notification: Notification | None = None
    notify_reason: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    attempts: list[DeliveryRecord] = field(default_factory=list)  # as the exit-state file keeps
    receipts: list[ReceiptRecord] = field(default_factory=list)  # final outcomes learned now
    notified: ExitState | None = None  # the state the operator's phone has been told of
    refusal_notified: bool = False

    @property
    def failed(self) -> list[Delivery]:
        return [d for d in self.deliveries if not d.ok]

    def merged(self, earlier: ExitNotified | None) -> ExitNotified:
        """This attempt with what an earlier attempt of the same step already delivered."""
        if earlier is None:
            return self
        kept = [d for d in earlier.attempts if d.ok]
        return ExitNotified(
            notification=self.notification or earlier.notification,
            notify_reason=self.notify_reason or earlier.notify_reason,
            deliveries=[d for d in earlier.deliveries if d.ok] + self.deliveries,
            attempts=kept + self.attempts,
            receipts=earlier.receipts
            + [r for r in self.receipts if r.receipt not in {e.receipt for e in earlier.receipts}],
            notified=self.notified or earlier.notified,
            refusal_notified=self.refusal_notified or earlier.refusal_notified,
        )


@dataclass
class ExitOutcome:
    symbol: str
    hour: datetime
    grid_id: str | None
    evaluation: Evaluation | None = None
    decision: Decision | None = None
    paths: list[Path] = field(default_factory=list)
    notification: Notification | None = None
    notify_reason: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    receipts: list[ReceiptRecord] = field(default_factory=list)  # final outcomes learned now
    skipped: str = ""
    decision_written: bool = False  # False: a rerun found the hour's decision already there

    @classmethod
    def of(cls, d: ExitDecided, n: ExitNotified | None, paths: list[Path]) -> ExitOutcome:
        n = n or ExitNotified()
        return cls(
            d.symbol,
            d.hour,
            d.grid_id,
            d.evaluation,
            d.decision,
            paths,
            n.notification,
            n.notify_reason,
            n.deliveries,
            n.receipts,
            d.skipped,
            d.decision is not None and not d.decision_recorded,
        )

    def line(self) -> str:
        when = format_utc(self.hour)
        if self.evaluation is None:
            return f"{self.symbol} {when}: {self.skipped}"
        e = self.evaluation
        change = f"{e.before} -> {e.after}" if e.after != e.before else f"{e.after}"
        sent = ""
        if self.delivered:
            sent += f", notified ({', '.join(f'{d.channel}: {d.detail}' for d in self.delivered)})"
        if self.undelivered:
            sent += (
                ", NOT delivered ("
                + ", ".join(f"{d.channel}: {d.detail}" for d in self.undelivered)
                + "; the next run retries while the state holds)"
            )
        recommendation = self.decision.recommendation if self.decision else "-"
        return f"{self.symbol} {when} grid {self.grid_id}: {change}, {recommendation}{sent}"

    @property
    def delivered(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.ok]

    @property
    def undelivered(self) -> list[Delivery]:
        return [d for d in self.deliveries if not d.ok]


class ExitEvaluator:
    """Evaluates hours in order; exit-state files and earlier metrics are cached across hours."""

    def __init__(self, root: Path, settings: Settings, notifier: Notifier):
        self.root = root
        self.settings = settings
        self._n = settings.snapshots.period_minutes
        self._period = timedelta(minutes=self._n)
        self.notifier = notifier
        self.states = ExitStateStore(root)
        self.decisions = DecisionStore(root)
        self._metrics: dict[tuple[str, datetime], MetricsFile | None] = {}
        self._receipts: dict[str, tuple[float, ReceiptStatus | None]] = {}
        self.positions = PositionTracker(root, period_minutes=settings.snapshots.period_minutes)

    def remember(self, metrics: MetricsFile) -> None:
        """Keep a metrics file just produced, so the next hour reads its ADX from memory."""
        self._metrics[(metrics.symbol, metrics.hour)] = metrics

    def _metrics_at(self, symbol: str, hour: datetime) -> MetricsFile | None:
        key = (symbol, hour)
        if key not in self._metrics:
            path = inside(self.root, metrics_relpath(symbol, hour, self._n))
            self._metrics[key] = files.read(path) if path.exists() else None
        return self._metrics[key]

    def evaluate(
        self,
        metrics: MetricsFile,
        book: GridBook,
        *,
        code_version: str,
        run_url: str | None = None,
        promotion: ProposedGrid | None = None,
    ) -> ExitOutcome:
        """Decide, notify and record the hour in one call (replays, the exit-evaluation flow);
        the hourly pipeline runs the three as separate steps."""
        decided = self.decide(metrics, book, code_version=code_version, promotion=promotion)
        notified = self.notify(decided, run_url=run_url)
        return ExitOutcome.of(decided, notified, self.record(decided, notified))

    def decide(
        self,
        metrics: MetricsFile,
        book: GridBook,
        *,
        code_version: str,
        promotion: ProposedGrid | None = None,
    ) -> ExitDecided:
        """The exit state of the grid running at ``metrics.hour`` and its decision record;
        ``promotion`` (a full grid to replace a probationary one) goes into the decision.
        Reads stored files only."""
        symbol, hour = metrics.symbol, metrics.hour
        self.remember(metrics)
        grid = book.running(symbol, hour)
        if grid is None:
            return ExitDecided(
                symbol, hour, None, metrics, skipped="no running grid: nothing to evaluate"
            )
        previous = self._metrics_at(symbol, hour - HOUR)
        observation = Observation.build(metrics, grid, previous)
        prior = self.states.prior(symbol, grid.id, hour)
        evaluation = evaluate(
            observation,
            prior.state,
            prior.records,
            self.settings.exit_strategy,
            period=self._period,
        )
        decision = self._decision(metrics, observation, evaluation, book, code_version, promotion)
        stored = self.decisions.recorded(decision)
        if isinstance(stored, Decision):
            if stored != decision:
                # An earlier run issued this hour's decision (under another configuration or
                # code version): the record stands, and the operator was told then.
                log.warning(
                    "decision %s was issued by an earlier run and is kept as it is", stored.id
                )
            decision = stored
        return ExitDecided(
            symbol,
            hour,
            grid.id,
            metrics,
            evaluation=evaluation,
            observation=observation,
            decision=decision,
            decision_recorded=stored is not None,
            prior=prior,
            inputs=_fingerprint(metrics, grid_inputs(grid, hour), prior, previous),
        )

    def notify(
        self, d: ExitDecided, *, run_url: str | None = None, skip: Iterable[str] = ()
    ) -> ExitNotified:
        """Learn the fate of earlier emergencies, then send what the policy says is due on
        each channel (``skip``: channels an earlier attempt of this step already reached).
        Failures are returned, never raised."""
        n = ExitNotified()
        if d.evaluation is None:
            return n
        n.receipts = self._poll_receipts(d, d.prior)
        n.notified = self._notify(d, n, run_url, set(skip))
        n.refusal_notified = self._notify_refusal(d, n, run_url, set(skip))
        return n

    def record(self, d: ExitDecided, n: ExitNotified | None) -> list[Path]:
        """Write the hour's decision (unless an earlier run did) and its evaluation, the
        delivery attempts and the receipts learned into the exit-state file."""
        if d.evaluation is None or d.decision is None:
            return []
        n = n or ExitNotified()
        paths = []
        try:
            paths.append(self.decisions.write(d.decision)[0])
        except ImmutableRecordError:
            # Recorded meanwhile by another run: that record stands.
            paths.append(self.decisions.path(d.decision))
        paths.append(
            self.states.record(
                d.symbol,
                d.evaluation,
                n.notified,
                refusal_notified=n.refusal_notified,
                inputs=d.inputs,
                deliveries=n.attempts,
                receipts=n.receipts,
            )
        )
        return paths

    def _poll_receipts(self, outcome: ExitDecided, prior: Prior) -> list[ReceiptRecord]:
        """Ask Pushover about every emergency receipt of the grid that is not final yet;
        cancel those whose state no longer holds. A failed poll is logged and asked again
        by the next run."""
        e = outcome.evaluation
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

    def _cycle(self, outcome: ExitDecided, n: ExitNotified) -> emergency.Cycle | None:
        """The emergency cycle of the current episode, for a state alerted at priority 2."""
        e, decision, prior = outcome.evaluation, outcome.decision, outcome.prior
        if e is None or decision is None or PRIORITY[e.after] != 2:
            return None
        start = emergency.episode_start(prior.records, e.after, e.before, e.hour)
        outcomes = dict(prior.receipt_outcomes)
        outcomes.update({r.receipt: r for r in n.receipts})
        return emergency.cycle(
            start=start,
            key=e.after.value,
            sent=prior.sent_receipts,
            outcomes=outcomes,
            now=datetime.now(UTC),
            expire_seconds=self.settings.notifications.pushover.emergency_expire_seconds,
            actions=self._actions(outcome.symbol, start, decision.issued_at),
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

    def _chart(self, outcome: ExitDecided, o: Observation, changed_at: datetime) -> bytes | None:
        """The alert's PNG, when Pushover will carry it; None (logged) when it cannot be had."""
        cfg = self.settings.notifications.chart
        e = outcome.evaluation
        if not cfg.enabled or self.notifier.pushover is None or e is None:
            return None
        started = time.perf_counter()
        try:
            hours = []
            for back in range(cfg.hours * 60 // self._n - 1, -1, -1):
                m = self._metrics_at(outcome.symbol, e.hour - back * self._period)
                if m is not None:
                    hours.append(ChartHour(m.hour, m.price, str(m.verdict) if m.verdict else None))
            png = exit_chart(
                hours,
                lower=o.grid.lower_price,
                upper=o.grid.upper_price,
                state=e.after.value,
                changed_at=changed_at,
                title=f"{outcome.symbol} {o.grid.id}: {e.after.value.replace('_', ' ')}",
            )
        except Exception as exc:  # an alert without its chart beats no alert
            log.warning("chart of the %s alert not drawn: %s: %s", e.after, type(exc).__name__, exc)
            return None
        log.debug(
            "chart of %s %s: %d bytes in %.2f s",
            outcome.symbol,
            format_utc(e.hour),
            len(png),
            time.perf_counter() - started,
        )
        return png

    def _due_channels(
        self,
        prior: Prior,
        key: str,
        decide: Callable[[dict[str, datetime | None]], tuple[bool, str]],
        skip: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> tuple[list[str], str]:
        """The channels this alert is due on, each by its own record; and why (or why not)."""
        due, why = [], "no channel"
        for channel in self.notifier.channels:
            if prior.already_delivered(channel, key) or f"{channel}:{key}" in skip:
                why = f"already notified {key} for this hour on {channel} by an earlier run"
                continue
            send, why = decide(prior.last_delivered(channel))
            if send:
                due.append(channel)
        return due, why

    def _deliver(
        self,
        outcome: ExitDecided,
        n: Notification,
        channels: list[str],
        key: str,
        sent: ExitNotified,
    ) -> bool:
        """Send on ``channels``; record every attempt; True when the primary channel took it."""
        deliveries = self.notifier.send(n, channels)
        now = datetime.now(UTC).replace(microsecond=0)
        for d in deliveries:
            sent.attempts.append(
                DeliveryRecord(
                    hour=outcome.hour,
                    grid_id=outcome.grid_id or "-",
                    key=key,
                    channel=d.channel,
                    attempted_at=now,
                    ok=d.ok,
                    detail=d.detail[:300],
                    priority=d.priority,
                    receipt=d.receipt,
                )
            )
        sent.deliveries += deliveries
        if not any(d.ok for d in deliveries):
            log.warning(
                "no channel delivered the %s alert for %s %s; the next run retries while it holds",
                key,
                outcome.symbol,
                format_utc(outcome.hour),
            )
        return any(d.ok and d.channel != "webhook" for d in deliveries)

    def _notify_refusal(
        self, outcome: ExitDecided, sent: ExitNotified, run_url: str | None, skip: set[str]
    ) -> bool:
        """Alert a refused analysis (rate limited like WARNING) unless an exit alert went out."""
        metrics, prior = outcome.metrics, outcome.prior
        if metrics.verdict is None and outcome.grid_id is not None:
            limit = timedelta(hours=self.settings.notifications.rate_limit_hours.WARNING)

            def decide(last: dict[str, datetime | None]) -> tuple[bool, str]:
                when = last.get(REFUSAL_KEY)
                return when is None or metrics.hour - when >= limit, "analysis refusal"

            channels, _ = self._due_channels(prior, REFUSAL_KEY, decide, skip)
            sent_now = {d.channel for d in sent.deliveries if d.ok}
            channels = [c for c in channels if c not in sent_now]
        else:
            channels = []
        if not channels:
            return False
        n = refusal_notification(
            symbol=metrics.symbol,
            grid_id=outcome.grid_id,
            hour=metrics.hour,
            computable=metrics.metrics_computable,
            errors=[f"{k}: {m.error}" for k, m in metrics.metrics.items() if m.error][:4],
            url=run_url,
        )
        if sent.notification is None:
            sent.notification = n
        return self._deliver(outcome, n, channels, REFUSAL_KEY, sent)

    def _decision(
        self,
        metrics: MetricsFile,
        o: Observation,
        e: Evaluation,
        book: GridBook,
        code_version: str,
        promotion: ProposedGrid | None = None,
    ) -> Decision:
        issued = metrics.hour + self._period
        minutes = self.settings.decisions.minutes_for(metrics.verdict)
        met = e.conditions_met
        reasons = [f"{c.name}: {c.reason}" for c in met] or ["no exit condition met"]
        if metrics.verdict is None:
            reasons.append(
                f"regime analysis refused: {metrics.metrics_computable} of 6 metrics computable"
            )
        if e.after.rank < e.before.rank and e.transition is not None:
            reasons = e.transition.reasons + reasons
        grid = o.grid
        position = self.positions.risk(grid, metrics.hour, metrics.price)
        return Decision(
            schema_version=SCHEMA_WITH_POSITION,
            id=decision_id(metrics.symbol, issued),
            symbol=metrics.symbol,
            hour=metrics.hour,
            issued_at=issued,
            expires_at=issued + timedelta(minutes=minutes) if minutes is not None else None,
            recommendation=RECOMMENDATION[e.after],
            exit_state=e.after,
            previous_exit_state=e.before,
            verdict=metrics.verdict,
            confidence=metrics.confidence,
            reasons=reasons,
            metrics=o.values(),
            grid=GridRef(
                grid_id=grid.id,
                lower_price=grid.lower_price,
                upper_price=grid.upper_price,
                levels=grid.levels,
                grid_version=book.versions.get(grid.id),
            ),
            metrics_file=metrics_relpath(
                metrics.symbol, metrics.hour, metrics.period_minutes
            ).as_posix(),
            position=position,
            promotion=promotion,
            config_version=metrics.config_version,
            code_version=code_version,
        )

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

    def _notify(
        self, outcome: ExitDecided, sent: ExitNotified, run_url: str | None, skip: set[str]
    ) -> ExitState | None:
        e, decision, o, prior = (
            outcome.evaluation,
            outcome.decision,
            outcome.observation,
            outcome.prior,
        )
        if e is None or decision is None or o is None:
            return None
        key = e.after.value
        cycle = self._cycle(outcome, sent)
        ack = self.settings.notifications.acknowledged

        def decide(last: dict[str, datetime | None]) -> tuple[bool, str]:
            answer = should_notify(
                before=e.before,
                after=e.after,
                hour=e.hour,
                last_notification=last,
                limits=self.settings.notifications.rate_limit_hours,
            )
            if cycle is None:
                return answer
            return cycle.decide(
                key=key,
                hour=e.hour,
                last=last.get(key),
                reminder_hours=ack.reminder_hours,
                otherwise=answer,
            )

        channels, why = self._due_channels(prior, key, decide, skip)
        sent.notify_reason = why
        primary = self.notifier.channels[0]
        if f"{primary}:{key}" in skip:  # an earlier attempt of this step reached the phone
            return e.after
        if not channels:
            return e.after if prior.already_delivered(primary, key) else None
        failed = [prior.failed_since.get(c, {}).get(key) for c in channels]
        retry_of = min((f for f in failed if f is not None), default=None)
        reminder = cycle.response if cycle is not None and cycle.response else None
        n = exit_notification(
            symbol=outcome.symbol,
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
            missed=self._missed_stop(decision) if not reminder else None,
            undelivered_since=retry_of,
            reminder=f"{reminder}; the grid still runs" if reminder else None,
            priority=ack.reminder_priority if reminder else None,
        )
        if "pushover" in channels:
            start = emergency.episode_start(prior.records, e.after, e.before, e.hour)
            png = self._chart(outcome, o, start)
            if png is not None:
                n = n.model_copy(update={"attachment": png})
        sent.notification = n
        if self._deliver(outcome, n, channels, key, sent):
            return e.after
        return e.after if prior.already_delivered(primary, key) else None


def grid_inputs(grid: GridConfig, hour: datetime) -> str:
    """What an hour's evaluation takes from the grid: its parameters and since when it runs,
    not its later history (stopping a grid tomorrow changes nothing about today)."""
    return json.dumps(
        [
            grid.lower_price,
            grid.upper_price,
            grid.levels,
            grid.amount_per_grid,
            grid.profit_per_grid,
            format_utc(since) if (since := grid.running_since(hour)) else None,
        ]
    )


def _fingerprint(
    metrics: MetricsFile, grid: str, prior: Prior, previous: MetricsFile | None
) -> str:
    """What an evaluation depends on: the hour's and the previous hour's metrics, the grid's
    inputs (:func:`grid_inputs`) and the evaluations its persistence reads. Equal fingerprints
    give equal evaluations."""
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(files.dumps(metrics))
    digest.update(files.dumps(previous) if previous is not None else b"-")
    history = [(format_utc(r.hour), r.state, r.target, r.warning) for r in prior.records[:48]]
    digest.update(json.dumps([grid, str(prior.state), history]).encode())
    return digest.hexdigest()[:12]
