"""What an hour came to: the exit evaluation as recorded (with what was sent), and the whole
hour's result as the console, the artifacts and the demo show it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from market_maker.alerts.exit_alerts import ExitNotified
from market_maker.alerts.message import Notification
from market_maker.alerts.notifier import Delivery
from market_maker.base.timeutil import format_utc
from market_maker.decisions.model import Decision
from market_maker.exit_strategy.engine import Evaluation
from market_maker.exit_strategy.evaluator import ExitDecided
from market_maker.exit_strategy.model import ReceiptRecord
from market_maker.lifecycle.setup_evaluator import SetupOutcome
from market_maker.pipeline.collection import HourOutcome
from market_maker.regime.model import MetricsFile


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


@dataclass
class HourResult:
    symbol: str
    hour: datetime
    collection: HourOutcome | None = None
    metrics: MetricsFile | None = None
    metrics_status: str = ""
    exit: ExitOutcome | None = None
    setup: SetupOutcome | None = None
    paths: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    stopped: str = ""

    def line(self) -> str:
        when = format_utc(self.hour)
        if self.stopped:
            return f"{self.symbol} {when}: {self.stopped}"
        verdict = self.metrics.verdict if self.metrics else None
        regime = (
            f"{verdict} {self.metrics.confidence:.2f}" if self.metrics and verdict else "refused"
        )
        exit_line = self.exit.line() if self.exit else "no exit evaluation"
        if self.setup is not None:
            exit_line = self.setup.line()
        return f"{when} regime {regime} | {exit_line}"
