"""Commands on the snapshots: collect, backfill, validate, maintenance."""

from __future__ import annotations

import argparse
import re

from cli.checks import check_hours, settings_for
from market_maker.base.errors import ParameterError
from market_maker.base.timeutil import format_utc

MAX_CHUNK_HOURS = 744  # a month: as the backfill flow's parameter allows
SYMBOL_MONTH = re.compile(r"^[A-Z0-9]+-[A-Z0-9]+:\d{4}-(0[1-9]|1[0-2])$")  # as maintenance's


def check_collect(args: argparse.Namespace) -> None:
    check_hours(settings_for(args.symbol), hour=args.hour)


def check_backfill(args: argparse.Namespace) -> None:
    check_hours(settings_for([args.symbol]), start=args.start, end=args.end)
    if args.chunk_hours is not None and not 1 <= args.chunk_hours <= MAX_CHUNK_HOURS:
        raise ParameterError(f"--chunk-hours: from 1 to {MAX_CHUNK_HOURS}, not {args.chunk_hours}")


def check_validate(args: argparse.Namespace) -> None:
    check_hours(settings_for([args.symbol]), start=args.start, end=args.end)


def check_maintenance(args: argparse.Namespace) -> None:
    settings_for(None)
    if args.pack_after_months is not None and args.pack_after_months < 1:
        raise ParameterError(f"--pack-after-months: 1 or more, not {args.pack_after_months}")
    for value in args.unpack or []:
        if not SYMBOL_MONTH.match(value):
            raise ParameterError(
                f"--unpack: {value!r} is not SYMBOL:YYYY-MM, e.g. ETH-USDT:2023-01"
            )


def cmd_collect(args: argparse.Namespace) -> int:
    from flows.hourly_collection import hourly_collection

    result = hourly_collection(symbols=args.symbol, hour=args.hour)
    for line in result.lines():
        print(line)
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from flows.backfill import backfill

    result = backfill(
        symbol=args.symbol, start=args.start, end=args.end, chunk_hours=args.chunk_hours
    )
    print(
        f"{result.symbol} {format_utc(result.start)}..{format_utc(result.end)}: "
        f"{result.written} written, {result.skipped} already valid, "
        f"{len(result.missing_at_source)} missing at the source, "
        f"{result.not_closed} not closed yet{result.unpushed_note()}"
    )
    for missing in result.missing_at_source:
        print(f"  missing at the source: {format_utc(missing.hour)}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from flows.validation import validate_snapshots

    result = validate_snapshots(
        symbol=args.symbol, start=args.start, end=args.end, fail_on_error=False
    )
    for problem in result.errors + result.warnings:
        print(problem)
    print(
        f"{result.symbol}: {result.files_checked} file(s) checked, "
        f"{len(result.errors)} error(s), {len(result.warnings)} warning(s)"
    )
    return 0 if result.ok else 1


def cmd_maintenance(args: argparse.Namespace) -> int:
    from flows.maintenance import maintenance

    report = maintenance(
        pack_after_months=args.pack_after_months, unpack=args.unpack or None, gc=not args.no_gc
    )
    for line in report.lines():
        print(line)
    return 0
