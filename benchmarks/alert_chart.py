"""Benchmark: the chart attached to an exit alert, and the example alert shown in the README.

Reads the data repository ``make demo`` writes (var/data-repo): the first MANDATORY_EXIT
decision of the demo (its first grid leaving its range on 1 August 2023), the 72 hourly
metrics files before it. Builds the
alert as the hourly evaluation does (text and PNG), times reading the metrics and rendering
the chart (the first render in a process pays for importing matplotlib), and writes
``docs/alert-example.png`` and ``docs/alert-example.txt``.

    make demo   # once, for var/data-repo
    .venv/bin/python benchmarks/alert_chart.py [--repo DIR] [--repeat 20] [--out-dir docs]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from datetime import timedelta
from pathlib import Path

from market_maker.decisions.store import DecisionStore
from market_maker.exit_strategy.store import ExitStateStore
from market_maker.regime import files
from market_maker.regime.model import metrics_relpath

ROOT = Path(__file__).resolve().parents[1]


def first_mandatory(repo: Path):
    for path in sorted((repo / "decisions").glob("*/dec-*[0-9].yaml")):
        decision = DecisionStore(repo).read(path)
        if getattr(decision, "exit_state", None) == "MANDATORY_EXIT":  # GRID_MANAGE only
            return decision
    raise SystemExit(f"{repo}: no MANDATORY_EXIT decision; run `make demo` first")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=ROOT / "var/data-repo")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs")
    args = parser.parse_args()

    decision = first_mandatory(args.repo)
    symbol, hour = decision.symbol, decision.hour
    started = time.perf_counter()
    metrics = [
        files.read(path)
        for back in range(71, -1, -1)
        if (path := args.repo / metrics_relpath(symbol, hour - back * timedelta(hours=1))).exists()
    ]
    read_seconds = time.perf_counter() - started

    states = ExitStateStore(args.repo)
    prior = states.prior(symbol, decision.grid.grid_id, hour)
    from market_maker.alerts.emergency import episode_start

    changed = episode_start(prior.records, decision.exit_state, decision.previous_exit_state, hour)

    from market_maker.alerts.chart import ChartHour, exit_chart
    from market_maker.alerts.message import exit_notification

    hours = [ChartHour(m.hour, m.price, str(m.verdict) if m.verdict else None) for m in metrics]
    grid = decision.grid
    title = f"{symbol} {grid.grid_id}: {decision.exit_state.replace('_', ' ')}"

    def render() -> bytes:
        return exit_chart(
            hours,
            lower=grid.lower_price,
            upper=grid.upper_price,
            state=str(decision.exit_state),
            changed_at=changed,
            title=title,
        )

    timings = []
    for _ in range(max(args.repeat, 1)):
        started = time.perf_counter()
        png = render()
        timings.append(time.perf_counter() - started)

    n = exit_notification(
        symbol=symbol,
        grid_id=grid.grid_id,
        hour=hour,
        state=decision.exit_state,
        previous=decision.previous_exit_state,
        recommendation=decision.recommendation,
        price=float(decision.metrics["price"]),
        lower=grid.lower_price,
        upper=grid.upper_price,
        verdict=str(decision.verdict) if decision.verdict else None,
        confidence=decision.confidence,
        # The decision records "name: reason"; the alert carries the reasons.
        reasons=[r.split(": ", 1)[-1] for r in decision.reasons][:6],
        decision_id=decision.id,
        expires_at=decision.expires_at,
        url=None,
        position=decision.position,
    )
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "alert-example.png").write_bytes(png)
    text = f"Priority {n.priority}  |  {n.title}\n\n{n.message}\n"
    (args.out_dir / "alert-example.txt").write_text(text)

    machine = platform.processor() or platform.machine()
    print(f"machine         : {machine}, Python {platform.python_version()}")
    when = f"{symbol} {hour:%Y-%m-%d %H:%M} UTC, {decision.exit_state}"
    print(f"alert           : {decision.id} ({when})")
    print(f"metrics files   : {len(metrics)} read in {read_seconds * 1000:.0f} ms")
    print(
        f"render          : first {timings[0] * 1000:.0f} ms (imports matplotlib, once per "
        f"process), then median {statistics.median(timings[1:] or timings) * 1000:.0f} ms "
        f"over {len(timings) - 1} runs"
    )
    print(f"PNG             : {len(png):,} bytes, 900 x 600 px")
    print(f"written         : {args.out_dir / 'alert-example.png'}, alert-example.txt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
