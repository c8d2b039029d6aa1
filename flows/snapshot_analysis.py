"""Snapshot analysis: the regime of an hour (or of a range of hours), as metrics files."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows._common import (
    HourParam,
    SymbolParam,
    commit_message,
    data_repository_lock,
    flow_timeout,
    hours_of,
    logger,
    open_context,
)
from flows._hooks import FAILURE_HOOKS
from flows._run_names import run_name
from market_maker.regime.analysis_result import AnalysisResult, hour_line, verdict_of
from market_maker.regime.markdown import metrics_markdown, range_markdown
from market_maker.regime.model import MetricsFile
from tasks.regime import (
    analyze_hour_task,
    analyze_range_task,
    refresh_index_task,
    write_metrics_task,
)
from tasks.store import commit_task, push_task, sync_task


@flow(
    name="snapshot-analysis",
    flow_run_name=run_name("snapshot-analysis"),
    description="Classify the market regime of stored snapshots.",
    timeout_seconds=flow_timeout(3600),
    **FAILURE_HOOKS,
)
def snapshot_analysis(
    symbol: SymbolParam,
    hour: HourParam = None,
    start: HourParam = None,
    end: HourParam = None,
    recompute: bool = False,
) -> AnalysisResult:
    """Analyse ``hour`` (default: the last closed hour, as collection), or every stored hour in
    [start, end]; write one metrics file per hour and one commit.

    An existing metrics file with other content (another configuration or
    code version) is kept unless ``recompute``.

    Args:
        symbol: Symbol as the exchange names it, e.g. ETH-USDT.
        hour: UTC hour to analyse; empty (with no range): the last closed hour.
        start: First hour of a range to analyse (one metrics file per stored hour).
        end: Last hour of the range, inclusive.
        recompute: Replace metrics files that differ from this analysis.
    """
    log = logger()
    ctx = open_context([symbol])
    span = hours_of(ctx, hour, start, end)
    invalid: list[str] = []
    with data_repository_lock(ctx):
        sync_task(ctx)
        if not span.single:
            analysis = analyze_range_task(ctx, symbol, span.start, span.end)
            records = analysis.records()
            summary_lines = analysis.summary.lines()
            markdown = range_markdown(analysis.summary)
            invalid = [f"{path}: {why}" for path, why in analysis.summary.invalid_reasons]
        else:
            record: MetricsFile = analyze_hour_task(ctx, symbol, span.start)
            records = [record]
            summary_lines = [hour_line(record)]
            markdown = metrics_markdown(record)
        outcomes = write_metrics_task(ctx, records, recompute)
        written = [path for path, status in outcomes if status == "written"]
        kept = [path for path, status in outcomes if status == "kept"]
        sha = commit_task(
            ctx,
            commit_message(
                "snapshot-analysis", symbol, span.hours(), f"{len(written)} metrics file(s) written"
            ),
            written,
        )
        pushed = push_task(ctx)
    refresh_index_task(ctx, symbol)
    for line in summary_lines:
        log.info(line)
    for line in invalid:
        log.warning("invalid snapshot, not analysed: %s", line)
    if kept:
        log.warning(
            "%d metrics file(s) differ from this analysis and were kept (recompute to replace)",
            len(kept),
        )
    result = AnalysisResult(
        symbol=symbol,
        hours=len(records),
        written=len(written),
        unchanged=sum(1 for _, status in outcomes if status == "unchanged"),
        kept=len(kept),
        summary=summary_lines,
        verdicts=[verdict_of(r) for r in records],
        invalid_snapshots=invalid,
        commit=sha,
        pushed=pushed.pushed,
        markdown_text=markdown,
    )
    create_markdown_artifact(
        key="snapshot-analysis", markdown=result.markdown(), description=summary_lines[0][:250]
    )
    return result
