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
from prefect.runtime import task_run

from market_maker.base.errors import DeliveryFailed
from market_maker.base.timeutil import format_utc
from market_maker.context import RunContext
from market_maker.exit_strategy.service import ExitEvaluator, ExitOutcome
from market_maker.grids.book import GridBook
from market_maker.lifecycle.service import SetupEvaluator, SetupOutcome
from market_maker.pipeline.collection import HourOutcome
from market_maker.pipeline.steps import (
    Analysed,
    Decided,
    HourResult,
    Notified,
    analyse,
    collect,
    decide,
    notify,
    record,
    run_hour,
    setup_evaluator,
)
from tasks.retry import retry_transient

STEP_NAME = "{symbol} {hour:%Y-%m-%dT%H:%M}Z"
# What a failed notify attempt delivered, by task run: its retry does not send it again.
_DELIVERED: dict[str, Notified] = {}


def step_key(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
    """The step, its symbol and hour, within one flow run: a rerun of the run finds it."""
    run = context.task_run.flow_run_id if context.task_run else None
    if run is None:
        return None
    extra = parameters.get("notified")
    digest = ""
    if isinstance(extra, Notified):  # record again whenever the notify step's answer changed
        seen = [(a.channel, a.key, a.ok, a.attempted_at.isoformat()) for a in extra.exit.attempts]
        seen += [(d.channel, d.ok) for d in extra.setup + extra.promotion]
        digest = ":" + hashlib.sha1(repr(seen).encode(), usedforsecurity=False).hexdigest()[:12]
    return (
        f"{context.task.name}:{run}:{parameters['symbol']}:{format_utc(parameters['hour'])}{digest}"
    )


@task(
    name="collect",
    task_run_name="collect " + STEP_NAME,
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=retry_transient,
    cache_key_fn=step_key,
    tags=["exchange"],
)
def collect_task(
    ctx: RunContext, book: GridBook, collected_at: datetime, symbol: str, hour: datetime
) -> HourOutcome:
    """The hour's snapshot from the exchange (kept when already stored)."""
    return collect(ctx, symbol, hour, collected_at=collected_at, book=book)


@task(name="analyse", task_run_name="analyse " + STEP_NAME, cache_key_fn=step_key)
def analyse_task(
    ctx: RunContext, book: GridBook, setup: SetupEvaluator, symbol: str, hour: datetime
) -> Analysed:
    """The regime of the stored snapshot, with the restart gates, as the metrics file."""
    return analyse(ctx, symbol, hour, book=book, setup=setup)


@task(name="decide", task_run_name="decide " + STEP_NAME, cache_key_fn=step_key)
def decide_task(
    ctx: RunContext,
    book: GridBook,
    evaluator: ExitEvaluator,
    setup: SetupEvaluator,
    analysed: Analysed,
    symbol: str,
    hour: datetime,
) -> Decided:
    """Exit state and decision (and, with no grid, the setup decision): nothing written."""
    return decide(ctx, analysed.metrics, book=book, evaluator=evaluator, setup=setup)


@task(
    name="notify",
    task_run_name="notify " + STEP_NAME,
    retries=2,
    retry_delay_seconds=60,
    retry_condition_fn=retry_transient,
    cache_key_fn=step_key,
)
def notify_task(
    evaluator: ExitEvaluator,
    setup: SetupEvaluator,
    decided: Decided,
    run_url: str | None,
    symbol: str,
    hour: datetime,
) -> Notified:
    """Send what is due. An undelivered message fails the step (after its retries, which
    leave out what an earlier attempt delivered)."""
    key = str(task_run.get_id())
    out = notify(
        decided, evaluator=evaluator, setup=setup, run_url=run_url, earlier=_DELIVERED.get(key)
    )
    if out.failed:
        _DELIVERED[key] = out
        raise DeliveryFailed("not delivered: " + "; ".join(out.failed), partial=out)
    _DELIVERED.pop(key, None)
    return out


@task(name="record", task_run_name="record " + STEP_NAME, cache_key_fn=step_key)
def record_task(
    evaluator: ExitEvaluator,
    setup: SetupEvaluator,
    decided: Decided,
    notified: Notified | None,
    symbol: str,
    hour: datetime,
) -> tuple[ExitOutcome, SetupOutcome | None]:
    """Decisions and the exit-state file, with every delivery attempt (failed ones too: the
    next run retries an alert while its state holds)."""
    return record(decided, notified, evaluator=evaluator, setup=setup)


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
    setup = setup_evaluator(ctx, symbol)
    results = []
    for hour in hours:
        stamp = collected_at if collected_at is not None else _replay_clock(ctx, hour)
        results.append(
            run_hour(
                ctx,
                symbol,
                hour,
                book=book,
                evaluator=evaluator,
                collected_at=stamp,
                run_url=run_url,
                setup=setup,
            )
        )
    return results


def _replay_clock(ctx: RunContext, hour: datetime) -> datetime:
    """Five minutes past the period's close, when the schedule runs it."""
    moment = hour + timedelta(minutes=ctx.settings.snapshots.period_minutes + 5)
    exchange = ctx.exchange
    if hasattr(exchange, "set_now"):
        exchange.set_now(moment)
    return moment
