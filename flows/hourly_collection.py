"""Hourly collection: one snapshot per symbol for the hour that just closed."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows._common import (
    HourParam,
    SymbolParam,
    collected_at,
    commit_message,
    data_repository_lock,
    failure_reason,
    flow_timeout,
    logger,
    open_context,
    resolve_hour,
)
from flows._hooks import FAILURE_HOOKS
from flows._run_names import run_name
from market_maker.base.errors import RunFailed
from market_maker.base.timeutil import format_utc
from market_maker.pipeline.collection import HourOutcome, written_paths
from market_maker.pipeline.collection_result import CollectionResult, SnapshotOutcome
from tasks.snapshots import collect_hours_task
from tasks.store import commit_task, push_task, sync_task


@flow(
    name="hourly-collection",
    flow_run_name=run_name("hourly-collection"),
    description="Collect one hour's snapshot for each symbol.",
    timeout_seconds=flow_timeout(600),
    **FAILURE_HOOKS,
)
def hourly_collection(
    symbols: list[SymbolParam] | None = None, hour: HourParam = None
) -> CollectionResult:
    """Collect the snapshot of ``hour`` (default: the last closed hour) for each symbol.

    Symbols are independent: one failing does not stop the others; the run
    fails at the end if any did. A rerun for the same hour changes nothing.

    Args:
        symbols: Symbols to collect; empty: the symbols in the configuration.
        hour: UTC hour to collect; empty: the hour before the scheduled start (or the last
            closed hour for a run started by hand).
    """
    log = logger()
    ctx = open_context(symbols)
    symbols = symbols or list(ctx.settings.symbols)
    exchange = ctx.exchange  # builds the client (and checks a KuCoin key) before anything else
    target = resolve_hour(hour, exchange, ctx.settings.snapshots.period_minutes)
    log.info("collecting %s for %s from %s", ", ".join(symbols), format_utc(target), exchange.name)

    outcomes: list[HourOutcome] = []
    failures: dict[str, str] = {}
    with data_repository_lock(ctx):
        sync_task(ctx)
        stamp = collected_at(exchange)
        for symbol in symbols:
            state = collect_hours_task(ctx, symbol, [target], stamp, return_state=True)
            if state.is_completed():
                outcomes += state.result()
            else:
                failures[symbol] = failure_reason(state)
        detail = "\n".join(str(o) for o in outcomes) or "nothing collected"
        sha = commit_task(
            ctx,
            commit_message("hourly-collection", ",".join(symbols), [target], detail),
            written_paths(outcomes),
        )
        pushed = push_task(ctx)

    result = CollectionResult(
        hour=target,
        outcomes=[SnapshotOutcome.of(o) for o in outcomes],
        failed=failures,
        commit=sha,
        pushed=pushed.pushed,
        push_detail=pushed.detail,
    )
    create_markdown_artifact(
        key="hourly-collection",
        markdown=result.markdown(),
        description=f"Collection of {format_utc(target)}",
    )
    if failures:
        raise RunFailed(
            "collection failed for "
            + "; ".join(f"{symbol}: {reason}" for symbol, reason in failures.items())
        )
    return result
