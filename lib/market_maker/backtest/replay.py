"""Where the backtest's grids come from, and the exit engine over each.

``system`` placement is the live lifecycle replayed (:mod:`market_maker.backtest.lifecycle`):
the system's own setups, approved by the operator, their probation, promotion and stops.
``protocol`` placement puts a grid centred on the price at a fixed cadence, whatever the
regime, and steps the live exit engine over each
(:func:`market_maker.exit_strategy.engine.evaluate`), fed hour by hour with the analysis of
closed candles only and with the grid's earlier evaluations, as the hourly pipeline feeds it
from the exit-state files. A grid is evaluated for every hour it runs at the start of (as
live: a grid stopped at 10:15 is still evaluated for 10:00).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from market_maker.backtest.feed import Feed
from market_maker.backtest.grid_sim import level_prices
from market_maker.backtest.lifecycle import PRIOR_KEPT, LifecycleReplay, Operator
from market_maker.backtest.parameters import BacktestParameters
from market_maker.base.timeutil import HOUR, floor_hour
from market_maker.config import Settings
from market_maker.config.exit_strategy import ExitStrategySettings
from market_maker.decisions.model import decision_id
from market_maker.decisions.states import RECOMMENDATION, ExitState
from market_maker.exit_strategy.engine import Evaluation, evaluate
from market_maker.grids.model import GridConfig, HistoryEntry


@dataclass
class ExitTrack:
    """One grid's evaluations, and the stop the operator made on them (if any)."""

    grid: GridConfig
    evaluations: list[Evaluation] = field(default_factory=list)
    acted_hour: datetime | None = None  # the evaluation the operator acted on
    stop_at: datetime | None = None  # when the operator stopped the grid
    promoted: bool = False  # its end was its promotion (replaced by a full grid), not a stop

    def decision_id(self, hour: datetime) -> str:
        return decision_id(self.grid.symbol, hour + HOUR)


@dataclass(frozen=True)
class PlacedGrid:
    """A grid the replay placed: when, where, why, and until when it may live (the next
    grid's placement, or the end of the period). ``amount``: base per level, as the setup
    sized it (None: ``capital`` spread as equal quote over the levels)."""

    grid: GridConfig
    levels: np.ndarray
    placed_at: datetime
    life_end: datetime
    reason: str
    capital: float
    amount: float | None = None


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
    prior: list[Evaluation] = []  # most recent first, as the engine reads them
    state = ExitState.NORMAL
    hour = first_hour
    while hour < until and hour < feed.end:
        e = evaluate(feed.observation(feed.index(hour), grid), state, prior, cfg)
        track.evaluations.append(e)
        prior = [e, *prior[: PRIOR_KEPT - 1]]
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
            out.append(
                PlacedGrid(grid, levels, at, life_end, f"protocol: every {cadence}", p.capital)
            )
        at = life_end
    return out


def place_system(
    feed: Feed, p: BacktestParameters, settings: Settings
) -> tuple[list[PlacedGrid], list[ExitTrack]]:
    """The grids the live lifecycle places over the period, each with its exit evaluations
    and the operator's stop (or its promotion); a grid lives until the next one is placed."""
    operator = Operator(timedelta(minutes=p.delay_minutes), ExitState(p.act_on))
    settings = scaled_capital(settings, p.capital)
    balance = (settings.lifecycle.capital.total_quote, "backtest: capital per grid")
    lifecycle = LifecycleReplay(feed, settings, operator, balance).run()
    grids, tracks = [], []
    # A grid approved after the recording ends never trades in it.
    lives = [life for life in lifecycle.lives if life.placed_at < feed.end]
    for k, life in enumerate(lives):
        after = lives[k + 1] if k + 1 < len(lives) else None
        g = life.grid
        horizon = after.placed_at if after is not None else feed.end
        levels = level_prices(g.lower_price, g.upper_price, g.levels, g.spacing_kind)
        why = f"system: {g.mode} grid on {life.decision}"
        grids.append(
            PlacedGrid(g, levels, life.placed_at, horizon, why, g.capital(), g.amount_per_grid)
        )
        track = ExitTrack(g, life.evaluations, life.acted_hour, life.ended_at)
        track.promoted = life.promoted
        tracks.append(track)
    return grids, tracks


def scaled_capital(settings: Settings, capital: float) -> Settings:
    """The lifecycle's capital scaled so a full grid gets ``capital`` (the balance and the
    reserve keep their proportions to it)."""
    c = settings.lifecycle.capital
    factor = capital / c.grid_allocation_quote
    scaled = c.model_copy(
        update={
            "total_quote": c.total_quote * factor,
            "reserve_quote": c.reserve_quote * factor,
            "grid_allocation_quote": capital,
        }
    )
    lifecycle = settings.lifecycle.model_copy(update={"capital": scaled})
    return settings.model_copy(update={"lifecycle": lifecycle})


def first_evaluated_hour(placed_at: datetime) -> datetime:
    """The first hour a grid runs at the start of (live: ``running_at(hour)``)."""
    hour = floor_hour(placed_at)
    return hour if hour == placed_at else hour + HOUR


def recommendation(e: Evaluation) -> str:
    return str(RECOMMENDATION[e.after])
