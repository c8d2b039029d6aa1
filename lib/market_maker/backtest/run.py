"""One backtest: place grids, replay the exits, simulate every grid under each exit policy,
score them with the KPI module, and gather the report.

With ``system`` placement the grids are the live lifecycle's (the system's own setups and
promotions, the operator following its stops); with ``protocol`` placement a grid is centred
on the price at a fixed cadence. Either way the system's exits are compared on the *same
grids* with the baselines a trader would use instead (:mod:`market_maker.backtest.policies`).
Each policy's stops feed the same grid simulation and the same KPI code as the daily batch,
so the figures differ only by the policy.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

import numpy as np

from market_maker.backtest.feed import Feed
from market_maker.backtest.grid_sim import GridFills, simulate
from market_maker.backtest.parameters import BacktestParameters
from market_maker.backtest.policies import Stop, VariantRun, policy_stops
from market_maker.backtest.replay import (
    ExitTrack,
    PlacedGrid,
    first_evaluated_hour,
    place_protocol,
    place_system,
    recommendation,
    step_exits,
)
from market_maker.backtest.results import VARIANTS, HourRow
from market_maker.backtest.scoring import kpi_records, pnl_curve
from market_maker.base.candles import CandleSeries
from market_maker.base.timeutil import to_seconds
from market_maker.config import Settings
from market_maker.grids.valuation import GridShape
from market_maker.kpis.compute import find_events
from market_maker.kpis.history import GridLife, HourlyPrices, Rules, SymbolHistory

Progress = Callable[[float, str], None]


@dataclass
class BacktestRun:
    """Everything a run computed; :meth:`figures` turns it into the report's numbers."""

    params: BacktestParameters
    settings: Settings
    feed: Feed
    grids: list[PlacedGrid]
    tracks: list[ExitTrack]
    variants: dict[str, VariantRun]
    hour_index: np.ndarray  # per analysed hour from start: the last minute closed by its end

    @cached_property
    def pnl_curves(self) -> dict[str, np.ndarray]:
        """Each policy's cumulative PnL at the end of every hour (drawn when first read: a
        sweep point ranks by money and KPIs and never reads them)."""
        return {name: pnl_curve(v, self.hour_index, self.feed) for name, v in self.variants.items()}

    def hour_rows(self) -> list[HourRow]:
        rows = []
        for track in self.tracks:
            for e in track.evaluations:
                o = self.feed.observation(self.feed.index(e.hour), track.grid)
                rows.append(
                    HourRow(
                        hour=e.hour,
                        grid=track.grid.id,
                        verdict=str(o.verdict) if o.verdict else None,
                        confidence=o.confidence,
                        exit_state=str(e.after),
                        recommendation=recommendation(e),
                        decision=track.decision_id(e.hour),
                    )
                )
        return rows


def run_backtest(
    params: BacktestParameters,
    settings: Settings,
    minutes: CandleSeries,
    progress: Progress | None = None,
    feed: Feed | None = None,
    *,
    kpis: bool | Collection[str] = True,
    policies: Collection[str] = tuple(VARIANTS),
) -> BacktestRun:
    """Replay ``params`` over ``minutes`` (already through preflight); ``feed``: the analysis
    of the same minutes, period and regime settings, when a sweep already built it;
    ``kpis``: the policies whose KPIs are scored (True: all, False: money only, a study's
    search); ``policies``: the exit policies simulated (a sweep point needs two of them)."""
    say = progress or (lambda share, text: None)
    if feed is None:
        feed = Feed.build(params.symbol, minutes, params.start, params.end, settings.regime)
    say(0.3, f"analysed {len(feed.hours)} hours")
    grids, tracks = _place_and_replay(feed, params, settings)
    say(0.6, f"placed {len(grids)} grid(s), replayed {sum(len(t.evaluations) for t in tracks)} h")
    variants = {name: VariantRun(name) for name in VARIANTS if name in policies}
    for placed, track in zip(grids, tracks, strict=True):
        for name, stop in policy_stops(feed, placed, track, params).items():
            if name not in variants:
                continue
            variants[name].stops.append(stop)
            variants[name].fills.append(_simulate(feed, placed, stop, params))
    scored = {n: v for n, v in variants.items() if kpis is True or (kpis and n in kpis)}
    if scored:
        _score(feed, params, settings, grids, tracks, scored)
    say(0.85, "simulated grids and scored the KPIs")
    hour_s = np.arange(to_seconds(params.start), to_seconds(params.end), 3600, dtype=np.int64)
    hour_index = np.searchsorted(feed.minutes.t, hour_s + 3600, side="left") - 1
    return BacktestRun(params, settings, feed, grids, tracks, variants, hour_index)


def _score(
    feed: Feed,
    params: BacktestParameters,
    settings: Settings,
    grids: list[PlacedGrid],
    tracks: list[ExitTrack],
    variants: dict[str, VariantRun],
) -> None:
    """Each policy's KPI events, by the daily batch's own KPI code."""
    kpi_records(feed, grids, tracks, variants)
    rules = Rules.of(settings.kpis, params.fee_rate)
    history_prices = HourlyPrices(feed.h1.t, feed.h1.high, feed.h1.low, feed.h1.close)
    for v in variants.values():
        lives = [
            GridLife(g.grid.id, _shape(g), g.placed_at, s.at)
            for g, s in zip(grids, v.stops, strict=True)
        ]
        history = SymbolHistory(params.symbol, history_prices, lives, v.states, v.decisions)
        history.actions = v.actions
        v.events = find_events(history, params.end, rules)


def _place_and_replay(
    feed: Feed, p: BacktestParameters, settings: Settings
) -> tuple[list[PlacedGrid], list[ExitTrack]]:
    if p.placement == "system":
        return place_system(feed, p, settings)
    delay = timedelta(minutes=p.delay_minutes)
    grids = place_protocol(feed, p)
    tracks = [
        step_exits(
            feed,
            g.grid,
            first_evaluated_hour(g.placed_at),
            g.life_end,
            settings.exit_strategy,
            act_rank=p.act_on_rank,
            delay=delay,
        )
        for g in grids
    ]
    return grids, tracks


def _simulate(feed: Feed, g: PlacedGrid, stop: Stop, p: BacktestParameters) -> GridFills:
    start = feed.minute_index(g.placed_at)
    return simulate(
        feed.minutes,
        g.levels,
        start=start,
        stop=max(stop.index, start + 1),
        stop_price=stop.price,
        capital=g.capital,
        maker_fee=p.fee_rate,
        taker_fee=p.exit_fee_rate,
        amount=g.amount,
        start_with_base=True,
    )


def _shape(g: PlacedGrid) -> GridShape:
    return GridShape(g.grid.lower_price, g.grid.upper_price, g.grid.levels, g.grid.amount_per_grid)
