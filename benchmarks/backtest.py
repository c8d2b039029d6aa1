"""Benchmark: a year of backtest against replaying the hourly pipeline, and a sweep.

1. Loads a year of 1-minute candles from the two-year recording, then times the
   backtest's compute (the hourly analysis of every hour, the exit engine,
   the grid simulation under the system and its baselines, the KPIs), with protocol
   grids and with the full lifecycle (placement system, the setup switched on).
2. Times the hourly pipeline flow (``run-hourly``: snapshot, analysis, exit
   evaluation, decision and state files, commit) over ``--hourly-hours`` hours of
   the same recording with a running grid, in a temporary data repository, and
   prints the per-hour ratio.
3. With ``--sweep N``: the wall time of an N-point sweep over the year (half
   train, half test) on this machine's cores.

    .venv/bin/python benchmarks/backtest.py [--data-file F] [--hourly-hours 48] [--sweep 100]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from market_maker.backtest.parameters import parse_parameters
from market_maker.backtest.run import run_backtest
from market_maker.backtest.scoring import figures
from market_maker.config import load_settings
from market_maker.exchange.replay import load_recorded_minutes

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared/data/ETHUSDT-1m-2022-2023-binance-futures.csv.gz"
START, END = datetime(2023, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-file", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--hourly-hours", type=int, default=48)
    parser.add_argument("--sweep", type=int, default=0, help="points of a sweep to time")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")

    t0 = time.perf_counter()
    minutes = load_recorded_minutes(args.data_file)
    year = minutes.between(START - timedelta(days=30), END)
    print(f"load CSV ({len(minutes):,} minutes): {time.perf_counter() - t0:.2f} s")

    settings = load_settings()
    lifecycle = settings.lifecycle.model_copy(
        update={"setup": settings.lifecycle.setup.model_copy(update={"enabled": True})}
    )
    for placement in ("protocol", "system"):
        params = parse_parameters({"start": START, "end": END, "placement": placement})
        tuned = settings.model_copy(update={"lifecycle": lifecycle})
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            run = run_backtest(params, tuned, year)
            figs = figures(run)
            best = min(best, time.perf_counter() - t0)
        hours = len(run.hour_index)
        print(
            f"backtest compute, one year, {placement} placement ({hours:,} hours, "
            f"{len(run.grids)} grids, {sum(len(t.evaluations) for t in run.tracks):,} evaluated "
            f"hours, {figs['system'].fills:,} system fills): {best:.2f} s (best of 3; target "
            f"< 3 s), {1000 * best / hours:.3f} ms per hour"
        )

    per_hour_flow = hourly_replay(args.data_file, args.hourly_hours)
    per_hour_backtest = best / hours
    print(
        f"run-hourly replay: {1000 * per_hour_flow:.1f} ms per hour "
        f"(a year: {per_hour_flow * hours / 60:.1f} min); backtest is "
        f"{per_hour_flow / per_hour_backtest:,.0f}x faster per hour (target >= 20x)"
    )

    if args.sweep:
        sweep_wall(args.sweep, args.data_file)


def hourly_replay(data_file: Path, count: int) -> float:
    """Seconds per hour of the hourly pipeline flow over ``count`` hours with a grid running."""
    from flows.hourly_pipeline import hourly_pipeline
    from market_maker.operator.grids import grid_add

    start = datetime(2023, 3, 6, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"] = str(Path(tmp) / "repo")
        os.environ["MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL"] = ""
        os.environ["MARKET_MAKER_REPLAY__DATA_FILE"] = str(data_file)
        grid = {
            "schema_version": "1.0",
            "id": "bench-grid",
            "symbol": "ETH-USDT",
            "lower_price": 1500.0,
            "upper_price": 1700.0,
            "levels": 20,
            "amount_per_grid": 0.01,
            "profit_per_grid": 0.0055,
            "history": [{"enabled": "2023-03-01T00:00:00Z"}],
        }
        path = Path(tmp) / "grid.yaml"
        path.write_text(yaml.safe_dump(grid))
        grid_add(path)
        # The first call pays for the temporary Prefect server's start: not part of an hour.
        hourly_pipeline(symbols=["ETH-USDT"], start=start - timedelta(hours=1), end=start)
        t0 = time.perf_counter()
        hourly_pipeline(
            symbols=["ETH-USDT"],
            start=start + timedelta(hours=1),
            end=start + timedelta(hours=count),
        )
        elapsed = time.perf_counter() - t0
    return elapsed / count


def sweep_wall(points: int, data_file: Path) -> None:
    """Wall time of the sweep flow: ``points`` backtests on each half of the year."""
    from flows.backtest import backtest_sweep

    widths = [round(2.0 + 0.1 * k, 1) for k in range(points)]
    base = parse_parameters({"data_file": str(data_file), "start": START, "end": END})
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"] = str(Path(tmp) / "repo")
        os.environ["MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL"] = ""
        t0 = time.perf_counter()
        result = backtest_sweep(
            base=base,
            values={"half_width_pct": widths},
            split=datetime(2023, 7, 1, tzinfo=UTC),
            rank_by="pnl",
        )
        wall = time.perf_counter() - t0
    print(
        f"sweep flow, {result.points} points x 2 periods (half_width_pct 2.0..{widths[-1]}): "
        f"{wall:.1f} s wall on {os.cpu_count()} cores, flow start included"
    )


if __name__ == "__main__":
    main()
