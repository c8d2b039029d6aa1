"""The hourly pipeline: collection -> analysis -> exit evaluation for each symbol, one commit."""

from __future__ import annotations

import time
from datetime import datetime

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows._common import (
    HourParam,
    SymbolParam,
    collected_at,
    commit_message,
    data_repository_lock,
    failure_reason,
    flow_run_url,
    flow_timeout,
    log_duration,
    logger,
    open_context,
    resolve_hour,
)
from flows._hooks import FAILURE_HOOKS
from flows.run_names import run_name
from market_maker.errors import ParameterError, RunFailed
from market_maker.exit_strategy.report import outcome_markdown
from market_maker.exit_strategy.service import ExitEvaluator
from market_maker.lifecycle.balance import base_balance_reader
from market_maker.notifications.notifier import Notifier
from market_maker.pipeline import HourResult, load_book
from market_maker.timeutil import format_utc, hours_between
from tasks.exit import pipeline_hours_task
from tasks.store import commit_task, push_task, sync_task


@flow(
    name="hourly-pipeline",
    flow_run_name=run_name("hourly-pipeline"),
    description="Collect, analyse and evaluate the exit state of every symbol for an hour.",
    timeout_seconds=flow_timeout(1800),
    **FAILURE_HOOKS,
)
def hourly_pipeline(
    symbols: list[SymbolParam] | None = None,
    hour: HourParam = None,
    start: HourParam = None,
    end: HourParam = None,
) -> dict[str, object]:
    """Run the hour (default: the last closed hour; the scheduled one for deployment runs).

    With ``start`` and ``end`` it replays every hour of the range in order, as the
    scheduler would have (one commit per day). Symbols are independent: one failing
    does not stop the others; the run fails at the end if any did.

    Args:
        symbols: Symbols to run; empty: the symbols in the configuration.
        hour: UTC hour to run; empty: the hour before the scheduled start (or the last closed
            hour for a run started by hand).
        start: First hour of a replay (with end; then hour stays empty).
        end: Last hour of the replay, inclusive.
    """
    if (start is None) != (end is None) or (start is not None and hour is not None):
        raise ParameterError("give hour, or start and end, or nothing")
    log = logger()
    ctx = open_context(symbols)
    symbols = symbols or list(ctx.settings.symbols)
    replay = start is not None and end is not None
    hours = list(hours_between(start, end)) if replay else [resolve_hour(hour, ctx.exchange)]
    chunks = _by_day(hours)
    evaluator = ExitEvaluator(ctx.store.path, ctx.settings, Notifier(ctx.settings.notifications))
    url = flow_run_url()
    evaluator.positions.base_balance = base_balance_reader(ctx.settings, ctx.exchange)
    results: dict[str, list[HourResult]] = {s: [] for s in symbols}
    failures: dict[str, str] = {}
    commits: list[str] = []
    started = time.perf_counter()
    for chunk in chunks:
        with data_repository_lock(ctx):
            sync_task(ctx)
            book = load_book(ctx)
            stamp = None if replay else collected_at(ctx.exchange)
            paths = []
            for symbol in symbols:
                if symbol in failures:
                    continue
                state = pipeline_hours_task(
                    ctx, evaluator, book, symbol, chunk, stamp, url, return_state=True
                )
                if state.is_completed():
                    done: list[HourResult] = state.result()
                    results[symbol] += done
                    paths += [p for r in done for p in r.paths]
                else:
                    failures[symbol] = failure_reason(state)
            detail = "\n".join(r.line() for s in symbols for r in results[s] if r.hour in chunk)
            sha = commit_task(
                ctx, commit_message("hourly-pipeline", ",".join(symbols), chunk, detail), paths
            )
            if sha:
                commits.append(sha)
            push_task(ctx)
    seconds = time.perf_counter() - started
    log_duration(
        log,
        f"hourly pipeline ({len(hours)} hour(s), {len(symbols)} symbol(s))",
        seconds,
        ctx.settings,
    )
    for symbol in symbols:
        for r in results[symbol][-24:]:
            log.info("%s %s", symbol, r.line())
    outcomes = [r.exit for s in symbols for r in results[s] if r.exit is not None]
    create_markdown_artifact(
        key="hourly-pipeline",
        markdown=outcome_markdown(outcomes) + _failures_markdown(failures),
        description=f"{len(hours)} hour(s) from {format_utc(hours[0])}",
    )
    summary = {
        "hours": [format_utc(h) for h in (hours if len(hours) <= 48 else [hours[0], hours[-1]])],
        "lines": {s: [r.line() for r in results[s]] for s in symbols},
        "transitions": [
            {
                "symbol": o.symbol,
                "hour": format_utc(o.hour),
                "from": str(o.evaluation.before),
                "to": str(o.evaluation.after),
                "reasons": o.evaluation.transition.reasons,
            }
            for o in outcomes
            if o.evaluation is not None and o.evaluation.transition is not None
        ],
        "notifications": [
            {
                "hour": format_utc(o.hour),
                "priority": o.notification.priority,
                "title": o.notification.title,
                "message": o.notification.message,
                "deliveries": [f"{d.channel}: {d.detail}" for d in o.deliveries],
            }
            for o in outcomes
            if o.notification is not None
        ],
        "failed": failures,
        "commits": commits,
        "seconds": round(seconds, 2),
    }
    if failures:
        raise RunFailed(
            "pipeline failed for " + "; ".join(f"{s}: {why}" for s, why in failures.items())
        )
    return summary


def _by_day(hours: list[datetime]) -> list[list[datetime]]:
    chunks: dict[str, list[datetime]] = {}
    for hour in hours:
        chunks.setdefault(hour.strftime("%Y-%m-%d"), []).append(hour)
    return list(chunks.values())


def _failures_markdown(failures: dict[str, str]) -> str:
    if not failures:
        return ""
    return "\n\n## Failed symbols\n\n" + "\n".join(f"- {s}: {why}" for s, why in failures.items())
