"""Regime commands: analyze (metrics files), regimes (the index), regime-report (a recording)."""

from __future__ import annotations

import argparse
import sys

from cli.checks import check_hours, settings_for
from market_maker.config import load_settings


def check_analyze(args: argparse.Namespace) -> None:
    check_hours(settings_for([args.symbol]), hour=args.hour, start=args.start, end=args.end)


def cmd_analyze(args: argparse.Namespace) -> int:
    from flows.snapshot_analysis import snapshot_analysis

    result = snapshot_analysis(
        symbol=args.symbol, hour=args.hour, start=args.start, end=args.end, recompute=args.recompute
    )
    for line in result.summary:
        print(line)
    print(
        f"metrics files: {result.written} written, {result.unchanged} unchanged, "
        f"{result.kept} kept (differ; --recompute replaces them)"
    )
    if result.invalid_snapshots:
        # The valid hours are written and committed; the run still did not do all it was asked.
        print(
            f"market-maker analyze: {len(result.invalid_snapshots)} invalid snapshot(s) not "
            f"analysed: {'; '.join(result.invalid_snapshots)} (`market-maker backfill` over "
            "those hours writes them again)",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_regimes(args: argparse.Namespace) -> int:
    from market_maker.operator.regimes import query_regimes

    output = query_regimes(
        symbol=args.symbol,
        start=args.start,
        end=args.end,
        verdict=args.verdict,
        transitions=args.transitions,
        at=args.at,
        confidence=args.confidence,
        output=args.format,
    )
    print(output)
    return 0


def cmd_regime_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from market_maker.base.timeutil import floor_hour, from_seconds
    from market_maker.exchange.replay import load_recorded_minutes
    from market_maker.regime.model import VERDICTS
    from market_maker.regime.recording_analysis import analyze_series, monthly_shares

    minutes = load_recorded_minutes(Path(args.data_file))
    start = args.start or floor_hour(from_seconds(int(minutes.t[0])))
    end = args.end or floor_hour(from_seconds(int(minutes.t[-1])))
    batch = analyze_series(args.symbol, minutes, start, end, load_settings().regime)
    columns = [*(str(v) for v in VERDICTS), "REFUSED"]
    print("| month | " + " | ".join(columns) + " | TREND+TRANSITION |")
    print("|---" * (len(columns) + 2) + "|")
    for month, shares in monthly_shares(batch).items():
        cells = [f"{100 * shares.get(c, 0):.0f} %" for c in columns]
        trendish = 100 * (shares.get("TREND", 0) + shares.get("TRANSITION", 0))
        print(f"| {month} | " + " | ".join(cells) + f" | {trendish:.0f} % |")
    return 0
