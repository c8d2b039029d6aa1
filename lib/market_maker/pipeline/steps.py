"""The hourly pipeline for one symbol and hour: one declarative list of five steps.

collect -> analyse -> decide -> notify -> record (:data:`STEPS`). Each step is a plain
function of what the hour works with (:class:`HourServices`) and what the steps before it
answered (:class:`HourRun`); :func:`run_steps` runs the list in order. The schedule runs
each step as its own task through the same runner (a failed step is retried, and a rerun
repeats it, alone); replays and the exit evaluation call the steps directly.

Only ``decide`` is free of side effects. ``collect`` and ``analyse`` write their validated
files (the snapshot and the metrics file), ``notify`` talks to the phone, ``record`` writes
the decisions and the exit-state file. A failed step ends the hour, except ``notify``:
what it did deliver is recorded either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from market_maker.alerts.exit_alerts import ExitNotified
from market_maker.alerts.hour_alerts import HourAlerts
from market_maker.alerts.notifier import Delivery, Notifier
from market_maker.config import Settings
from market_maker.context import RunContext
from market_maker.exit_strategy.evaluator import ExitDecided, ExitEvaluator
from market_maker.grids.book import GridBook
from market_maker.lifecycle.balance import balance_of, base_balance_reader
from market_maker.lifecycle.restart_gates import with_gates
from market_maker.lifecycle.setup_evaluator import SetupDecided, SetupEvaluator, SetupOutcome
from market_maker.pipeline.collection import HourOutcome, collect_hours
from market_maker.pipeline.outcomes import ExitOutcome, HourResult
from market_maker.regime import files
from market_maker.regime.model import MetricsFile
from market_maker.regime.stored_analysis import analyze_stored_hour
from market_maker.snapshots.model import GridStatusRecord

StepName = Literal["collect", "analyse", "decide", "notify", "record"]


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


Recorded = tuple[ExitOutcome, SetupOutcome | None]


@dataclass
class HourServices:
    """What a symbol's hours work with: the settings, the grid book, the evaluators and the
    alerts of the run. ``ctx`` (the exchange and the stored snapshots) is needed by collect
    and analyse only; ``setup`` is None where only exits are evaluated."""

    settings: Settings
    root: Path
    code_version: str
    book: GridBook
    exits: ExitEvaluator
    alerts: HourAlerts
    setup: SetupEvaluator | None = None
    ctx: RunContext | None = None
    run_url: str | None = None

    @property
    def period(self) -> timedelta:
        return timedelta(minutes=self.settings.snapshots.period_minutes)

    def context(self) -> RunContext:
        if self.ctx is None:
            raise RuntimeError("collect and analyse need the run's context")
        return self.ctx


class HourRun:
    """One symbol and hour through the steps: each step's answer, and how the hour ended.

    A plain object on purpose: a step's task retries get this very object, so a retried
    notify leaves out what its failed attempt delivered (``notified``)."""

    def __init__(self, symbol: str, hour: datetime, collected_at: datetime | None = None):
        self.symbol = symbol
        self.hour = hour
        self.collected_at = collected_at
        self.collected: HourOutcome | None = None
        self.analysed: Analysed | None = None
        self.decided: Decided | None = None
        self.notified: Notified | None = None
        self.recorded: Recorded | None = None
        self.failed = ""  # every failed step, "step: why", joined
        self.stopped = ""  # why the hour went no further
        self.seconds = 0.0

    def fail(self, why: str) -> None:
        self.failed = f"{self.failed}; {why}" if self.failed else why

    def result(self) -> HourResult:
        out = HourResult(self.symbol, self.hour, self.collected, stopped=self.stopped)
        out.seconds = self.seconds
        c = self.collected
        if c is not None and c.path is not None and c.status == "written":
            out.paths.append(c.path)
        if self.analysed is not None:
            out.metrics, out.metrics_status = self.analysed.metrics, self.analysed.status
            out.paths += self.analysed.paths
        if self.recorded is not None:
            out.exit, out.setup = self.recorded
            out.paths += out.exit.paths + (out.setup.paths if out.setup else [])
        return out


def collect(h: HourServices, run: HourRun) -> HourOutcome:
    """The hour's snapshot: fetched and written, or found already stored."""
    ctx = h.context()
    stamp = run.collected_at
    assert stamp is not None, "collect needs the collection time"
    return collect_hours(
        ctx, run.symbol, [run.hour], collected_at=stamp, grid_status=h.book.status
    )[0]


def no_snapshot(outcome: HourOutcome) -> str:
    """Why the hour cannot go on ('' when its snapshot is there)."""
    if outcome.status in ("written", "unchanged"):
        return ""
    return f"no snapshot ({outcome.status}: {outcome.detail})"


def analyse(h: HourServices, run: HourRun) -> Analysed:
    """The stored snapshot analysed, with the restart gates, as the hour's metrics file."""
    ctx = h.context()
    symbol, hour = run.symbol, run.hour
    metrics = analyze_hour(ctx, symbol, hour, grid=h.book.status(symbol, hour))
    if h.setup is not None:
        metrics = with_gates(
            metrics, h.setup.previous(symbol, hour), h.book, ctx.settings.lifecycle.gates
        )
    path, status = files.write(ctx.store.path, metrics)
    if status == "kept":
        # Another configuration or code version analysed this hour first: its file is the
        # record the exit evaluation (and the decision's metrics_file) refer to.
        metrics = files.read(path)
    return Analysed(metrics, status, path)


def decide(h: HourServices, run: HourRun) -> Decided:
    """The exit decision of the grid running at the hour (with a promotion when one is due)
    and, with no grid running, the setup decision."""
    assert run.analysed is not None
    metrics, book, setup = run.analysed.metrics, h.book, h.setup
    symbol, hour = metrics.symbol, metrics.hour
    promotion = None
    if setup is not None:
        setup.remember(metrics)
        running = book.running(symbol, hour)
        if running is not None:
            promotion = setup.promotion(metrics, running, book)
    exit_decided = h.exits.decide(metrics, book, code_version=h.code_version, promotion=promotion)
    # No grid at the hour's start nor when its decision is issued: one placed during the hour
    # (an approval acted on) is not proposed again.
    idle = book.running(symbol, hour) is None and book.running(symbol, hour + h.period) is None
    setup_decided = None
    if setup is not None and idle:
        setup_decided = setup.decide(metrics, book, code_version=h.code_version)
    return Decided(symbol, hour, exit_decided, setup_decided)


def notify(h: HourServices, run: HourRun) -> Notified:
    """Send what is due, leaving out what an earlier attempt of this step delivered
    (``run.notified``). Failures are in the answer, never raised."""
    decided, earlier = run.decided, run.notified
    assert decided is not None
    skip = earlier.exit.reached() if earlier else set()
    out = Notified(h.alerts.exit.notify(decided.exit, run_url=h.run_url, skip=skip))
    d = decided.exit.decision
    if h.setup is not None and d is not None and not (earlier and _ok(earlier.promotion)):
        out.promotion = h.alerts.setup.promotion(d, not decided.exit.decision_recorded)
    if h.setup is not None and decided.setup is not None and not (earlier and _ok(earlier.setup)):
        out.setup = h.alerts.setup.setup(decided.setup)
    return out.merged(earlier)


def record(h: HourServices, run: HourRun) -> Recorded:
    """Write the decisions and the exit-state file (with every delivery attempt)."""
    decided = run.decided
    assert decided is not None
    n = run.notified.exit if run.notified else None
    paths = h.exits.record(decided.exit, n.attempts if n else [], n.receipts if n else [])
    exit_outcome = ExitOutcome.of(decided.exit, n, paths)
    setup_outcome = None
    if h.setup is not None and decided.setup is not None:
        setup_outcome = h.setup.record(decided.setup)
    return exit_outcome, setup_outcome


@dataclass(frozen=True)
class Step:
    """One step of the list: its name, what it does, and the answer of the run it fills."""

    name: StepName
    run: Callable[[HourServices, HourRun], Any]
    answer: str
    # False for notify: a failed delivery is recorded, and the next run retries it.
    failure_ends_the_hour: bool = True


STEPS: tuple[Step, ...] = (
    Step("collect", collect, "collected"),
    Step("analyse", analyse, "analysed"),
    Step("decide", decide, "decided"),
    Step("notify", notify, "notified", failure_ends_the_hour=False),
    Step("record", record, "recorded"),
)


@dataclass(frozen=True)
class StepOutcome:
    """How a step ended: its answer, or why it failed (and what it did, if anything)."""

    answer: Any = None
    failed: str = ""


def call_step(step: Step, h: HourServices, run: HourRun) -> StepOutcome:
    """Run a step in place (replays): its answer; an exception ends the run."""
    return StepOutcome(step.run(h, run))


Call = Callable[[Step, HourServices, HourRun], StepOutcome]


def run_steps(
    h: HourServices, run: HourRun, call: Call = call_step, *, first: StepName = "collect"
) -> HourRun:
    """The steps from ``first`` in order, each through ``call``: a failed step ends the hour
    (noted in ``run.failed``), except notify, whose partial answer record still writes."""
    started = time.perf_counter()
    try:
        for step in STEPS[[s.name for s in STEPS].index(first) :]:
            out = call(step, h, run)
            setattr(run, step.answer, out.answer)
            if out.failed:
                run.fail(f"{step.name}: {out.failed}")
                if step.failure_ends_the_hour:
                    run.stopped = run.stopped or f"{step.name} failed: {out.failed}"
                    return run
            elif step.name == "collect" and (why := no_snapshot(out.answer)):
                run.stopped = why
                run.fail(f"collect: {why}")
                return run
        return run
    finally:
        run.seconds = time.perf_counter() - started


def run_hour(h: HourServices, symbol: str, hour: datetime, *, collected_at: datetime) -> HourResult:
    """The five steps of one symbol and hour, in order (replays)."""
    return run_steps(h, HourRun(symbol, hour, collected_at)).result()


def evaluate_exit(h: HourServices, metrics: MetricsFile) -> ExitOutcome:
    """Decide, notify and record the hour of a stored metrics file (the exit evaluation)."""
    run = HourRun(metrics.symbol, metrics.hour)
    run.analysed = Analysed(metrics, "unchanged", Path())
    run_steps(h, run, first="decide")
    assert run.recorded is not None
    return run.recorded[0]


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


def exit_evaluator(ctx: RunContext) -> ExitEvaluator:
    """The run's exit evaluator; with an exchange key it checks positions against the account."""
    evaluator = ExitEvaluator(ctx.store.path, ctx.settings)
    evaluator.positions.base_balance = base_balance_reader(ctx.settings, ctx.exchange)
    return evaluator


def setup_evaluator(ctx: RunContext, symbol: str) -> SetupEvaluator:
    """The setup evaluator of ``symbol``, its capital from the quote currency's balance."""
    balance = balance_of(ctx.settings, ctx.exchange, symbol.split("-")[1])
    return SetupEvaluator(ctx.store.path, ctx.settings, balance)


def hour_alerts(
    root: Path, settings: Settings, exits: ExitEvaluator, notifier: Notifier | None = None
) -> HourAlerts:
    """The run's alerts (Pushover and the webhook from the settings, unless ``notifier``)."""
    return HourAlerts(
        root, settings, notifier or Notifier(settings.notifications), exits.metrics_at
    )


def hour_services(
    ctx: RunContext,
    *,
    book: GridBook,
    exits: ExitEvaluator,
    alerts: HourAlerts,
    setup: SetupEvaluator | None = None,
    run_url: str | None = None,
) -> HourServices:
    """What a run's hours work with (no ``setup``: exits only)."""
    return HourServices(
        ctx.settings,
        ctx.store.path,
        ctx.code_version,
        book,
        exits,
        alerts,
        setup=setup,
        ctx=ctx,
        run_url=run_url,
    )


def load_book(ctx: RunContext) -> GridBook:
    return GridBook.load(ctx.store.path, fee_rate=ctx.settings.grids.fee_rate)
