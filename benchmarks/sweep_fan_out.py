"""Benchmark: a backtest sweep fanned out on the local work pool, beside the same sweep run in
the processes of one flow run.

Starts what ``make worker`` starts (tests/deployments/local_pool.py: the project's Prefect
server in a temporary home on a free port, the process pool ``market-maker-local`` with every
deployment of prefect.yaml, one worker), then runs the ``backtest-sweep`` deployment through
CI's script twice on the same points: ``fan_out=false`` (the points in the sweep run's own
process pool, one process per core) and ``fan_out=true`` (each point a run of the
``backtest`` deployment, a subprocess of the worker, at most its concurrency limit at once).
Both runs execute on the worker, so both pay a flow run's start.

Measured, from the Prefect API: the sweep flow run's start_time .. end_time ("wall"), and
the whole trigger (the script: creation, the worker's pickup, the run, the watch). For the
fanned-out sweep also the points' runs: how many ran at once at most, and their mean wall.

    .venv/bin/python benchmarks/sweep_fan_out.py [--points 8] [--start ... --end ... --split ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TWO_YEARS = (
    Path(os.environ.get("MARKET_MAKER_SHARED_DATA", ROOT.parent / "shared/data"))
    / "ETHUSDT-1m-2022-2023-binance-futures.csv.gz"
)
VALUES = {
    2: {"half_width_pct": [3.0, 6.0]},
    4: {"half_width_pct": [3.0, 6.0], "exit_strategy.deescalation.WARNING": [2, 4]},
    8: {"half_width_pct": [3.0, 4.0, 5.0, 6.0], "exit_strategy.deescalation.WARNING": [2, 4]},
}


def sweep(pool, base: dict, values: dict, split: str, fan_out: bool) -> dict:
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )

    started = time.perf_counter()
    result = pool.run_deployment(
        "backtest-sweep/backtest-sweep",
        f"base={json.dumps(base)}",
        f"values={json.dumps(values)}",
        f"split={split}",
        f"fan_out={json.dumps(fan_out)}",
        timeout=3600,
    )
    total = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"sweep failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    run_id = result.stdout.split("run-deployment: flow run ", 1)[1].split()[0]
    with pool.client() as client:
        run = client.read_flow_run(run_id)
        backtest = client.read_deployment_by_name("backtest/backtest")
        points = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run.id])
            ),
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[backtest.id])),
        )
    spans = [(p.start_time, p.end_time) for p in points if p.start_time and p.end_time]
    at_once = max((sum(1 for a, b in spans if a <= moment < b) for moment, _ in spans), default=0)
    return {
        "wall": (run.end_time - run.start_time).total_seconds(),
        "total": total,
        "points": len(points),
        "at_once": at_once,
        "point_wall": statistics.mean((b - a).total_seconds() for a, b in spans) if spans else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, choices=sorted(VALUES), default=8)
    parser.add_argument("--start", default="2023-01-01T00:00:00Z")
    parser.add_argument("--end", default="2024-01-01T00:00:00Z")
    parser.add_argument("--split", default="2023-07-01T00:00:00Z")
    parser.add_argument("--data", type=Path, default=TWO_YEARS, help="1-minute recording")
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"recording not found: {args.data} (set MARKET_MAKER_SHARED_DATA or --data)")

    from benchmarks.pipeline_symbols import machine
    from tests.deployments.local_pool import local_pool

    print(machine())
    base = {"data_file": str(args.data), "start": args.start, "end": args.end}
    values = VALUES[args.points]
    rows = {}
    with tempfile.TemporaryDirectory(prefix="sweep-fan-out-") as tmp:
        t0 = time.perf_counter()
        with local_pool(Path(tmp), {}) as pool:
            print(f"server, pool and worker up in {time.perf_counter() - t0:.1f} s")
            for fan_out in (False, True):
                rows[fan_out] = sweep(pool, base, values, args.split, fan_out)
                print(f"fan_out={fan_out}: {rows[fan_out]}", flush=True)
    print(
        f"\n{args.points} points x 2 periods, {args.start[:10]}..{args.end[:10]} split "
        f"{args.split[:10]}\n"
    )
    print("| sweep | wall s | trigger to end s | point runs | at once | mean point run s |")
    print("|---|---|---|---|---|---|")
    for fan_out, r in rows.items():
        mode = "fanned out (backtest runs on the pool)" if fan_out else "in one run's processes"
        point = f"{r['point_wall']:.1f}" if r["points"] else "-"
        print(
            f"| {mode} | {r['wall']:.1f} | {r['total']:.1f} | {r['points'] or '-'} "
            f"| {r['at_once'] or '-'} | {point} |"
        )


if __name__ == "__main__":
    main()
