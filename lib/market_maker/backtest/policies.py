"""The exit policies compared on the very same grids, and where each stops a grid.

A grid lives from its placement to its horizon (the next grid's placement, or the end of the
period): at most one grid runs at a time under every policy, as SINGLE_GRID capital allows.
Within that life:

- ``system``: the operator follows the system (``act_on``, ``delay_minutes`` after the
  recommendation is issued), or the grid's promotion replaces it;
- ``system_stop_order``: the same, with a stop order at the grid's bounds placed at setup
  (the earlier of the two ends it);
- ``no_exit``: held to its horizon;
- ``static_stop``: a stop order at the bounds, and nothing else;
- ``adx_rule``: stopped ``delay_minutes`` after the first hour of its life whose ADX(14) on
  1h is above ``adx_threshold``.

Not trading at all is the fifth baseline: it earns nothing, and is reported as zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from market_maker.backtest.feed import Feed
from market_maker.backtest.grid_sim import GridFills, first_outside, first_stop_loss
from market_maker.backtest.parameters import BacktestParameters
from market_maker.backtest.replay import ExitTrack, PlacedGrid, first_evaluated_hour
from market_maker.base.candles import CandleSeries
from market_maker.base.timeutil import HOUR, from_seconds, to_seconds
from market_maker.kpis.history import ActionFact, DecisionFact, StateHour
from market_maker.kpis.model import KpiEvent


@dataclass(frozen=True)
class Stop:
    """Where one policy stopped one grid: minute index (exclusive), time, price, why."""

    index: int
    at: datetime
    price: float
    reason: str
    trigger_hour: datetime | None = None  # the hour whose evaluation called the stop


@dataclass
class VariantRun:
    """One policy over every grid: its stops, fills, and the records its KPIs are read from."""

    name: str
    stops: list[Stop] = field(default_factory=list)
    fills: list[GridFills] = field(default_factory=list)
    states: list[StateHour] = field(default_factory=list)
    decisions: list[DecisionFact] = field(default_factory=list)
    actions: list[ActionFact] = field(default_factory=list)
    events: list[KpiEvent] = field(default_factory=list)


def policy_stops(
    feed: Feed, g: PlacedGrid, track: ExitTrack, p: BacktestParameters
) -> dict[str, Stop]:
    """Each policy's stop of grid ``g`` (an optional stop-loss below it applies to all)."""
    start = feed.minute_index(g.placed_at)
    end = feed.minute_index(g.life_end)

    def at_time(moment: datetime, reason: str, trigger: datetime | None = None) -> Stop:
        i = min(max(feed.minute_index(moment), start + 1), end)
        return Stop(i, moment, _price_at(feed.minutes, i), reason, trigger)

    horizon = at_time(g.life_end, "end of life")
    out: dict[str, Stop] = {"no_exit": horizon, "system": horizon}
    if track.stop_at is not None and track.stop_at < g.life_end:
        why = "promoted" if track.promoted else f"{p.act_on} at {track.acted_hour:%Y-%m-%dT%HZ}"
        out["system"] = at_time(track.stop_at, why, track.acted_hour)
    out["static_stop"] = _static_stop(feed, g, start, end) or horizon
    bounds = out["static_stop"]
    out["system_stop_order"] = bounds if bounds.index < out["system"].index else out["system"]
    out["adx_rule"] = _adx_stop(feed, g, p, at_time) or horizon
    if p.stop_loss_pct is not None:
        level = float(g.levels[0]) * (1 - p.stop_loss_pct / 100)
        for name, stop in out.items():
            hit = first_stop_loss(feed.minutes, start, stop.index, level)
            if hit is not None:
                price = min(float(feed.minutes.open[hit]), level)
                when = from_seconds(int(feed.minutes.t[hit]))
                out[name] = Stop(hit + 1, when, price, f"stop-loss {level:.2f}", when)
    return out


def _static_stop(feed: Feed, g: PlacedGrid, start: int, end: int) -> Stop | None:
    """A stop order at the bounds: the first minute trading outside them, at the bound (or the
    open, when it gapped through)."""
    hit = first_outside(feed.minutes, start, end, float(g.levels[0]), float(g.levels[-1]))
    if hit is None:
        return None
    below = feed.minutes.low[hit] < g.levels[0]
    bound = float(g.levels[0] if below else g.levels[-1])
    opened = float(feed.minutes.open[hit])
    price = min(opened, bound) if below else max(opened, bound)  # a stop fills at worst
    when = from_seconds(int(feed.minutes.t[hit]))
    return Stop(hit + 1, when, price, f"price through {'lower' if below else 'upper'} bound", when)


def _adx_stop(feed: Feed, g: PlacedGrid, p: BacktestParameters, at_time) -> Stop | None:
    """The first hour of the grid's whole life (not only the hours the system evaluated)
    whose ADX is above the line; the operator acts ``delay_minutes`` after it closes."""
    adx = feed.adx()
    first = first_evaluated_hour(g.placed_at)
    lo = int(np.searchsorted(feed.hours, to_seconds(first)))
    hi = int(np.searchsorted(feed.hours, to_seconds(g.life_end), side="left"))
    over = np.flatnonzero(adx[lo:hi] > p.adx_threshold)
    if not len(over):
        return None
    hour = from_seconds(int(feed.hours[lo + over[0]]))
    moment = hour + HOUR + timedelta(minutes=p.delay_minutes)
    if moment >= g.life_end:
        return None
    value = float(adx[lo + over[0]])
    return at_time(moment, f"ADX {value:.1f} > {p.adx_threshold:g}", hour)


def _price_at(minutes: CandleSeries, i: int) -> float:
    return float(minutes.open[i] if i < len(minutes) else minutes.close[-1])
