"""Benchmark: the regime analysis of a year of hourly snapshots, and its kernels against TA-Lib.

1. Backfills 2023 (8,760 hourly snapshots) from the two-year recording into
   var/bench/regime-repo once (kept for later runs; delete it to start over).
2. Times ``analyze_range`` over the year: cold (the columnar cache is built
   from the snapshot files: every file parsed once) and warm (cache loaded,
   six metrics on 1h and 4h, classification, confidence, records in columnar
   form), then materialising the 8,760 metrics records.
3. Times each TA-Lib-defined kernel over the same 8,760 1h windows against
   TA-Lib called window by window, and checks they agree.

    .venv/bin/python benchmarks/regime_analysis.py [--data FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import talib

from market_maker.base.candles import Interval, aggregate
from market_maker.base.timeutil import format_utc
from market_maker.config import load_settings
from market_maker.context import RunContext
from market_maker.exchange.replay import load_recorded_minutes
from market_maker.pipeline.backfill import plan_chunks
from market_maker.pipeline.collection import collect_hours, written_paths
from market_maker.regime import kernels
from market_maker.regime.metrics import windows as cut_windows
from market_maker.regime.stored_analysis import analyze_range

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared/data/ETHUSDT-1m-2022-2023-binance-futures.csv.gz"
START, END = datetime(2023, 1, 1, tzinfo=UTC), datetime(2023, 12, 31, 23, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    os.environ["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"] = str(ROOT / "var/bench/regime-repo")
    os.environ["MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL"] = ""
    os.environ["MARKET_MAKER_REPLAY__DATA_FILE"] = str(args.data)
    settings = load_settings()
    ctx = RunContext.open(settings)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )

    t0 = time.perf_counter()
    written = 0
    for chunk in plan_chunks(START, END, 24 * 31):
        paths = written_paths(collect_hours(ctx, "ETH-USDT", chunk, collected_at=datetime.now(UTC)))
        written += len(paths)
        ctx.store.commit(f"backfill: ETH-USDT {format_utc(chunk[0])}", paths)
    elapsed = time.perf_counter() - t0
    print(f"backfill pass over 2023 ({written} snapshots written now): {elapsed:.1f} s")

    shutil.rmtree(ctx.cache_dir, ignore_errors=True)
    timings = {}
    for label in ("cold", "warm", "warm"):
        ctx = RunContext.open(settings)  # a fresh reader: no in-process parse cache
        t0 = time.perf_counter()
        result = analyze_range(
            ctx.reader,
            ctx.cache_dir,
            "ETH-USDT",
            START,
            END,
            settings.regime,
            config_version=settings.config_version,
            code_version="bench",
        )
        timings[label] = time.perf_counter() - t0
    t0 = time.perf_counter()
    records = result.records()
    t_records = time.perf_counter() - t0
    print(f"analyze_range, 8,760 hours, cold cache (parse each snapshot): {timings['cold']:.2f} s")
    print(
        f"analyze_range, 8,760 hours, warm cache (load, metrics, classify): {timings['warm']:.2f} s"
    )
    print(f"  materialise {len(records)} metrics records: {t_records:.2f} s")
    print("  " + "\n  ".join(result.summary.lines()[:6]))

    minutes = load_recorded_minutes(args.data)
    hours = aggregate(minutes, Interval.HOUR)
    end_index = np.searchsorted(hours.t, int(END.timestamp())) + 1
    _kernel_table(hours, end_index - 8760, end_index)


def _kernel_table(hours, lo: int, hi: int) -> None:
    ends = np.arange(lo, hi)

    def windows(values: np.ndarray, n: int) -> np.ndarray:
        """The windows exactly as the analysis cuts them (metrics.windows)."""
        return cut_windows(values, ends, n)

    h, low, c = hours.high, hours.low, hours.close
    cases = {
        "ADX(14), 150 bars": (
            lambda: kernels.adx(windows(h, 150), windows(low, 150), windows(c, 150), 14),
            lambda: [
                talib.ADX(a, b, d, 14)[-1]
                for a, b, d in zip(windows(h, 150), windows(low, 150), windows(c, 150), strict=True)
            ],
        ),
        "ER(20), 21 bars": (
            lambda: kernels.efficiency_ratio(windows(c, 21)),
            lambda: [talib.ER(w, 20)[-1] for w in windows(c, 21)],
        ),
        "LINEARREG_SLOPE, 48 bars": (
            lambda: kernels.regression_slope(np.log(windows(c, 48))),
            lambda: [talib.LINEARREG_SLOPE(w, 48)[-1] for w in np.log(windows(c, 48))],
        ),
        "BBANDS(20, 2) bandwidth": (
            lambda: kernels.bollinger_bandwidth(windows(c, 20)),
            lambda: [
                (u[-1] - d[-1]) / m[-1]
                for u, m, d in (talib.BBANDS(w, 20, 2, 2, 0) for w in windows(c, 20))
            ],
        ),
    }
    print("kernels over the same 8,760 1h windows (best of 5):")
    print(f"  {'kernel':26s} {'ours':>9s} {'TA-Lib':>9s} {'ratio':>6s}  max |diff|")
    for name, (ours, theirs) in cases.items():
        a, ta = _best(ours), _best(theirs)
        diff = float(np.nanmax(np.abs(np.asarray(ours()) - np.asarray(theirs()))))
        print(f"  {name:26s} {1000 * a:7.1f}ms {1000 * ta:7.1f}ms {a / ta:6.2f}  {diff:.1e}")


def _best(fn) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


if __name__ == "__main__":
    main()
