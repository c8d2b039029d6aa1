"""Backfill: snapshots for a past range, written only where missing or invalid."""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from pydantic import Field

from flows._common import (
    RequiredHour,
    SymbolParam,
    collected_at,
    commit_message,
    data_repository_lock,
    flow_timeout,
    logger,
    open_context,
)
from flows._hooks import FAILURE_HOOKS
from flows._run_names import run_name
from market_maker.base.hour_span import HourSpan
from market_maker.pipeline.backfill import BackfillReport, BackfillResult, plan_chunks
from market_maker.pipeline.collection import written_paths
from tasks.snapshots import collect_hours_task
from tasks.store import commit_task, push_task, sync_task

ChunkHours = Annotated[
    int | None,
    Field(ge=1, le=744, description="Hours per fetch and commit; empty for the configured value."),
]


@flow(
    name="backfill",
    flow_run_name=run_name("backfill"),
    description="Write missing or invalid snapshots for a past range.",
    timeout_seconds=flow_timeout(21600),
    **FAILURE_HOOKS,
)
def backfill(
    symbol: SymbolParam, start: RequiredHour, end: RequiredHour, chunk_hours: ChunkHours = None
) -> BackfillResult:
    """Backfill ``symbol`` for every hour in [start, end], a chunk at a time.

    Each chunk is fetched, written, committed and pushed under the repository
    lock, which is released between chunks so hourly runs are not held up.

    Args:
        symbol: Symbol as the exchange names it, e.g. ETH-USDT.
        start: First hour to backfill (UTC, on the hour).
        end: Last hour to backfill, inclusive.
        chunk_hours: Hours fetched and committed together; empty: the configured 168.
    """
    log = logger()
    ctx = open_context([symbol])
    minutes = ctx.settings.snapshots.period_minutes
    span = HourSpan.between(start, end, minutes)
    exchange = ctx.exchange
    chunks = plan_chunks(
        span.start, span.end, chunk_hours or ctx.settings.backfill.chunk_hours, minutes
    )
    report = BackfillReport(symbol, span.start, span.end)
    progress = create_progress_artifact(
        progress=0.0, key="backfill-progress", description=f"Backfill {symbol}"
    )
    for number, hours in enumerate(chunks, start=1):
        with data_repository_lock(ctx):
            sync_task(ctx)
            outcomes = collect_hours_task(ctx, symbol, hours, collected_at(exchange))
            report.outcomes += outcomes
            written = written_paths(outcomes)
            detail = f"{len(written)} snapshot(s) written, chunk {number} of {len(chunks)}"
            sha = commit_task(ctx, commit_message("backfill", symbol, hours, detail), written)
            if sha:
                report.commits.append(sha)
            push_task(ctx)
        update_progress_artifact(progress, 100.0 * number / len(chunks))
        log.info("chunk %d/%d: %s", number, len(chunks), _chunk_line(outcomes))

    if ctx.store.remote_url:
        report.unpushed = ctx.store.unpushed_count()
    result = report.result()
    create_markdown_artifact(
        key="backfill-summary", markdown=result.markdown(), description=result.summary_line()
    )
    log.info(result.summary_line())
    return result


def _chunk_line(outcomes) -> str:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "empty"
