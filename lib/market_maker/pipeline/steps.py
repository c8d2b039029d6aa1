"""The hourly pipeline for one symbol and hour, as five steps.

collect -> analyse -> decide -> notify -> record. Each step is a plain function so that the
scheduled cycle can run each as its own task (a failed step is retried, and a rerun repeats
it, alone), while replays call :func:`run_hour`, which runs the five in order.

Only ``decide`` is free of side effects. ``collect`` and ``analyse`` write their validated
files (the snapshot and the metrics file) as they always did, ``notify`` talks to the
phone, ``record`` writes the decisions and the exit-state file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from market_maker.base.timeutil import format_utc
from market_maker.context import RunContext
from market_maker.exit_strategy.service import (
    ExitDecided,
    ExitEvaluator,
    ExitNotified,
    ExitOutcome,
)
from market_maker.grids.book import GridBook
from market_maker.lifecycle.balance import balance_of, base_balance_reader
from market_maker.lifecycle.restart_gates import with_gates
from market_maker.lifecycle.service import SetupDecided, SetupEvaluator, SetupOutcome
from market_maker.notifications.notifier import Delivery, Notifier
from market_maker.pipeline.collection import HourOutcome, collect_hours
from market_maker.regime import files
from market_maker.regime.model import MetricsFile
from market_maker.regime.service import analyze_stored_hour
from market_maker.snapshots.model import GridStatusRecord


@dataclass
class Analysed:
    """The analyse step's answer: the hour's metrics file as recorded."""

    metrics: MetricsFile
    status: str  # written, unchanged, kept (another version's file stands)
    path: Path

    @property
    def paths(self) -> list[Path]:
        return [self.path] if self.status == "written" else []


@dataclass
class Decided:
    """The decide step's answer: the exit decision of the running grid and, with no grid
    running, the setup decision. Nothing written or sent."""

    symbol: str
    hour: datetime
    exit: ExitDecided
    setup: SetupDecided | None = None


@dataclass
class Notified:
    """The notify step's answer: every delivery, per kind of message."""

    exit: ExitNotified = field(default_factory=ExitNotified)
    setup: list[Delivery] = field(default_factory=list)
    promotion: list[Delivery] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        """Each undelivered message, as ``kind on channel: why``."""
        out = [f"exit alert on {d.channel}: {d.detail}" for d in self.exit.failed]
        out += [f"setup on {d.channel}: {d.detail}" for d in self.setup if not d.ok]
        out += [f"promotion on {d.channel}: {d.detail}" for d in self.promotion if not d.ok]
        return out

    def merged(self, earlier: Notified | None) -> Notified:
        """This attempt with what an earlier attempt of the step already delivered."""
        if earlier is None:
            return self
        return Notified(
            self.exit.merged(earlier.exit),
            [d for d in earlier.setup if d.ok] + self.setup,
            [d for d in earlier.promotion if d.ok] + self.promotion,
        )

    def reached(self) -> set[str]:
        """``channel:key`` of every exit alert delivered, for a retry to leave out."""
        return {f"{a.channel}:{a.key}" for a in self.exit.attempts if a.ok}


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


def collect(
    ctx: RunContext, symbol: str, hour: datetime, *, collected_at: datetime, book: GridBook
) -> HourOutcome:
    """The hour's snapshot: fetched and written, or found already stored."""
    return collect_hours(ctx, symbol, [hour], collected_at=collected_at, grid_status=book.status)[0]


def no_snapshot(outcome: HourOutcome) -> str:
    """Why the hour cannot go on ('' when its snapshot is there)."""
    if outcome.status in ("written", "unchanged"):
        return ""
    return f"no snapshot ({outcome.status}: {outcome.detail})"


def analyse(
    ctx: RunContext, symbol: str, hour: datetime, *, book: GridBook, setup: SetupEvaluator | None
) -> Analysed:
    """The stored snapshot analysed, with the restart gates, as the hour's metrics file."""
    metrics = analyze_hour(ctx, symbol, hour, grid=book.status(symbol, hour))
    if setup is not None:
        metrics = with_gates(
            metrics, setup.previous(symbol, hour), book, ctx.settings.lifecycle.gates
        )
    path, status = files.write(ctx.store.path, metrics)
    if status == "kept":
        # Another configuration or code version analysed this hour first: its file is the
        # record the exit evaluation (and the decision's metrics_file) refer to.
        metrics = files.read(path)
    return Analysed(metrics, status, path)


def decide(
    ctx: RunContext,
    metrics: MetricsFile,
    *,
    book: GridBook,
    evaluator: ExitEvaluator,
    setup: SetupEvaluator | None,
) -> Decided:
    """The exit decision of the grid running at the hour (with a promotion when one is due)
    and, with no grid running, the setup decision."""
    symbol, hour = metrics.symbol, metrics.hour
    promotion = None
    if setup is not None:
        setup.remember(metrics)
        running = book.running(symbol, hour)
        if running is not None:
            promotion = setup.promotion(metrics, running, book)
    exit_decided = evaluator.decide(
        metrics, book, code_version=ctx.code_version, promotion=promotion
    )
    # No grid at the hour's start nor when its decision is issued: one placed during the hour
    # (an approval acted on) is not proposed again.
    period = timedelta(minutes=ctx.settings.snapshots.period_minutes)
    idle = book.running(symbol, hour) is None and book.running(symbol, hour + period) is None
    setup_decided = None
    if setup is not None and idle:
        setup_decided = setup.decide(metrics, book, code_version=ctx.code_version)
    return Decided(symbol, hour, exit_decided, setup_decided)


def notify(
    decided: Decided,
    *,
    evaluator: ExitEvaluator,
    setup: SetupEvaluator | None,
    run_url: str | None = None,
    earlier: Notified | None = None,
) -> Notified:
    """Send what is due; ``earlier``: what a previous attempt of this step delivered (not
    sent again). Failures are in the answer, never raised."""
    out = Notified(
        evaluator.notify(decided.exit, run_url=run_url, skip=earlier.reached() if earlier else ())
    )
    d = decided.exit.decision
    if setup is not None and d is not None and not (earlier and _ok(earlier.promotion)):
        out.promotion = setup.announce_promotion(d, not decided.exit.decision_recorded)
    if setup is not None and decided.setup is not None and not (earlier and _ok(earlier.setup)):
        out.setup = setup.notify(decided.setup)
    return out.merged(earlier)


def record(
    decided: Decided,
    notified: Notified | None,
    *,
    evaluator: ExitEvaluator,
    setup: SetupEvaluator | None,
) -> tuple[ExitOutcome, SetupOutcome | None]:
    """Write the decisions and the exit-state file (with every delivery attempt)."""
    exit_notified = notified.exit if notified else None
    paths = evaluator.record(decided.exit, exit_notified)
    exit_outcome = ExitOutcome.of(decided.exit, exit_notified, paths)
    setup_outcome = None
    if setup is not None and decided.setup is not None:
        setup_outcome = setup.record(decided.setup)
        setup_outcome.deliveries = notified.setup if notified else []
    return exit_outcome, setup_outcome


def run_hour(
    ctx: RunContext,
    symbol: str,
    hour: datetime,
    *,
    book: GridBook,
    evaluator: ExitEvaluator,
    collected_at: datetime,
    run_url: str | None = None,
    setup: SetupEvaluator | None = None,
) -> HourResult:
    """The five steps of one symbol and hour, in order."""
    started = time.perf_counter()
    result = HourResult(symbol, hour)
    outcome = collect(ctx, symbol, hour, collected_at=collected_at, book=book)
    result.collection = outcome
    if outcome.path is not None and outcome.status == "written":
        result.paths.append(outcome.path)
    if why := no_snapshot(outcome):
        result.stopped = why
        result.seconds = time.perf_counter() - started
        return result
    analysed = analyse(ctx, symbol, hour, book=book, setup=setup)
    result.metrics, result.metrics_status = analysed.metrics, analysed.status
    result.paths += analysed.paths
    decided = decide(ctx, analysed.metrics, book=book, evaluator=evaluator, setup=setup)
    notified = notify(decided, evaluator=evaluator, setup=setup, run_url=run_url)
    result.exit, result.setup = record(decided, notified, evaluator=evaluator, setup=setup)
    result.paths += result.exit.paths + (result.setup.paths if result.setup else [])
    result.seconds = time.perf_counter() - started
    return result


def _ok(deliveries: list[Delivery]) -> bool:
    return any(d.ok for d in deliveries)


def analyze_hour(
    ctx: RunContext,
    symbol: str,
    hour: datetime,
    *,
    grid: GridStatusRecord | Literal["snapshot"] | None = "snapshot",
) -> MetricsFile:
    """The stored snapshot of ``hour`` analysed with the settings and versions of the run."""
    return analyze_stored_hour(
        ctx.reader,
        symbol,
        hour,
        ctx.settings.regime,
        config_version=ctx.config_version,
        code_version=ctx.code_version,
        grid=grid,
    )


def exit_evaluator(ctx: RunContext, notifier: Notifier | None = None) -> ExitEvaluator:
    """The run's exit evaluator; with an exchange key it checks positions against the account."""
    evaluator = ExitEvaluator(
        ctx.store.path, ctx.settings, notifier or Notifier(ctx.settings.notifications)
    )
    evaluator.positions.base_balance = base_balance_reader(ctx.settings, ctx.exchange)
    return evaluator


def setup_evaluator(
    ctx: RunContext, symbol: str, notifier: Notifier | None = None
) -> SetupEvaluator:
    """The setup evaluator of ``symbol``, its capital from the quote currency's balance."""
    balance = balance_of(ctx.settings, ctx.exchange, symbol.split("-")[1])
    return SetupEvaluator(
        ctx.store.path, ctx.settings, notifier or Notifier(ctx.settings.notifications), balance
    )


def load_book(ctx: RunContext) -> GridBook:
    return GridBook.load(ctx.store.path, fee_rate=ctx.settings.grids.fee_rate)
