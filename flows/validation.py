"""Validation of stored snapshots: every problem, with its file."""

from __future__ import annotations

from datetime import datetime

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows._common import HourParam, SymbolParam, flow_timeout, open_context
from flows._hooks import FAILURE_HOOKS
from flows.run_names import run_name
from market_maker.errors import DataError, ParameterError
from market_maker.timeutil import format_utc
from tasks.snapshots import validate_task


@flow(
    name="validate-snapshots",
    flow_run_name=run_name("validate-snapshots"),
    description="Validate stored snapshots and how they join.",
    timeout_seconds=flow_timeout(3600),
    **FAILURE_HOOKS,
)
def validate_snapshots(
    symbol: SymbolParam,
    start: HourParam = None,
    end: HourParam = None,
    fail_on_error: bool = True,
) -> dict[str, object]:
    """Validate the snapshots of ``symbol`` in [start, end] (all stored by default).

    Args:
        symbol: Symbol as the exchange names it, e.g. ETH-USDT.
        start: First hour to check (UTC); empty with end empty: every stored hour.
        end: Last hour to check, inclusive.
        fail_on_error: End the run Failed when any error is found (the problems are in the
            artifact either way), so a CI job waiting on the run fails too.
    """
    if start is not None and end is not None and end < start:
        raise ParameterError(f"end {format_utc(end)} is before start {format_utc(start)}")
    ctx = open_context([symbol])
    report = validate_task(ctx, symbol, start, end)
    create_markdown_artifact(
        key="snapshot-validation",
        markdown=_markdown(symbol, start, end, report),
        description=f"{symbol}: {len(report.errors)} error(s)",
    )
    result = {
        "symbol": symbol,
        "files_checked": report.files_checked,
        "errors": [str(p) for p in report.errors],
        "warnings": [str(p) for p in report.warnings],
        "ok": report.ok,
    }
    if fail_on_error and not report.ok:
        listed = "\n".join(str(p) for p in report.errors[:50])
        raise DataError(f"{len(report.errors)} snapshot error(s) for {symbol}:\n{listed}")
    return result


def _markdown(symbol: str, start: datetime | None, end: datetime | None, report) -> str:
    span = f"{format_utc(start)}..{format_utc(end)}" if start and end else "all stored hours"
    lines = [
        f"# Validation of {symbol} ({span})",
        "",
        f"{report.files_checked} file(s) checked: {len(report.errors)} error(s), "
        f"{len(report.warnings)} warning(s).",
    ]
    if report.problems:
        lines += ["", "| file | severity | field | problem |", "|---|---|---|---|"]
        lines += [
            f"| {p.file} | {p.severity} | {p.field} | {p.message} |" for p in report.problems[:500]
        ]
    return "\n".join(lines)
