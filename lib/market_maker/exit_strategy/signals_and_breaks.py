"""A first look at how the exit signals behave on a recording: warnings, exits and breaks.

Grids are placed the way an operator following the system would place them:
at the first hour with a RANGE_OK verdict and no grid running, centred on the
price with a fixed width. Each grid runs until the operator would stop it (the
first MANDATORY_EXIT) or for ``max_days``; then the next one is placed. The
exit engine runs on every hour exactly as in production, its history kept in
memory. A range break is an hourly close outside the grid.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from market_maker.base.candles import CandleSeries
from market_maker.base.timeutil import HOUR
from market_maker.config import Settings
from market_maker.decisions.states import ExitState
from market_maker.exit_strategy.engine import evaluate
from market_maker.exit_strategy.model import EvaluationRecord
from market_maker.exit_strategy.observation import Observation
from market_maker.grids.model import GridConfig, HistoryEntry
from market_maker.regime.model import MetricsFile, Verdict
from market_maker.regime.recording_analysis import analyze_series


@dataclass
class GridRun:
    grid: GridConfig
    start: datetime
    end: datetime
    break_at: datetime | None = None
    warnings: list[datetime] = field(default_factory=list)  # NORMAL -> WARNING
    exits: list[tuple[datetime, ExitState]] = field(default_factory=list)  # first LATEST/MANDATORY

    def inside(self, price: float) -> bool:
        return self.grid.lower_price <= price <= self.grid.upper_price

    def exit_before_break(self) -> bool:
        return self.break_at is not None and any(t < self.break_at for t, _ in self.exits)

    def warning_lead_hours(self) -> float | None:
        """Hours from the last warning before the break to the break; None without a break
        or without a warning before it."""
        if self.break_at is None:
            return None
        earlier = [t for t in self.warnings if t < self.break_at]
        return (self.break_at - max(earlier)).total_seconds() / 3600 if earlier else None


@dataclass
class StudyResult:
    runs: list[GridRun]
    closes: dict[datetime, float]
    horizon_hours: int

    def _inside_until(self, run: GridRun, start: datetime) -> bool:
        """Every recorded close of the horizon after ``start`` inside the run's grid."""
        for k in range(1, self.horizon_hours + 1):
            price = self.closes.get(start + k * HOUR)
            if price is not None and not run.inside(price):
                return False
        return True

    def summary(self) -> dict[str, float | int | None]:
        warnings = [(r, t) for r in self.runs for t in r.warnings]
        warned_break = sum(not self._inside_until(r, t) for r, t in warnings)
        # An exit that price already broke (MANDATORY on price outside) is not a prediction.
        predictive = [(r, t) for r in self.runs for t, _ in r.exits if r.inside(self.closes[t])]
        false_exits = sum(self._inside_until(r, t) for r, t in predictive)
        breaks = [r for r in self.runs if r.break_at is not None]
        leads = [lead for r in breaks if (lead := r.warning_lead_hours()) is not None]
        return {
            "grids": len(self.runs),
            "warnings": len(warnings),
            "warnings_followed_by_break": warned_break,
            "warning_break_share": _share(warned_break, len(warnings)),
            "exit_signals_inside_grid": len(predictive),
            "false_exits": false_exits,
            "false_exit_rate": _share(false_exits, len(predictive)),
            "breaks": len(breaks),
            "breaks_warned": len(leads),
            "breaks_with_exit_signal_before": sum(r.exit_before_break() for r in breaks),
            "median_warning_lead_hours": statistics.median(leads) if leads else None,
        }


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def run_study(
    minutes: CandleSeries,
    settings: Settings,
    start: datetime,
    end: datetime,
    *,
    width_pct: float = 8.0,
    levels: int = 20,
    max_days: int = 14,
    horizon_hours: int = 24,
) -> StudyResult:
    batch = analyze_series("ETH-USDT", minutes, start, end, settings.regime)
    records: list[MetricsFile] = [
        batch.record(i, snapshot_path="", collected_at=None, config_version="", code_version="")
        for i in range(len(batch.hours))
    ]
    closes = {r.hour: r.price for r in records}
    runs: list[GridRun] = []
    current: GridRun | None = None
    prior: list[EvaluationRecord] = []
    state = ExitState.NORMAL
    previous: MetricsFile | None = None
    for metrics in records:
        hour = metrics.hour
        if current is None:
            if metrics.verdict == Verdict.RANGE_OK:
                current = _place(metrics, width_pct, levels, len(runs))
                prior, state, previous = [], ExitState.NORMAL, None
            else:
                continue
        observation = Observation.build(metrics, current.grid, previous)
        e = evaluate(observation, state, prior, settings.exit_strategy)
        prior.insert(0, e.record())
        if e.after != state:
            if e.before == ExitState.NORMAL and e.after == ExitState.WARNING:
                current.warnings.append(hour)
            if e.after.rank >= ExitState.LATEST_ACCEPTABLE_EXIT.rank and e.after not in [
                s for _, s in current.exits
            ]:
                current.exits.append((hour, e.after))
        state = e.after
        previous = metrics
        outside = not current.grid.lower_price <= metrics.price <= current.grid.upper_price
        if outside and current.break_at is None:
            current.break_at = hour
        if state == ExitState.MANDATORY_EXIT or hour - current.start >= timedelta(days=max_days):
            current.end = hour
            runs.append(current)
            current = None
    if current is not None:
        runs.append(current)
    return StudyResult(runs, closes, horizon_hours)


def _place(metrics: MetricsFile, width_pct: float, levels: int, n: int) -> GridRun:
    half = metrics.price * width_pct / 200
    lower, upper = (
        float(np.round(metrics.price - half, 2)),
        float(np.round(metrics.price + half, 2)),
    )
    grid = GridConfig(
        id=f"study-{n}",
        symbol=metrics.symbol,
        lower_price=lower,
        upper_price=upper,
        levels=levels,
        amount_per_grid=0.01,
        profit_per_grid=width_pct / 100 / (levels - 1),
        history=[HistoryEntry(enabled=metrics.hour)],
    )
    return GridRun(grid, metrics.hour, metrics.hour)
