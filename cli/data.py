"""Commands on the snapshots: collect, backfill, validate, maintenance."""

from __future__ import annotations

import argparse
import sys

from market_maker.base.timeutil import format_utc


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
        f"{result.not_closed} not closed yet"
    )
    for missing in result.missing_at_source:
        print(f"  missing at the source: {format_utc(missing.hour)}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from flows.validation import validate_snapshots

    if (args.start is None) != (args.end is None):
        print("validate: give both --start and --end, or neither", file=sys.stderr)
        return 2
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
