"""Benchmark: wall time of the one-hour commands as a user runs them.

Builds a temporary data repository from the recorded sample (a backfill of three days and
a running grid), then times ``market-maker analyze --hour`` and ``market-maker
evaluate-exit --hour`` as separate processes, each ``--runs`` times:

- against the local Prefect server the commands start once and reuse (the default; the
  benchmark starts its own on a free port, and stops it at the end),
- in Prefect's ephemeral mode (``MARKET_MAKER_PREFECT_SERVER=ephemeral``): a temporary
  server per command, as before the local server existed.

    .venv/bin/python benchmarks/one_hour_commands.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SYMBOL = "ETH-USDT"
HOURS = ["2023-08-16T10:00Z", "2023-08-16T11:00Z", "2023-08-16T12:00Z", "2023-08-16T13:00Z"]
GRID = {
    "schema_version": "1.0",
    "id": "bench-grid",
    "symbol": SYMBOL,
    "lower_price": 1780.0,
    "upper_price": 1900.0,
    "levels": 13,
    "amount_per_grid": 0.05,
    "profit_per_grid": 0.004,
    "history": [{"enabled": "2023-08-14T00:00:00Z"}],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(env: dict[str, str], *argv: str) -> float:
    started = time.perf_counter()
    run = subprocess.run(
        [str(ROOT / ".venv/bin/market-maker"), *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        sys.exit(f"market-maker {' '.join(argv)} failed:\n{run.stderr[-2000:]}")
    return seconds


def times(env: dict[str, str], verb: str, runs: int) -> list[float]:
    """``runs`` timings of ``verb``, cycling over a few hours (the first pass writes files)."""
    out = []
    for k in range(runs):
        hour = HOURS[k % len(HOURS)]
        out.append(command(env, verb, "--symbol", SYMBOL, "--hour", hour))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command and mode")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="mm-bench-one-hour-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MARKET_MAKER_", "PREFECT_"))}
    env |= {
        "PREFECT_HOME": str(base / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "MARKET_MAKER_PREFECT_SERVER": "local",
        "MARKET_MAKER_PREFECT_SERVER_PORT": str(port),
        "MARKET_MAKER_DATA_REPOSITORY__BASE_PATH": str(base / "data-repo"),
        "MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL": str(base / "remote.git"),
    }
    subprocess.run(
        ["git", "init", "-q", "--bare", "-b", "main", str(base / "remote.git")], check=True
    )
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    started = time.perf_counter()
    command(env, "server", "start")
    print(f"local server start (once): {time.perf_counter() - started:.1f} s")
    command(
        env,
        "backfill",
        "--symbol",
        SYMBOL,
        "--start",
        "2023-08-13T00:00Z",
        "--end",
        "2023-08-16T13:00Z",
    )
    grid = base / "bench-grid.yaml"
    grid.write_text(yaml.safe_dump(GRID, sort_keys=False))
    command(env, "grid", "add", str(grid))
    try:
        rows = []
        for mode in ("local", "ephemeral"):
            env["MARKET_MAKER_PREFECT_SERVER"] = mode
            for verb in ("analyze", "evaluate-exit"):
                t = times(env, verb, args.runs)
                rows.append((mode, verb, statistics.median(t), min(t), max(t)))
        head = f"{'server':<10} {'command':<14} {'median':>8} {'min':>8} {'max':>8}"
        print(f"{head}   ({args.runs} runs each)")
        for mode, verb, med, lo, hi in rows:
            print(f"{mode:<10} {verb:<14} {med:7.2f}s {lo:7.2f}s {hi:7.2f}s")
    finally:
        env["MARKET_MAKER_PREFECT_SERVER"] = "local"
        command(env, "server", "stop")


if __name__ == "__main__":
    main()
