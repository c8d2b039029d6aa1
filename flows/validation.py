"""Validation of stored snapshots: every problem, with its file."""

from __future__ import annotations

from datetime import datetime

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows._common import HourParam, SymbolParam, open_context
from flows._hooks import FAILURE_HOOKS
from market_maker.timeutil import format_utc
from tasks.snapshots import validate_task


@flow(
    name="validate-snapshots",
    description="Validate stored snapshots and how they join.",
    **FAILURE_HOOKS,
)
def validate_snapshots(
    symbol: SymbolParam, start: HourParam = None, end: HourParam = None
) -> dict[str, object]:
    """Validate the snapshots of ``symbol`` in [start, end] (all stored by default)."""
    ctx = open_context()
    report = validate_task(ctx, symbol, start, end)
    create_markdown_artifact(
        key="snapshot-validation",
        markdown=_markdown(symbol, start, end, report),
        description=f"{symbol}: {len(report.errors)} error(s)",
    )
    return {
        "symbol": symbol,
        "files_checked": report.files_checked,
        "errors": [str(p) for p in report.errors],
        "warnings": [str(p) for p in report.warnings],
        "ok": report.ok,
    }


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
