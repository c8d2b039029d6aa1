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
from flows.run_names import run_name
from market_maker.backfill import BackfillReport, plan_chunks
from market_maker.collection import written_paths
from market_maker.errors import ParameterError
from market_maker.timeutil import format_utc
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
) -> dict[str, object]:
    """Backfill ``symbol`` for every hour in [start, end], a chunk at a time.

    Each chunk is fetched, written, committed and pushed under the repository
    lock, which is released between chunks so hourly runs are not held up.

    Args:
        symbol: Symbol as the exchange names it, e.g. ETH-USDT.
        start: First hour to backfill (UTC, on the hour).
        end: Last hour to backfill, inclusive.
        chunk_hours: Hours fetched and committed together; empty: the configured 168.
    """
    if end < start:
        raise ParameterError(f"end {format_utc(end)} is before start {format_utc(start)}")
    log = logger()
    ctx = open_context([symbol])
    exchange = ctx.exchange
    chunks = plan_chunks(start, end, chunk_hours or ctx.settings.backfill.chunk_hours)
    report = BackfillReport(symbol, start, end)
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

    create_markdown_artifact(
        key="backfill-summary", markdown=report.markdown(), description=report.summary_line()
    )
    log.info(report.summary_line())
    return {
        "symbol": symbol,
        "start": format_utc(start),
        "end": format_utc(end),
        "written": report.written,
        "skipped": report.skipped,
        "missing_at_source": [format_utc(o.hour) for o in report.missing_at_source],
        "not_closed": report.not_closed,
        "commits": report.commits,
    }


def _chunk_line(outcomes) -> str:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "empty"
