"""The KPIs of days, and the dashboard page."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, timedelta

from market_maker.config import load_settings


def _day_range(args: argparse.Namespace, command: str) -> list[date] | None:
    """The days of --date, or of --start..--end; None (after saying why) when inconsistent."""
    if args.date is not None and (args.start or args.end):
        print(f"market-maker {command}: give --date, or --start and --end", file=sys.stderr)
        return None
    if args.date is not None:
        return [args.date]
    if args.start is None or args.end is None:
        print(f"market-maker {command}: give --date, or --start and --end", file=sys.stderr)
        return None
    if args.end < args.start:
        print(
            f"market-maker {command}: --end {args.end} is before --start {args.start}",
            file=sys.stderr,
        )
        return None
    return [args.start + timedelta(days=i) for i in range((args.end - args.start).days + 1)]


def cmd_kpi(args: argparse.Namespace) -> int:
    """The KPI table of each day, computed from the records (nothing is written)."""
    from market_maker.context import RunContext
    from market_maker.kpis.daily_batch import KpiService
    from market_maker.kpis.tables import kpi_table

    days = _day_range(args, "kpi")
    if days is None:
        return 2
    ctx = RunContext.open(load_settings())
    service = KpiService.open(ctx)
    files = [service.kpi_file(day) for day in days]
    if args.format == "json":
        print(json.dumps([f.model_dump(mode="json") for f in files], indent=2))
    else:
        print("\n\n".join(kpi_table(f) for f in files))
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from pathlib import Path

    from market_maker.context import RunContext
    from market_maker.dashboard.render import write_dashboard

    ctx = RunContext.open(load_settings())
    day = args.date or (ctx.exchange.now() - timedelta(days=1)).date()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_dashboard(ctx, day, out_dir=out)
    print(out / "index.html")
    return 0
