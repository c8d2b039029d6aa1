"""The decision logic replayed hour by hour: grid placement and the exit engine.

The exit engine is the live one (:func:`market_maker.exit_strategy.engine.evaluate`),
fed hour by hour with the analysis of closed candles only and with this grid's
earlier evaluations, exactly as the hourly pipeline feeds it from the exit-state
files. A grid is evaluated for every hour it runs at the start of (as live: a
grid stopped at 10:15 is still evaluated for 10:00).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from market_maker.backtest.feed import Feed
from market_maker.backtest.grid_sim import level_prices
from market_maker.backtest.parameters import BacktestParameters
from market_maker.base.timeutil import HOUR, floor_hour, from_seconds
from market_maker.config.exit_strategy import ExitStrategySettings
from market_maker.decisions.model import decision_id
from market_maker.decisions.states import RECOMMENDATION, ExitState
from market_maker.exit_strategy.engine import Evaluation, evaluate
from market_maker.exit_strategy.model import EvaluationRecord
from market_maker.grids.model import GridConfig, HistoryEntry
from market_maker.regime.model import Verdict

# Persistence and calm read a grid's recent evaluations; no rule looks further back than this.
PRIOR_KEPT = 240


@dataclass
class ExitTrack:
    """One grid's evaluations, and the stop the operator made on them (if any)."""

    grid: GridConfig
    evaluations: list[Evaluation] = field(default_factory=list)
    acted_hour: datetime | None = None  # the evaluation the operator acted on
    stop_at: datetime | None = None  # when the operator stopped the grid

    def decision_id(self, hour: datetime) -> str:
        return decision_id(self.grid.symbol, hour + HOUR)


@dataclass(frozen=True)
class PlacedGrid:
    """A grid the replay placed: when, where, why, and until when it may live."""

    grid: GridConfig
    levels: np.ndarray
    placed_at: datetime
    life_end: datetime
    reason: str


def step_exits(
    feed: Feed,
    grid: GridConfig,
    first_hour: datetime,
    until: datetime,
    cfg: ExitStrategySettings,
    *,
    act_rank: int | None = None,
    delay: timedelta = timedelta(0),
) -> ExitTrack:
    """Evaluate ``grid`` for every hour from ``first_hour`` that starts before ``until``;
    with ``act_rank``, the operator stops it ``delay`` after the first recommendation at
    or above that state, and evaluation ends there."""
    track = ExitTrack(grid)
    prior: list[EvaluationRecord] = []
    state = ExitState.NORMAL
    hour = first_hour
    while hour < until and hour < feed.end:
        e = evaluate(feed.observation(feed.index(hour), grid), state, prior, cfg)
        track.evaluations.append(e)
        prior = [e.record(), *prior[: PRIOR_KEPT - 1]]
        state = e.after
        if act_rank is not None and track.stop_at is None and e.after.rank >= act_rank:
            track.acted_hour = hour
            track.stop_at = hour + HOUR + delay  # issued when the hour closes
            until = min(until, track.stop_at)
        hour += HOUR
    return track


def grid_config(
    grid_id: str, symbol: str, levels: np.ndarray, capital: float, placed_at: datetime
) -> GridConfig:
    lower, upper = float(levels[0]), float(levels[-1])
    return GridConfig(
        id=grid_id,
        symbol=symbol,
        lower_price=lower,
        upper_price=upper,
        levels=len(levels),
        amount_per_grid=capital / (len(levels) - 1) / float(np.mean(levels[:-1])),
        profit_per_grid=float(np.min(np.diff(levels) / levels[:-1])),
        history=[HistoryEntry(enabled=placed_at)],
    )


def place_protocol(feed: Feed, p: BacktestParameters) -> list[PlacedGrid]:
    """A grid centred on the price every ``cadence_hours`` from ``start``, whatever the regime;
    each lives until the next is placed."""
    out = []
    cadence = timedelta(hours=p.cadence_hours)
    at = feed.start
    n = 0
    while at < feed.end:
        life_end = min(at + cadence, feed.end)
        i = feed.minute_index(at)
        if i < len(feed.minutes) and feed.minutes.t[i] < life_end.timestamp():
            price = float(feed.minutes.open[i])
            half = price * p.half_width_pct / 100
            levels = level_prices(price - half, price + half, p.levels, p.spacing)
            n += 1
            grid = grid_config(f"bt-{n:04d}", feed.symbol, levels, p.capital, at)
            out.append(PlacedGrid(grid, levels, at, life_end, f"protocol: every {cadence}"))
        at = life_end
    return out


def next_system_grid(
    feed: Feed, p: BacktestParameters, after: datetime, n: int
) -> PlacedGrid | None:
    """The first grid the system would set up from the analysis of an hour closing at or after
    ``after``: a RANGE_OK hour whose discovered range holds the price and whose spacing covers
    the round-trip fee; the operator places it ``delay_minutes`` after the hour closes."""
    delay = timedelta(minutes=p.delay_minutes)
    b = feed.batch
    first = int(np.searchsorted(b.hours, int((after - HOUR).timestamp()), side="left"))
    lower, upper = b.ranges["lower"], b.ranges["upper"]
    for i in range(max(first, 1), len(b.hours)):
        if feed.verdict(i) != Verdict.RANGE_OK or np.isnan(lower[i]):
            continue
        price = feed.price(i)
        if not lower[i] < price < upper[i]:
            continue
        levels = level_prices(float(lower[i]), float(upper[i]), p.levels, p.spacing)
        if np.min(np.diff(levels) / levels[:-1]) <= 2 * p.fee_rate:
            continue
        hour = from_seconds(int(b.hours[i]))
        placed = hour + HOUR + delay
        if placed >= feed.end:
            return None
        life_end = min(placed + timedelta(hours=p.max_life_hours), feed.end)
        grid = grid_config(f"bt-{n:04d}", feed.symbol, levels, p.capital, placed)
        return PlacedGrid(
            grid, levels, placed, life_end, f"system: RANGE_OK at {hour:%Y-%m-%dT%HZ}"
        )
    return None


def first_evaluated_hour(placed_at: datetime) -> datetime:
    """The first hour a grid runs at the start of (live: ``running_at(hour)``)."""
    hour = floor_hour(placed_at)
    return hour if hour == placed_at else hour + HOUR


def recommendation(e: Evaluation) -> str:
    return str(RECOMMENDATION[e.after])
