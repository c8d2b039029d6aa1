"""Exit evaluation: the running grid's exit state for an hour, its decision record and alert."""

from __future__ import annotations

import time

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows._common import (
    HourParam,
    SymbolParam,
    commit_message,
    data_repository_lock,
    flow_run_url,
    flow_timeout,
    log_duration,
    logger,
    open_context,
    resolve_hour,
)
from flows._hooks import FAILURE_HOOKS
from flows._run_names import run_name
from market_maker.pipeline.exit_result import ExitEvaluationResult
from market_maker.pipeline.steps import exit_evaluator, hour_alerts, hour_services, load_book
from tasks.exit import evaluate_exit_task
from tasks.store import commit_task, push_task, sync_task


@flow(
    name="exit-evaluation",
    flow_run_name=run_name("exit-evaluation"),
    description="Evaluate the running grid's exit state.",
    timeout_seconds=flow_timeout(600),
    **FAILURE_HOOKS,
)
def exit_evaluation(symbol: SymbolParam, hour: HourParam = None) -> ExitEvaluationResult:
    """Evaluate ``hour`` (default: the last closed hour) from its stored metrics file.

    Args:
        symbol: Symbol as the exchange names it, e.g. ETH-USDT.
        hour: UTC hour to evaluate; empty: the hour before the scheduled start.
    """
    log = logger()
    ctx = open_context([symbol])
    target = resolve_hour(hour, ctx.exchange, ctx.settings.snapshots.period_minutes)
    started = time.perf_counter()
    with data_repository_lock(ctx):
        sync_task(ctx)
        book = load_book(ctx)
        evaluator = exit_evaluator(ctx)
        alerts = hour_alerts(ctx.store.path, ctx.settings, evaluator)
        h = hour_services(ctx, book=book, exits=evaluator, alerts=alerts, run_url=flow_run_url())
        outcome = evaluate_exit_task(h, symbol, target)
        sha = commit_task(
            ctx, commit_message("exit-evaluation", symbol, [target], outcome.line()), outcome.paths
        )
        pushed = push_task(ctx)
    log_duration(log, "exit evaluation", time.perf_counter() - started, ctx.settings)
    log.info(outcome.line())
    result = ExitEvaluationResult.of(outcome, sha, pushed.pushed)
    create_markdown_artifact(
        key="exit-evaluation",
        markdown=result.markdown(),
        description=result.line[:250],
    )
    return result
