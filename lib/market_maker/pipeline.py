"""The hourly pipeline for one symbol and hour: collection -> analysis -> exit evaluation."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from market_maker.collection import HourOutcome, collect_hours
from market_maker.context import RunContext
from market_maker.exit_strategy.service import ExitEvaluator, ExitOutcome
from market_maker.grids.book import GridBook
from market_maker.lifecycle.gating import with_gates
from market_maker.lifecycle.service import SetupEvaluator, SetupOutcome
from market_maker.regime import files
from market_maker.regime.model import MetricsFile
from market_maker.regime.service import analyze_stored_hour
from market_maker.snapshots.model import GridStatusRecord
from market_maker.timeutil import HOUR, format_utc


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
    """Collect the hour's snapshot (if missing), analyse it, evaluate the exit state."""
    started = time.perf_counter()
    result = HourResult(symbol, hour)
    outcome = collect_hours(
        ctx, symbol, [hour], collected_at=collected_at, grid_status=book.status
    )[0]
    result.collection = outcome
    if outcome.path is not None and outcome.status == "written":
        result.paths.append(outcome.path)
    if outcome.status not in ("written", "unchanged"):
        result.stopped = f"no snapshot ({outcome.status}: {outcome.detail})"
        result.seconds = time.perf_counter() - started
        return result
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
    result.metrics, result.metrics_status = metrics, status
    if status == "written":
        result.paths.append(path)
    promotion = None
    if setup is not None:
        setup.remember(metrics)
        running = book.running(symbol, hour)
        if running is not None:
            promotion = setup.promotion(metrics, running, book)
    result.exit = evaluator.evaluate(
        metrics, book, code_version=ctx.code_version, run_url=run_url, promotion=promotion
    )
    result.paths += result.exit.paths
    if setup is not None and result.exit.decision is not None:
        setup.announce_promotion(result.exit.decision, result.exit.decision_written)
    # No grid at the hour's start nor when its decision is issued: one placed during the hour
    # (an approval acted on) is not proposed again.
    idle = book.running(symbol, hour) is None and book.running(symbol, hour + HOUR) is None
    if setup is not None and idle:
        result.setup = setup.evaluate(metrics, book, code_version=ctx.code_version)
        result.paths += result.setup.paths
    result.seconds = time.perf_counter() - started
    return result


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


def load_book(ctx: RunContext) -> GridBook:
    return GridBook.load(ctx.store.path, fee_rate=ctx.settings.grids.fee_rate)
