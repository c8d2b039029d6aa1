"""Benchmark: one cycle of the hourly pipeline flow for 1 to 200 symbols, against a
KuCoin-speaking stand-in on 127.0.0.1.

The stand-in (tests/exchange/kucoin_multi.py) serves ETH-USDT and S01-USDT .. S199-USDT,
each a different real window of the two-year recording (symbol k: shifted by k x 2 weeks,
wrapping within the recording, prices scaled), in a child process together with the
Pushover stand-in, so that neither
competes with the flow for the GIL. For each symbol count: a fresh data repository with a
bare remote, exchange ``kucoin`` at the stand-in, the symbols and their price scales in a
configuration overlay; one untimed warm-up cycle (the repository then looks as it does in
production, with the previous hour done, and the process is warm), then ``--repeat`` timed
cycles of ``hourly_pipeline(symbols=..., hour=...)``, each on the next hour, the stand-in's
clock set 2 min 20 s after that hour's close. Every cycle of a run has an hour of its own
(``--hour`` is the first), so no step can come from a cache; Prefect runs against a
temporary local server (tests/prefect_server.py; PREFECT_API_URL set: that server) with a
temporary PREFECT_HOME. Every snapshot is self-contained (240 hourly and 100 four-hour
candles fetched from the exchange), so a cycle needs no backfilled history.

Measured, from the Prefect API after each run:

- wall: the flow run's start_time .. end_time (Running to Completed, set by the flow
  engine in this process): excludes the Prefect server's start and the creation of the
  flow run; includes opening the context, every task, the commit and push, the artifact.
  "call" is the Python call around it, flow start included;
- per symbol: the task runs of the flow run, their durations summed per symbol, the
  symbol found in the task run's name. When the names carry no symbol (today's
  ``pipeline-hours-f2a``, ...), the mean: every task run except the shared
  repository ones (sync, commit, push), divided by the symbol count (marked "mean"). A
  task run other task runs ran inside is left out (its children are counted);
- CPU: this process's CPU time during the call, divided by the symbol count (the flow
  runs here; the stand-ins and the Prefect server are other processes).

    .venv/bin/python benchmarks/pipeline_symbols.py [--symbols 1,5,20,100,200] [--repeat 1]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TWO_YEARS = (
    Path(os.environ.get("MARKET_MAKER_SHARED_DATA", ROOT.parent / "shared/data"))
    / "ETHUSDT-1m-2022-2023-binance-futures.csv.gz"
)
TARGET_SYMBOLS, TARGET_SECONDS = 200, 60.0
CLOCK_AFTER_CLOSE = timedelta(minutes=2, seconds=20)


# -- the stand-ins, in a child process ------------------------------------------------------


def _serve(
    conn: Any,
    data: str,
    names: list[str],
    scales: dict[str, int],
    now: str,
    hours: int,
    latency: float,
) -> None:
    from market_maker.exchange.replay import load_recorded_minutes
    from tests.alerts.pushover_server import FakePushover
    from tests.exchange.kucoin_multi import MultiSymbolKuCoin

    minutes = load_recorded_minutes(Path(data))
    exchange = MultiSymbolKuCoin(
        minutes,
        names,
        now=datetime.fromisoformat(now),
        price_scale=lambda s: scales[s],
        ahead=timedelta(hours=hours + 2),
    )
    exchange.latency = latency
    with exchange, FakePushover() as pushover:
        conn.send((exchange.url, pushover.messages_url))
        while True:
            command, arg = conn.recv()
            if command == "set_now":
                exchange.set_now(datetime.fromisoformat(arg))
                conn.send(len(exchange.log))
            elif command == "stop":
                conn.send(None)
                return


class StandIns:
    def __init__(
        self,
        data: Path,
        names: list[str],
        scales: dict[str, int],
        now: datetime,
        hours: int,
        latency: float = 0.0,
    ):
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve,
            args=(child, str(data), names, scales, now.isoformat(), hours, latency),
            daemon=True,
        )
        self._proc.start()
        self.kucoin_url, self.pushover_url = self._conn.recv()

    def set_now(self, now: datetime) -> int:
        self._conn.send(("set_now", now.isoformat()))
        return self._conn.recv()

    def stop(self) -> None:
        self._conn.send(("stop", None))
        self._conn.recv()
        self._proc.join(10)


# -- one cycle -------------------------------------------------------------------------------


@dataclass
class Cycle:
    symbols: int
    hour: datetime
    wall: float  # flow run start_time .. end_time
    call: float  # the Python call, flow start included
    cpu: float  # this process
    loop: float | None  # the flow's own "seconds" (its symbol loop, commit and push)
    per_symbol: dict[str, float]  # attributed task time per symbol
    unattributed: float  # task time of runs naming no symbol, shared tasks excluded
    shared: float  # sync, commit, push
    tasks: list[tuple[str, float]]  # every task run, nested ones' parents included
    failed: dict[str, str]

    @property
    def attributed(self) -> bool:
        return bool(self.per_symbol)

    @property
    def compute_per_symbol(self) -> float:
        if self.per_symbol:
            return (sum(self.per_symbol.values()) + self.unattributed) / self.symbols
        return self.unattributed / self.symbols

    @property
    def task_time(self) -> float:
        return self.shared + self.unattributed + sum(self.per_symbol.values())

    @property
    def max_symbol(self) -> float | None:
        return max(self.per_symbol.values()) if self.per_symbol else None


def run_cycle(names: list[str], hour: datetime) -> Cycle:
    from prefect import get_client

    from flows.hourly_pipeline import hourly_pipeline
    from tasks.store import commit_task, push_task, sync_task

    cpu0, t0 = time.process_time(), time.perf_counter()
    state = hourly_pipeline(symbols=names, hour=hour, return_state=True)
    call, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    summary = state.result(raise_on_failure=False)
    if not state.is_completed():
        raise SystemExit(f"the flow failed for {len(names)} symbols: {state.message}")
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(run_id)
        runs = _settled_task_runs(client, run_id)
    wall = (flow_run.end_time - flow_run.start_time).total_seconds()
    shared_names = {t.name for t in (sync_task, commit_task, push_task)}
    # Longest names first: S1-USDT must not claim S11-USDT's runs.
    pattern = re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))
    per_symbol: dict[str, float] = {}
    unattributed = shared = 0.0
    tasks = []
    # A task run that other task runs ran inside: its children are counted, not it.
    parents = {
        getattr(p, "id", None) for r in runs for p in (r.task_inputs or {}).get("__parents__", [])
    }
    for run in sorted(runs, key=lambda r: r.start_time or flow_run.start_time):
        seconds = _duration(run)
        tasks.append((run.name + (" (has nested tasks)" if run.id in parents else ""), seconds))
        if run.id in parents:
            continue
        found = pattern.search(run.name)
        task_name = run.name.rsplit("-", 1)[0]
        if found:
            per_symbol[found.group()] = per_symbol.get(found.group(), 0.0) + seconds
        elif task_name in shared_names:
            shared += seconds
        else:
            unattributed += seconds
    loop = summary.get("seconds") if isinstance(summary, dict) else None
    failed = summary.get("failed", {}) if isinstance(summary, dict) else {}
    return Cycle(
        len(names), hour, wall, call, cpu, loop, per_symbol, unattributed, shared, tasks, failed
    )


def _settled_task_runs(client: Any, run_id: Any, patience: float = 15.0) -> list[Any]:
    """The flow run's task runs once the server has recorded them all: task run states reach
    it as events, written by a background service, so a read right after the flow can miss
    some. Settled: every run final and the same runs twice, half a second apart."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + patience
    previous: dict[Any, Any] = {}
    while True:
        runs: list[Any] = []
        while True:  # the server answers at most 200 per call
            page = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])),
                limit=200,
                offset=len(runs),
            )
            runs += page
            if len(page) < 200:
                break
        seen = {r.id: (r.state_type, r.total_run_time) for r in runs}
        final = all(r.state is not None and r.state.is_final() for r in runs)
        if (final and seen == previous) or time.monotonic() > deadline:
            if not final:
                print("    warning: some task runs not final at the server after 15 s")
            return runs
        previous = seen
        time.sleep(0.5)


def _duration(run: Any) -> float:
    if run.total_run_time and run.total_run_time.total_seconds() > 0:
        return run.total_run_time.total_seconds()
    if run.start_time and run.end_time:
        return (run.end_time - run.start_time).total_seconds()
    return 0.0


# -- setup per symbol count ------------------------------------------------------------------


def configure(base: Path, names: list[str], scales: dict[str, int], standins: StandIns) -> None:
    """A fresh data repository and bare remote; the overlay and environment the flow reads."""
    from git import Repo

    from tests.alerts.pushover_server import TOKEN, USER_KEY

    Repo.init(base / "remote.git", bare=True, initial_branch="main")
    overlay = {
        "symbols": names,
        "exchange": {"name": "kucoin", "base_url": standins.kucoin_url},
        "snapshots": {"price_scales": scales},
    }
    (base / "config.yaml").write_text(yaml.safe_dump(overlay))
    for name in list(os.environ):
        if name.startswith("MARKET_MAKER_") and name != "MARKET_MAKER_SHARED_DATA":
            del os.environ[name]
    os.environ.update(
        {
            "MARKET_MAKER_CONFIG": str(base / "config.yaml"),
            "MARKET_MAKER_DATA_REPOSITORY__BASE_PATH": str(base / "repo"),
            "MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL": str(base / "remote.git"),
            "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__API_URL": standins.pushover_url,
            "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__TOKEN": TOKEN,
            "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__USER_KEY": USER_KEY,
            "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__ATTEMPTS": "1",
        }
    )


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{platform.machine()}, {os.cpu_count()} cores ({model}), load average {load}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--symbols", default="1,5,20,100,200", help="symbol counts, comma-separated"
    )
    parser.add_argument("--repeat", type=int, default=1, help="timed cycles per count")
    parser.add_argument(
        "--hour", default="2023-12-20T09:00:00Z", help="the first (warm-up) hour, UTC"
    )
    parser.add_argument("--data", type=Path, default=TWO_YEARS, help="1-minute recording")
    parser.add_argument("--tasks", action="store_true", help="list every task run")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="delay of every exchange answer, as a real exchange's round trip (e.g. 150)",
    )
    args = parser.parse_args()
    counts = [int(c) for c in args.symbols.split(",")]
    hour = datetime.fromisoformat(args.hour.replace("Z", "+00:00")).astimezone(UTC)
    if not args.data.exists():
        sys.exit(f"recording not found: {args.data} (set MARKET_MAKER_SHARED_DATA or --data)")

    from tests.exchange.kucoin_multi import suggested_scale, symbol_names

    everything = symbol_names(max(counts))
    scales = {n: suggested_scale(k) for k, n in enumerate(everything)}
    print(machine())
    if args.latency_ms:
        print(f"exchange latency: {args.latency_ms:g} ms per request")
    started = time.perf_counter()
    hours = len(counts) * (1 + args.repeat)
    standins = StandIns(args.data, everything, scales, hour, hours, args.latency_ms / 1000)
    print(f"stand-ins up in {time.perf_counter() - started:.1f} s: {standins.kucoin_url}")

    results: dict[int, list[Cycle]] = {}
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="pipeline-symbols-") as tmp:
        # Results and task caches of this run only: nothing cached by an earlier run is reused.
        os.environ["PREFECT_HOME"] = str(Path(tmp) / "prefect-home")
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        if not os.environ.get("PREFECT_API_URL"):
            from tests.prefect_server import harness

            t0 = time.perf_counter()
            stack.enter_context(harness())
            print(f"Prefect test server up in {time.perf_counter() - t0:.1f} s")
        for count in counts:
            names = everything[:count]
            base = Path(tmp) / f"n{count}"
            base.mkdir()
            configure(base, names, scales, standins)
            # Every cycle of the benchmark on an hour of its own: no step of an earlier cycle
            # can be taken from a cache.
            standins.set_now(hour + timedelta(hours=1) + CLOCK_AFTER_CLOSE)
            warm = run_cycle(names, hour)
            print(
                f"{count:>3} symbols: warm-up cycle {hour:%Y-%m-%d %H}:00 "
                f"wall {warm.wall:.2f} s, call {warm.call:.2f} s"
            )
            results[count] = []
            for _ in range(args.repeat):
                hour += timedelta(hours=1)
                h = hour
                standins.set_now(h + timedelta(hours=1) + CLOCK_AFTER_CLOSE)
                cycle = run_cycle(names, h)
                results[count].append(cycle)
                print(
                    f"{count:>3} symbols: cycle {h:%Y-%m-%d %H}:00 wall {cycle.wall:.2f} s, "
                    f"call {cycle.call:.2f} s, {len(cycle.tasks)} task runs"
                )
                if cycle.failed:
                    print(f"    failed symbols: {cycle.failed}")
                if args.tasks:
                    for name, seconds in cycle.tasks:
                        print(f"    {name:<40} {seconds:7.2f} s")
            hour += timedelta(hours=1)
    standins.stop()
    report(results)
    print(f"benchmark total {time.perf_counter() - started:.0f} s")


def report(results: dict[int, list[Cycle]]) -> None:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    print()
    print(
        "| symbols | wall s | call s | task time s | per symbol s | max symbol s "
        "| CPU / symbol s | sync+commit+push s | target met |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    notes = set()
    for count, cycles in results.items():
        walls = [c.wall for c in cycles]
        wall = med(walls)
        spread = f" ({min(walls):.2f}-{max(walls):.2f})" if len(walls) > 1 else ""
        per = med([c.compute_per_symbol for c in cycles])
        maxes = [c.max_symbol for c in cycles if c.max_symbol is not None]
        attributed = all(c.attributed for c in cycles)
        if not attributed:
            notes.add("mean")
        target = (
            ("yes" if wall < TARGET_SECONDS else "no")
            if count >= TARGET_SYMBOLS
            else ("(yes)" if wall < TARGET_SECONDS else "(no)")
        )
        print(
            f"| {count} | {wall:.2f}{spread} | {med([c.call for c in cycles]):.2f} "
            f"| {med([c.task_time for c in cycles]):.2f} "
            f"| {per:.2f}{'' if attributed else ' (mean)'} "
            f"| {f'{max(maxes):.2f}' if maxes else 'n/a'} "
            f"| {med([c.cpu for c in cycles]) / count:.2f} "
            f"| {med([c.shared for c in cycles]):.2f} | {target} |"
        )
    reps = max(len(c) for c in results.values())
    print(
        f"\nmedian (wall: min-max) of {reps} timed cycle(s) per count; "
        f"target: {TARGET_SYMBOLS} symbols in under {TARGET_SECONDS:.0f} s wall "
        "(flow start excluded)"
    )
    if "mean" in notes:
        print(
            "(mean): the task run names carry no symbol, so per symbol is the task time "
            "outside sync/commit/push divided by the symbol count"
        )


if __name__ == "__main__":
    main()
