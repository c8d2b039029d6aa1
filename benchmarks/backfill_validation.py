"""Benchmark: backfill and validate 30 days of hourly snapshots from the replay exchange.

Runs the library code the backfill flow runs (fetch, build, atomic validated
write, one commit per chunk) against a temporary data repository, then
validates the 30 days cold (new reader) and warm (cached reader). With
``--flow`` it also times the Prefect backfill flow end to end.

    .venv/bin/python benchmarks/backfill_validation.py [--days 30] [--flow]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from market_maker.base.timeutil import HOUR, format_utc
from market_maker.config import load_settings
from market_maker.context import RunContext
from market_maker.pipeline.backfill import plan_chunks
from market_maker.pipeline.collection import collect_hours, written_paths
from market_maker.snapshots import SnapshotReader

START = datetime(2023, 7, 1, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--flow", action="store_true", help="also time the Prefect flow")
    args = parser.parse_args()
    end = START + timedelta(days=args.days) - HOUR
    hours = args.days * 24

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"] = str(Path(tmp) / "repo")
        os.environ["MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL"] = ""
        settings = load_settings()
        ctx = RunContext.open(settings)
        t0 = time.perf_counter()
        _ = ctx.exchange  # loads and aggregates the recording (cached per process)
        t_load = time.perf_counter() - t0

        t0 = time.perf_counter()
        written = 0
        for chunk in plan_chunks(START, end, settings.backfill.chunk_hours):
            outcomes = collect_hours(ctx, "ETH-USDT", chunk, collected_at=datetime.now(UTC))
            paths = written_paths(outcomes)
            written += len(paths)
            ctx.store.commit(f"backfill: ETH-USDT {format_utc(chunk[0])}", paths)
        t_backfill = time.perf_counter() - t0

        t0 = time.perf_counter()
        rerun = collect_hours(
            ctx, "ETH-USDT", list(_hours(START, end)), collected_at=datetime.now(UTC)
        )
        t_rerun = time.perf_counter() - t0
        assert not written_paths(rerun)

        t0 = time.perf_counter()
        report = SnapshotReader(ctx.store.path, ctx.limits).validate("ETH-USDT", START, end)
        t_cold = time.perf_counter() - t0
        reader = SnapshotReader(ctx.store.path, ctx.limits)
        reader.validate("ETH-USDT", START, end)
        t0 = time.perf_counter()
        reader.validate("ETH-USDT", START, end)
        t_warm = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in (ctx.store.path / "snapshots").rglob("*.json"))

        print(
            f"machine: {platform.machine()} {os.cpu_count()} cores, "
            f"Python {platform.python_version()}"
        )
        print(f"recording load + 1h/4h aggregation: {t_load:6.2f} s")
        print(
            f"backfill {hours} h ({written} written, {len(plan_chunks(START, end, 168))} commits): "
            f"{t_backfill:6.2f} s  ({1000 * t_backfill / hours:.1f} ms/hour)"
        )
        print(
            f"rerun, nothing to write:            {t_rerun:6.2f} s  "
            f"({1000 * t_rerun / hours:.1f} ms/hour)"
        )
        print(
            f"validate {hours} h, cold reader:        {t_cold:6.2f} s  "
            f"({1000 * t_cold / hours:.2f} ms/file)"
            f"  ok={report.ok}"
        )
        print(f"validate {hours} h, warm reader:        {t_warm:6.2f} s")
        print(f"snapshot bytes: {size / 1e6:.1f} MB ({size / hours / 1e3:.1f} kB/file)")

        if args.flow:
            _time_flow(tmp, end, hours)


def _hours(start: datetime, end: datetime):
    hour = start
    while hour <= end:
        yield hour
        hour += HOUR


def _time_flow(tmp: str, end: datetime, hours: int) -> None:
    os.environ["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"] = str(Path(tmp) / "flow-repo")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows.backfill import backfill

    t0 = time.perf_counter()
    backfill(symbol="ETH-USDT", start=START, end=end)
    print(
        f"backfill flow {hours} h (Prefect, incl. server start): {time.perf_counter() - t0:6.2f} s"
    )


if __name__ == "__main__":
    main()
