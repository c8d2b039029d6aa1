"""Benchmark: reading a year of hourly snapshots cold, one pydantic model per candle or as arrays.

1. Backfills 2023 (8,760 hourly snapshots) from the two-year recording into
   var/bench/regime-repo once (shared with benchmarks/regime_analysis.py).
2. Times, each with a fresh reader and an empty columnar cache:
   - parsing the 8,760 files as plain JSON (json, orjson): the floor;
   - ``analyze_range`` over the year the way it read files before (the snapshot model,
     one pydantic model per candle, then every check on the models), on one core;
   - the same with the array path, on one core, then as it runs by default: the months
     read in worker processes on every core (``snapshots/parallel.py``);
   - ``SnapshotReader.validate`` over the year, both ways (one core: it reads in order).
3. With ``--packed``: packs a copy of the year (one file per month) and times the cold
   analysis reading the packs.

Prints wall and CPU seconds (CPU: this process's and its worker processes', and the
workers' share of it); the machine's load average is printed too, since figures taken on
a busy machine are not comparable. With the workers' CPU w and the rest r, a run on an
idle 2-core machine takes about r + w / 2 (the months are shared evenly).

    .venv/bin/python benchmarks/snapshot_reading.py [--data FILE] [--repeat 3] [--packed]
        [--after-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from market_maker.base.timeutil import format_utc
from market_maker.config import load_settings
from market_maker.context import RunContext
from market_maker.pipeline.backfill import plan_chunks
from market_maker.pipeline.collection import collect_hours, written_paths
from market_maker.regime.stored_analysis import analyze_range
from market_maker.snapshots import SnapshotReader
from market_maker.snapshots import parallel as parallel_module
from market_maker.snapshots.arrays import SnapshotArrays
from market_maker.snapshots.packing import build_pack, pack_relpath
from market_maker.snapshots.utc_times import forget_times

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared/data/ETHUSDT-1m-2022-2023-binance-futures.csv.gz"
REPO = ROOT / "var/bench/regime-repo"
START, END = datetime(2023, 1, 1, tzinfo=UTC), datetime(2023, 12, 31, 23, tzinfo=UTC)
SYMBOL = "ETH-USDT"


class ModelPathReader(SnapshotReader):
    """Reads as before the array path: the snapshot model, one pydantic model per candle."""

    def check_arrays(self, symbol: str, hour: datetime):
        snap, problems = self.check(symbol, hour)
        return (None if snap is None else SnapshotArrays.from_snapshot(snap)), problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=3, help="best of N for the array path")
    parser.add_argument("--packed", action="store_true", help="also read a packed copy")
    parser.add_argument(
        "--after-only", action="store_true", help="skip the model path's rows (about 45 s each)"
    )
    args = parser.parse_args()
    os.environ["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"] = str(REPO)
    os.environ["MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL"] = ""
    os.environ["MARKET_MAKER_REPLAY__DATA_FILE"] = str(args.data)
    settings = load_settings()
    ctx = RunContext.open(settings)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {_load()}"
    )
    _backfill(ctx)
    files = sorted((REPO / "snapshots" / SYMBOL).rglob("*.json"))
    size = sum(p.stat().st_size for p in files)
    print(f"{len(files)} snapshot files, {size / 1e6:.1f} MB")

    def parse_with(loads: Callable[[bytes], object]) -> Callable[[], None]:
        return lambda: [loads(p.read_bytes()) for p in files] and None

    def analysis(
        reader_type: type[SnapshotReader], root: Path = REPO, *, one_core: bool = False
    ) -> Callable[[], None]:
        def run() -> None:
            forget_times()  # as a fresh process: no time of day known yet
            parallel_module.MIN_FILES = 10**9 if one_core else minimum
            with tempfile.TemporaryDirectory() as cache:
                result = analyze_range(
                    reader_type(root, ctx.limits),
                    Path(cache),
                    SYMBOL,
                    START,
                    END,
                    settings.regime,
                    config_version=settings.config_version,
                    code_version="bench",
                )
                assert result.summary.hours_analysed == 8760, result.summary.lines()[0]

        return run

    def validation(reader_type: type[SnapshotReader]) -> Callable[[], None]:
        def run() -> None:
            forget_times()
            report = reader_type(REPO, ctx.limits).validate(SYMBOL, START, END)
            assert report.ok and report.files_checked == 8760

        return run

    print(f"{'':58s} {'wall':>8s} {'cpu':>8s} {'workers':>8s}")
    _row("parse the files as plain JSON (json.loads)", parse_with(json.loads), args.repeat)
    _row("parse the files as plain JSON (orjson.loads)", parse_with(orjson.loads), args.repeat)
    minimum = parallel_module.MIN_FILES
    if not args.after_only:
        _row(
            "analyze_range cold, model per candle (before)",
            analysis(ModelPathReader, one_core=True),
            1,
        )
    _row(
        "analyze_range cold, candles as arrays, one core",
        analysis(SnapshotReader, one_core=True),
        args.repeat,
    )
    _row(
        f"analyze_range cold, arrays, {parallel_module.cores()} cores (after)",
        analysis(SnapshotReader),
        args.repeat,
    )
    if not args.after_only:
        _row("validate the year cold, model per candle (before)", validation(ModelPathReader), 1)
    _row("validate the year cold, candles as arrays (after)", validation(SnapshotReader), 1)
    if args.packed:
        with tempfile.TemporaryDirectory() as tmp:
            packed_root = Path(tmp)
            t0 = time.perf_counter()
            packed_bytes = _pack_copy(packed_root)
            print(
                f"packed copy: 12 files, {packed_bytes / 1e6:.1f} MB "
                f"({time.perf_counter() - t0:.1f} s to pack)"
            )
            _row(
                f"analyze_range cold, reading the packs, {parallel_module.cores()} cores",
                analysis(SnapshotReader, packed_root),
                args.repeat,
            )
    print(f"load average after: {_load()}")


def _row(label: str, fn: Callable[[], None], repeat: int) -> None:
    """Best wall and CPU of ``repeat`` runs; of the CPU, the worker processes' share."""
    best = (float("inf"), float("inf"), 0.0)
    for _ in range(max(repeat, 1)):
        wall, (own, workers) = time.perf_counter(), _cpu()
        fn()
        after = _cpu()
        run = (time.perf_counter() - wall, after[0] - own + after[1] - workers, after[1] - workers)
        best = min(best, run)
    note = f" (best of {repeat})" if repeat > 1 else ""
    shown = f" {best[2]:7.2f}s" if best[2] else ""
    print(f"{label + note:58s} {best[0]:7.2f}s {best[1]:7.2f}s{shown}", flush=True)


def _backfill(ctx: RunContext) -> None:
    t0 = time.perf_counter()
    written = 0
    for chunk in plan_chunks(START, END, 24 * 31):
        paths = written_paths(collect_hours(ctx, SYMBOL, chunk, collected_at=datetime.now(UTC)))
        written += len(paths)
        ctx.store.commit(f"backfill: {SYMBOL} {format_utc(chunk[0])}", paths)
    print(f"backfill pass over 2023 ({written} written now): {time.perf_counter() - t0:.1f} s")


def _pack_copy(root: Path) -> int:
    total = 0
    for month in range(1, 13):
        folder = REPO / "snapshots" / SYMBOL / "2023" / f"{month:02d}"
        members = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.json")}
        target = root / pack_relpath(SYMBOL, 2023, month)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(build_pack(members))
        total += target.stat().st_size
    return total


def _cpu() -> tuple[float, float]:
    """CPU seconds of this process, and of its children that have ended (the workers)."""
    t = os.times()
    return t.user + t.system, t.children_user + t.children_system


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
