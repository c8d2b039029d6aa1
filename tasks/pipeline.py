"""The hourly pipeline's steps as tasks: one per step, symbol and hour.

A retry repeats only the step that failed. A rerun of the flow run (the UI's Retry) finds
every step that completed in the first run cached under the run's id and repeats only the
rest: a failed ``notify`` is sent again, the analysis is not redone. The cache lives in
Prefect's result storage; where a rerun cannot read it (another pod without shared result
storage), the steps simply run again: each is idempotent against the data repository.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext

from market_maker.base.errors import DeliveryFailed
from market_maker.base.timeutil import format_utc
from market_maker.context import RunContext
from market_maker.exit_strategy.evaluator import ExitEvaluator
from market_maker.grids.book import GridBook
from market_maker.pipeline.collection import HourOutcome
from market_maker.pipeline.outcomes import HourResult
from market_maker.pipeline.steps import (
    Analysed,
    Decided,
    HourRun,
    HourServices,
    Notified,
    Recorded,
    analyse,
    collect,
    decide,
    hour_alerts,
    hour_services,
    notify,
    record,
    run_hour,
    setup_evaluator,
)
from tasks.retry import retry_transient

STEP_NAME = "{symbol} {hour:%Y-%m-%dT%H:%M}Z"


def step_key(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
    """The step, its symbol and hour, within one flow run: a rerun of the run finds it."""
    flow_run = context.task_run.flow_run_id if context.task_run else None
    if flow_run is None:
        return None
    digest = ""
    run = parameters.get("run")
    if context.task.name == "record" and isinstance(run, HourRun) and run.notified is not None:
        # Record again whenever the notify step's answer changed.
        n = run.notified
        seen = [(a.channel, a.key, a.ok, a.attempted_at.isoformat()) for a in n.exit.attempts]
        seen += [(d.channel, d.ok) for d in n.setup + n.promotion]
        digest = ":" + hashlib.sha1(repr(seen).encode(), usedforsecurity=False).hexdigest()[:12]
    symbol, hour = parameters["symbol"], format_utc(parameters["hour"])
    return f"{context.task.name}:{flow_run}:{symbol}:{hour}{digest}"


@task(
    name="collect",
    task_run_name="collect " + STEP_NAME,
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=retry_transient,
    cache_key_fn=step_key,
    tags=["exchange"],
)
def collect_task(h: HourServices, run: HourRun, symbol: str, hour: datetime) -> HourOutcome:
    """The hour's snapshot from the exchange (kept when already stored)."""
    return collect(h, run)


@task(name="analyse", task_run_name="analyse " + STEP_NAME, cache_key_fn=step_key)
def analyse_task(h: HourServices, run: HourRun, symbol: str, hour: datetime) -> Analysed:
    """The regime of the stored snapshot, with the restart gates, as the metrics file."""
    return analyse(h, run)


@task(name="decide", task_run_name="decide " + STEP_NAME, cache_key_fn=step_key)
def decide_task(h: HourServices, run: HourRun, symbol: str, hour: datetime) -> Decided:
    """Exit state and decision (and, with no grid, the setup decision): nothing written."""
    return decide(h, run)


@task(
    name="notify",
    task_run_name="notify " + STEP_NAME,
    retries=2,
    retry_delay_seconds=60,
    retry_condition_fn=retry_transient,
    cache_key_fn=step_key,
)
def notify_task(h: HourServices, run: HourRun, symbol: str, hour: datetime) -> Notified:
    """Send what is due. An undelivered message fails the step; its error carries what the
    attempt did deliver, which a retry (given the same run) leaves out."""
    out = notify(h, run)
    if out.failed:
        run.notified = out
        raise DeliveryFailed("not delivered: " + "; ".join(out.failed), partial=out)
    return out


@task(name="record", task_run_name="record " + STEP_NAME, cache_key_fn=step_key)
def record_task(h: HourServices, run: HourRun, symbol: str, hour: datetime) -> Recorded:
    """Decisions and the exit-state file, with every delivery attempt (failed ones too: the
    next run retries an alert while its state holds)."""
    return record(h, run)


STEP_TASKS = {
    "collect": collect_task,
    "analyse": analyse_task,
    "decide": decide_task,
    "notify": notify_task,
    "record": record_task,
}


@task(
    name="replay-hours",
    task_run_name="replay {symbol} {hours[0]:%Y-%m-%d}",
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
    tags=["exchange"],
)
def replay_hours_task(
    ctx: RunContext,
    evaluator: ExitEvaluator,
    book: GridBook,
    symbol: str,
    hours: list[datetime],
    collected_at: datetime | None,
    run_url: str | None,
) -> list[HourResult]:
    """The five steps for each hour of a replayed day, in order, as plain calls: a task per
    step and hour would flood the server (thousands of task runs a month).

    ``collected_at`` None: each hour collected as the scheduler would have (the replay
    clock is moved to five minutes past the period's close).
    """
    alerts = hour_alerts(ctx.store.path, ctx.settings, evaluator)
    setup = setup_evaluator(ctx, symbol)
    h = hour_services(ctx, book=book, exits=evaluator, alerts=alerts, setup=setup, run_url=run_url)
    results = []
    for hour in hours:
        stamp = collected_at if collected_at is not None else _replay_clock(ctx, hour)
        results.append(run_hour(h, symbol, hour, collected_at=stamp))
    return results


def _replay_clock(ctx: RunContext, hour: datetime) -> datetime:
    """Five minutes past the period's close, when the schedule runs it."""
    moment = hour + timedelta(minutes=ctx.settings.snapshots.period_minutes + 5)
    exchange = ctx.exchange
    if hasattr(exchange, "set_now"):
        exchange.set_now(moment)
    return moment
