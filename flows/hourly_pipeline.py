"""The hourly pipeline: collect -> analyse -> decide -> notify -> record for every symbol,
the symbols side by side, then one commit for the cycle."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.transactions import CommitMode, transaction
from pydantic import Field

from flows import _fan_out as fan_out
from flows._common import (
    HourParam,
    SymbolParam,
    collected_at,
    commit_message,
    data_repository_lock,
    failure_reason,
    flow_run_url,
    flow_timeout,
    hours_of,
    log_duration,
    logger,
    open_context,
)
from flows._hooks import FAILURE_HOOKS
from flows._run_names import run_name
from market_maker.alerts.hour_alerts import HourAlerts
from market_maker.base.errors import DeliveryFailed
from market_maker.context import RunContext
from market_maker.exit_strategy.evaluator import ExitEvaluator
from market_maker.grids.book import GridBook
from market_maker.pipeline.groups import (
    GROUP_PATTERN,
    GroupRuns,
    GroupsFailed,
    group_settings,
    symbol_groups,
)
from market_maker.pipeline.outcomes import HourResult
from market_maker.pipeline.result import PipelineFailed, PipelineResult, Step, StepRun
from market_maker.pipeline.steps import (
    STEPS,
    HourRun,
    HourServices,
    Notified,
    StepOutcome,
    exit_evaluator,
    hour_alerts,
    hour_services,
    load_book,
    run_steps,
    setup_evaluator,
)
from market_maker.pipeline.steps import Step as PipelineStep
from tasks.pipeline import STEP_TASKS, replay_hours_task
from tasks.store import commit_task, push_task, sync_task

# The deployment each group of symbols runs on (prefect.yaml).
GROUP_DEPLOYMENT = "hourly-pipeline/hourly-pipeline-group"
GroupParam = Annotated[
    str | None,
    Field(
        pattern=GROUP_PATTERN,
        description="A group of symbols (pipeline.group_size): group-1, group-2, ...; empty: "
        "the symbols given, else every configured one (split into groups when configured).",
    ),
]


@dataclass
class SymbolCycle:
    """One symbol's hour through the five steps: what each step's task run ended as."""

    result: HourResult
    steps: list[StepRun] = field(default_factory=list)
    failed: str = ""

    @property
    def paths(self) -> list[Path]:
        return self.result.paths


@flow(
    name="hourly-pipeline",
    flow_run_name=run_name("hourly-pipeline"),
    description="Collect, analyse, decide, notify and record every symbol for an hour.",
    timeout_seconds=flow_timeout(1800),
    task_runner=ThreadPoolTaskRunner(),
    **FAILURE_HOOKS,
)
def hourly_pipeline(
    symbols: list[SymbolParam] | None = None,
    hour: HourParam = None,
    start: HourParam = None,
    end: HourParam = None,
    group: GroupParam = None,
) -> PipelineResult | GroupRuns:
    """Run the hour (default: the last closed hour; the scheduled one for deployment runs).

    Each symbol runs its own chain of tasks, side by side (Prefect's thread pool; its size:
    PREFECT_TASK_RUNNER_THREAD_POOL_MAX_WORKERS); one failing never holds back the others,
    and the cycle makes one commit. The run fails at the end if any symbol did.

    With ``start`` and ``end`` it replays every hour of the range in order, as the
    scheduler would have, one task per symbol and day and one commit per day.

    Args:
        symbols: Symbols to run; empty: the symbols in the configuration.
        hour: UTC hour to run; empty: the hour before the scheduled start (or the last closed
            hour for a run started by hand).
        start: First hour of a replay (with end; then hour stays empty).
        end: Last hour of the replay, inclusive.
        group: Run one group of symbols (pipeline.group_size), in its own working copy.

    With ``pipeline.group_size`` set and neither symbols nor a range given, the run starts
    one run of the hourly-pipeline-group deployment per group, and waits for them.
    """
    ctx = open_context(symbols)
    if group is not None:
        settings, symbols = group_settings(ctx.settings, group)
        ctx = RunContext.open(settings)
    elif not symbols and start is None and end is None and symbol_groups(ctx.settings):
        return _groups(ctx, hour)
    span = hours_of(ctx, hour, start, end)
    symbols = symbols or list(ctx.settings.symbols)
    evaluator = exit_evaluator(ctx)
    started = time.perf_counter()
    if span.single:
        result = _cycle(ctx, evaluator, symbols, span.start)
    else:
        result = _replay(ctx, evaluator, symbols, span.hours())
    result = result.model_copy(update={"seconds": round(time.perf_counter() - started, 3)})
    log = logger()
    log_duration(
        log,
        f"hourly pipeline ({len(span.hours())} hour(s), {len(symbols)} symbol(s))",
        result.seconds,
        ctx.settings,
    )
    for symbol in symbols:
        for line in result.lines[symbol][-24:]:
            log.info("%s %s", symbol, line)
    create_markdown_artifact(
        key="hourly-pipeline",
        markdown=result.markdown(),
        description=f"{len(span.hours())} hour(s) from {span.label()}",
    )
    if result.failed:
        raise PipelineFailed(result)
    return result


def _cycle(
    ctx: RunContext, evaluator: ExitEvaluator, symbols: list[str], hour: datetime
) -> PipelineResult:
    url = flow_run_url()
    with data_repository_lock(ctx):
        sync_task(ctx)
        book = load_book(ctx)
        stamp = collected_at(ctx.exchange)
        alerts = hour_alerts(ctx.store.path, ctx.settings, evaluator)
        futures = {
            symbol: symbol_cycle.submit(ctx, evaluator, alerts, book, symbol, hour, stamp, url)
            for symbol in symbols
        }
        cycles: dict[str, SymbolCycle] = {}
        failed: dict[str, str] = {}
        for symbol, future in futures.items():
            future.wait()
            state = future.state
            if state.is_completed():
                cycles[symbol] = future.result()
                if cycles[symbol].failed:
                    failed[symbol] = cycles[symbol].failed
            else:
                failed[symbol] = failure_reason(state)
        paths = [p for c in cycles.values() for p in c.paths]
        detail = "\n".join(f"{s} {c.result.line()}" for s, c in cycles.items())
        sha = commit_task(
            ctx, commit_message("hourly-pipeline", ",".join(symbols), [hour], detail), paths
        )
        push_task(ctx)
    return PipelineResult.build(
        [hour],
        symbols,
        {s: [c.result] for s, c in cycles.items()},
        steps=[step for c in cycles.values() for step in c.steps],
        failed=failed,
        commits=[sha] if sha else [],
    )


@task(
    name="symbol-cycle",
    task_run_name="cycle {symbol} {hour:%Y-%m-%dT%H:%M}Z",
    cache_policy=NO_CACHE,
)
def symbol_cycle(
    ctx: RunContext,
    evaluator: ExitEvaluator,
    alerts: HourAlerts,
    book: GridBook,
    symbol: str,
    hour: datetime,
    stamp: datetime,
    url: str | None,
) -> SymbolCycle:
    """The five steps of one symbol, each its own task run. A failed step ends the chain
    (reported, not raised), except notify: what it did deliver is recorded either way."""
    setup = setup_evaluator(ctx, symbol)
    h = hour_services(ctx, book=book, exits=evaluator, alerts=alerts, setup=setup, run_url=url)
    run = HourRun(symbol, hour, stamp)
    steps: list[StepRun] = []
    cfg = ctx.settings.notifications

    def as_task(step: PipelineStep, h: HourServices, run: HourRun) -> StepOutcome:
        call = STEP_TASKS[step.name]
        if step.name == "notify":
            call = call.with_options(
                retries=cfg.step_retries, retry_delay_seconds=cfg.step_retry_delay_seconds
            )
        began = time.perf_counter()
        state = call(h, run, symbol=symbol, hour=hour, return_state=True)
        steps.append(_step_run(symbol, hour, step.name, state, time.perf_counter() - began))
        if state.is_completed():
            return StepOutcome(state.result())
        return StepOutcome(_partial(state), failure_reason(state))

    # Each step's cached result commits when the step completes: by default a failed step
    # (notify) would roll back its completed siblings, and a rerun would redo them all.
    with transaction(commit_mode=CommitMode.EAGER):
        run_steps(h, run, as_task)
    done = {s.step for s in steps}
    steps += [
        StepRun(symbol=symbol, hour=hour, step=s.name, state="Skipped")
        for s in STEPS
        if s.name not in done
    ]
    return SymbolCycle(run.result(), steps, run.failed)


def _partial(state) -> Notified | None:
    """What a failed notify step did deliver: its error carries it (recorded, so it is not
    sent twice)."""
    try:
        error = state.result(raise_on_failure=False)
    except Exception:
        return None
    if isinstance(error, DeliveryFailed) and isinstance(error.partial, Notified):
        return error.partial
    return None


def _step_run(symbol: str, hour: datetime, step: Step, state, seconds: float) -> StepRun:
    detail = "" if state.is_completed() else failure_reason(state)
    return StepRun(
        symbol=symbol,
        hour=hour,
        step=step,
        state=state.name,
        seconds=round(seconds, 3),
        detail=detail,
    )


def _replay(
    ctx: RunContext, evaluator: ExitEvaluator, symbols: list[str], hours: list[datetime]
) -> PipelineResult:
    url = flow_run_url()
    results: dict[str, list[HourResult]] = {s: [] for s in symbols}
    failed: dict[str, str] = {}
    commits: list[str] = []
    for chunk in _by_day(hours):
        with data_repository_lock(ctx):
            sync_task(ctx)
            book = load_book(ctx)
            paths = []
            # One symbol after the other: the replay clock is the exchange's, shared.
            for symbol in symbols:
                if symbol in failed:
                    continue
                state = replay_hours_task(
                    ctx, evaluator, book, symbol, chunk, None, url, return_state=True
                )
                if state.is_completed():
                    done: list[HourResult] = state.result()
                    results[symbol] += done
                    paths += [p for r in done for p in r.paths]
                else:
                    failed[symbol] = failure_reason(state)
            detail = "\n".join(r.line() for s in symbols for r in results[s] if r.hour in chunk)
            sha = commit_task(
                ctx, commit_message("hourly-pipeline", ",".join(symbols), chunk, detail), paths
            )
            if sha:
                commits.append(sha)
            push_task(ctx)
    return PipelineResult.build(hours, symbols, results, failed=failed, commits=commits)


def _by_day(hours: list[datetime]) -> list[list[datetime]]:
    chunks: dict[str, list[datetime]] = {}
    for hour in hours:
        chunks.setdefault(hour.strftime("%Y-%m-%d"), []).append(hour)
    return list(chunks.values())


def _groups(ctx: RunContext, hour: datetime | None) -> GroupRuns:
    """One run of the group deployment per group, all on the same hour; fails naming the
    groups whose run did not complete."""
    at = hours_of(ctx, hour, None, None).start
    groups = symbol_groups(ctx.settings)
    ids = fan_out.start_runs(
        GROUP_DEPLOYMENT, {g: {"group": g, "hour": at.isoformat()} for g in groups}
    )
    logger().info("hourly pipeline: %d group(s) started for %s", len(ids), at)
    runs = fan_out.wait_for(ids)
    result = GroupRuns.of(
        at,
        groups,
        {g: f"{r.name}: {r.state.name if r.state else '?'}" for g, r in runs.items()},
        fan_out.failures(runs),
    )
    create_markdown_artifact(key="hourly-pipeline", markdown=result.markdown())
    if result.failed:
        raise GroupsFailed(result)
    return result
