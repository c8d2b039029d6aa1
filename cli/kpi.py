"""The KPIs of days, and the dashboard page."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, timedelta

from market_maker.base.errors import ParameterError
from market_maker.config import load_settings


def _day_range(args: argparse.Namespace) -> list[date]:
    """The days of --date, or of --start..--end."""
    if args.date is not None and (args.start or args.end):
        raise ParameterError("give --date, or --start and --end")
    if args.date is not None:
        return [args.date]
    if args.start is None or args.end is None:
        raise ParameterError("give --date, or --start and --end")
    if args.end < args.start:
        raise ParameterError(f"--end {args.end} is before --start {args.start}")
    return [args.start + timedelta(days=i) for i in range((args.end - args.start).days + 1)]


def _with_data(ctx, days: list[date]) -> list[date]:
    """The days the snapshots cover; none is a ParameterError saying where the data is."""
    hours = [h for symbol in ctx.settings.symbols for h in ctx.reader.stored_hours(symbol)]
    asked = str(days[0]) if len(days) == 1 else f"{days[0]} .. {days[-1]}"
    if not hours:
        raise ParameterError(
            f"no data for {asked}: the data repository holds no snapshots yet "
            "(market-maker backfill or collect writes them)"
        )
    first, last = min(hours).date(), max(hours).date()
    covered = [d for d in days if first <= d <= last]
    where = f"the data starts on {first} and ends on {last}"
    if not covered:
        raise ParameterError(f"no data for {asked}: {where}")
    if len(covered) < len(days):
        print(f"market-maker kpi: days without data left out ({where})", file=sys.stderr)
    return covered


def cmd_kpi(args: argparse.Namespace) -> int:
    """The KPI table of each day, computed from the records (nothing is written)."""
    from market_maker.context import RunContext
    from market_maker.kpis.daily_batch import KpiService
    from market_maker.kpis.tables import kpi_table

    days = _day_range(args)
    ctx = RunContext.open(load_settings())
    days = _with_data(ctx, days)
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
