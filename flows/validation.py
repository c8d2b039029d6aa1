"""Validation of stored snapshots: every problem, with its file."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows._common import HourParam, SymbolParam, flow_timeout, open_context
from flows._hooks import FAILURE_HOOKS
from flows._run_names import run_name
from market_maker.base.errors import DataError
from market_maker.base.hour_span import HourSpan
from market_maker.snapshots.validation_result import ValidationResult
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
) -> ValidationResult:
    """Validate the snapshots of ``symbol`` in [start, end] (all stored by default).

    Args:
        symbol: Symbol as the exchange names it, e.g. ETH-USDT.
        start: First hour to check (UTC); empty with end empty: every stored hour.
        end: Last hour to check, inclusive.
        fail_on_error: End the run Failed when any error is found (the problems are in the
            artifact either way), so a CI job waiting on the run fails too.
    """
    ctx = open_context([symbol])
    # An inverted or misaligned range is refused before anything is read.
    HourSpan.optional(start, end, ctx.settings.snapshots.period_minutes)
    report = validate_task(ctx, symbol, start, end)
    result = ValidationResult.of(report, start, end)
    create_markdown_artifact(
        key="snapshot-validation",
        markdown=result.markdown(),
        description=f"{symbol}: {len(result.errors)} error(s)",
    )
    if fail_on_error and not result.ok:
        listed = "\n".join(str(p) for p in result.errors[:50])
        raise DataError(f"{len(result.errors)} snapshot error(s) for {symbol}:\n{listed}")
    return result
