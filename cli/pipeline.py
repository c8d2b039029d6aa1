"""The hourly decision commands: evaluate-exit, setup, run-hourly."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cli.checks import check_hours, settings_for
from market_maker.base.timeutil import format_utc
from market_maker.config import load_settings

if TYPE_CHECKING:
    from market_maker.pipeline.result import PipelineResult


def check_evaluate_exit(args: argparse.Namespace) -> None:
    check_hours(settings_for([args.symbol]), hour=args.hour)


def check_run_hourly(args: argparse.Namespace) -> None:
    check_hours(settings_for(args.symbol), hour=args.hour, start=args.start, end=args.end)


def cmd_evaluate_exit(args: argparse.Namespace) -> int:
    from flows.exit_evaluation import exit_evaluation

    result = exit_evaluation(symbol=args.symbol, hour=args.hour)
    print(result.line)
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    from market_maker.context import RunContext
    from market_maker.lifecycle.balance import balance_of
    from market_maker.lifecycle.setup_report import latest_analysed_hour, setup_lines

    settings = load_settings()
    settings.require_symbols([args.symbol])
    ctx = RunContext.open(settings)
    root = ctx.store.path
    hour = args.hour or latest_analysed_hour(root, args.symbol, settings.snapshots.period_minutes)
    balance = balance_of(settings, ctx.exchange, args.symbol.split("-")[1])
    for line in setup_lines(root, settings, args.symbol, hour, balance):
        print(line)
    return 0


def cmd_run_hourly(args: argparse.Namespace) -> int:
    from flows.hourly_pipeline import hourly_pipeline

    result = hourly_pipeline(symbols=args.symbol, hour=args.hour, start=args.start, end=args.end)
    print_pipeline(result, verbose=args.start is None)
    return 0


def print_pipeline(result: PipelineResult, *, verbose: bool) -> None:
    if verbose:
        for symbol, lines in result.lines.items():
            for line in lines:
                print(f"{symbol} {line}")
    print("exit-state timeline:" if result.transitions else "exit-state timeline: no change")
    for t in result.transitions:
        print(f"  {format_utc(t.hour)} {t.symbol} {t.from_state} -> {t.to_state}: {t.reasons[0]}")
    print(f"notifications: {len(result.notifications)}")
    for n in result.notifications:
        print(f"  {format_utc(n.hour)} priority {n.priority:>2} {n.title}")
