"""``market-maker setup``: the setup evaluation of an hour (a collection period, named by its
start), as the pipeline made (or would make) it, in words."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from market_maker.base.errors import DataError
from market_maker.base.identifiers import inside, symbol_part
from market_maker.base.timeutil import format_utc, is_period_start, period
from market_maker.config import Settings
from market_maker.decisions.model import SetupDecision, decision_relpath
from market_maker.decisions.store import DecisionStore
from market_maker.grids.book import GridBook
from market_maker.lifecycle.setup import evaluate_setup
from market_maker.lifecycle.setup_evaluator import Balance, SetupEvaluator
from market_maker.regime import files
from market_maker.regime.gate_records import GATES
from market_maker.regime.model import METRICS_DIR, metrics_file_period, metrics_relpath


def latest_analysed_hour(root: Path, symbol: str, period_minutes: int | None = None) -> datetime:
    """The start of the latest analysed period of ``symbol``; with ``period_minutes``, among
    that period's metrics files only (a repository that changed its period keeps both)."""
    folder = inside(root, Path(METRICS_DIR, symbol_part(symbol)))
    names = sorted(folder.glob("*.yaml"), key=_in_time_order) if folder.is_dir() else []
    if period_minutes is not None:
        kind = "hour" if period_minutes == 60 else "period"
        names = [n for n in names if metrics_file_period(n.name) == kind]
    if not names:
        raise DataError(f"no analysed hours for {symbol} in the data repository")
    return files.read(names[-1]).hour


def _in_time_order(path: Path) -> str:
    """``...-HH.yaml`` sorts as ``...-HH-00``: among the periods of its hour, first."""
    return path.stem + "-00" if metrics_file_period(path.name) == "hour" else path.stem


def setup_lines(
    root: Path, settings: Settings, symbol: str, hour: datetime, balance: Balance
) -> list[str]:
    """The setup evaluation of the period starting at ``hour`` (of the configured collection
    period): recorded if the pipeline made one, else computed now."""
    minutes = settings.snapshots.period_minutes
    if minutes != 60 and not is_period_start(hour, minutes):
        raise DataError(f"{format_utc(hour)} does not start a {minutes}-minute period")
    metrics = files.read(inside(root, metrics_relpath(symbol, hour, minutes)))
    book = GridBook.load(root, fee_rate=settings.grids.fee_rate)
    running = book.running(symbol, hour)
    head = f"{symbol} {format_utc(hour)}: {metrics.verdict or 'refused'}"
    if metrics.confidence is not None:
        head += f" (confidence {metrics.confidence:.2f}), price {metrics.price:,.2f}"
    lines = [head]
    if running is not None:
        lines.append(f"grid {running.id} runs: no setup is evaluated while a grid runs")
        return lines
    # The pipeline issues a period's decision when the period ends.
    path = inside(root, decision_relpath(symbol, hour + period(minutes)))
    recorded = DecisionStore(root).read(path) if path.exists() else None
    if isinstance(recorded, SetupDecision):
        lines.append(f"recorded decision {recorded.id}: {recorded.recommendation}")
        checks, grid, mode, capital = (
            recorded.checks,
            recorded.grid,
            recorded.mode,
            recorded.capital,
        )
    else:
        evaluator = SetupEvaluator(root, settings, balance)
        result = evaluate_setup(metrics, evaluator.context(metrics, book), settings.lifecycle)
        lines.append(f"not recorded (evaluated now): {result.recommendation}")
        checks, grid, mode, capital = result.checks, result.grid, result.mode, result.capital
    for c in checks:
        lines.append(f"  [{'ok' if c.passed else 'NO'}] {c.name:<21} {c.detail}")
    gates = metrics.gate_evaluation
    if gates is not None:
        lines.append(f"restart gates since the stop at {format_utc(gates.since_stop)}:")
        for g in GATES:
            r = gates.record(g)
            when = f" at {format_utc(r.at)}" if r.at else ""
            lines.append(f"  {g.value:<20} {r.status}{when}  {r.reason or ''}".rstrip())
    if grid is not None and capital is not None:
        lines.append(
            f"proposed {mode} grid: {grid.lower_price:,.2f}-{grid.upper_price:,.2f}, "
            f"{grid.levels} levels {grid.spacing} ({grid.spacing_pct:.2f} % apart), "
            f"{grid.amount_per_grid:g} a level, {100 * grid.profit_per_grid_net:.2f} % a pair "
            f"after fees, {capital.used or 0:,.2f} of {capital.unlocked:,.2f} unlocked"
        )
    return lines
