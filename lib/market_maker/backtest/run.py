"""One backtest: place grids, replay the exits, simulate every grid under each exit policy,
score them with the KPI module, and gather the report.

The system's exits are compared on the *same grids* with three baselines a
trader would try instead: no exit (held to the end of its life), a static stop
order at the grid's bounds, and a single-indicator rule (ADX(14) above a
threshold). Each policy's stops feed the same grid simulation and the same
KPI code as the daily batch, so the figures differ only by the policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from market_maker.backtest.feed import Feed
from market_maker.backtest.grid_sim import GridFills, first_outside, first_stop_loss, simulate
from market_maker.backtest.parameters import BacktestParameters
from market_maker.backtest.replay import (
    ExitTrack,
    PlacedGrid,
    first_evaluated_hour,
    next_system_grid,
    place_protocol,
    recommendation,
    step_exits,
)
from market_maker.backtest.results import (
    VARIANTS,
    GridFigures,
    Headline,
    HourRow,
    MonthFigures,
    StopFigures,
    VariantFigures,
)
from market_maker.base.candles import CandleSeries
from market_maker.base.timeutil import HOUR, floor_hour, from_seconds, to_seconds
from market_maker.config import Settings
from market_maker.decisions.states import RECOMMENDATION, ExitState
from market_maker.grids.valuation import GridShape
from market_maker.kpis.compute import (
    ActionFact,
    DecisionFact,
    GridLife,
    HourlyPrices,
    Rules,
    StateHour,
    SymbolHistory,
    find_events,
    kpis,
)
from market_maker.kpis.model import Kpi, KpiEvent

Progress = Callable[[float, str], None]


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
    name: str
    stops: list[Stop] = field(default_factory=list)
    fills: list[GridFills] = field(default_factory=list)
    states: list[StateHour] = field(default_factory=list)
    decisions: list[DecisionFact] = field(default_factory=list)
    actions: list[ActionFact] = field(default_factory=list)
    events: list[KpiEvent] = field(default_factory=list)


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
    pnl_curves: dict[str, np.ndarray]

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
) -> BacktestRun:
    """Replay ``params`` over ``minutes`` (already through preflight); ``feed``: the analysis
    of the same minutes, period and regime settings, when a sweep already built it."""
    say = progress or (lambda share, text: None)
    if feed is None:
        feed = Feed.build(params.symbol, minutes, params.start, params.end, settings.regime)
    say(0.3, f"analysed {len(feed.hours)} hours")
    grids, tracks = _place_and_replay(feed, params, settings)
    say(0.6, f"placed {len(grids)} grid(s), replayed {sum(len(t.evaluations) for t in tracks)} h")
    variants = {name: VariantRun(name) for name in VARIANTS}
    for placed, track in zip(grids, tracks, strict=True):
        for name, stop in _stops(feed, placed, track, params).items():
            variants[name].stops.append(stop)
            variants[name].fills.append(_simulate(feed, placed, stop, params))
    _kpi_records(feed, grids, tracks, variants, params)
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
    say(0.85, "simulated grids and scored the KPIs")
    hour_s = np.arange(to_seconds(params.start), to_seconds(params.end), 3600, dtype=np.int64)
    hour_index = np.searchsorted(feed.minutes.t, hour_s + 3600, side="left") - 1
    curves = {name: _pnl_curve(v, hour_index, feed) for name, v in variants.items()}
    return BacktestRun(params, settings, feed, grids, tracks, variants, hour_index, curves)


def _place_and_replay(
    feed: Feed, p: BacktestParameters, settings: Settings
) -> tuple[list[PlacedGrid], list[ExitTrack]]:
    delay = timedelta(minutes=p.delay_minutes)
    cfg = settings.exit_strategy

    def replay(g: PlacedGrid) -> ExitTrack:
        first = first_evaluated_hour(g.placed_at)
        return step_exits(feed, g.grid, first, g.life_end, cfg, act_rank=p.act_on_rank, delay=delay)

    if p.placement == "protocol":
        grids = place_protocol(feed, p)
        return grids, [replay(g) for g in grids]
    grids, tracks = [], []
    after = feed.start
    while (g := next_system_grid(feed, p, after, len(grids) + 1)) is not None:
        track = replay(g)
        grids.append(g)
        tracks.append(track)
        after = min(track.stop_at or g.life_end, g.life_end)
    return grids, tracks


def _stops(feed: Feed, g: PlacedGrid, track: ExitTrack, p: BacktestParameters) -> dict[str, Stop]:
    start = feed.minute_index(g.placed_at)
    end = feed.minute_index(g.life_end)
    delay = timedelta(minutes=p.delay_minutes)

    def at_time(moment: datetime, reason: str, trigger: datetime | None = None) -> Stop:
        i = min(max(feed.minute_index(moment), start + 1), end)
        return Stop(i, moment, _price_at(feed.minutes, i), reason, trigger)

    life_end = at_time(g.life_end, "end of life")
    out: dict[str, Stop] = {"no_exit": life_end}
    if track.stop_at is not None and track.stop_at < g.life_end:
        out["system"] = at_time(
            track.stop_at, f"{p.act_on} at {track.acted_hour:%Y-%m-%dT%HZ}", track.acted_hour
        )
    else:
        out["system"] = life_end
    hit = first_outside(feed.minutes, start, end, float(g.levels[0]), float(g.levels[-1]))
    if hit is not None:
        below = feed.minutes.low[hit] < g.levels[0]
        bound = float(g.levels[0] if below else g.levels[-1])
        opened = float(feed.minutes.open[hit])
        price = min(opened, bound) if below else max(opened, bound)  # a stop fills at worst
        when = from_seconds(int(feed.minutes.t[hit]))
        out["static_stop"] = Stop(
            hit + 1, when, price, f"price through {'lower' if below else 'upper'} bound", when
        )
    else:
        out["static_stop"] = life_end
    adx = feed.adx()
    out["adx_rule"] = life_end
    for e in track.evaluations:
        value = adx[feed.index(e.hour)]
        if np.isfinite(value) and value > p.adx_threshold:
            moment = e.hour + HOUR + delay
            if moment < g.life_end:
                out["adx_rule"] = at_time(moment, f"ADX {value:.1f} > {p.adx_threshold:g}", e.hour)
            break
    if p.stop_loss_pct is not None:
        level = float(g.levels[0]) * (1 - p.stop_loss_pct / 100)
        for name, stop in out.items():
            hit = first_stop_loss(feed.minutes, start, stop.index, level)
            if hit is not None:
                price = min(float(feed.minutes.open[hit]), level)
                when = from_seconds(int(feed.minutes.t[hit]))
                out[name] = Stop(hit + 1, when, price, f"stop-loss {level:.2f}", when)
    return out


def _price_at(minutes: CandleSeries, i: int) -> float:
    return float(minutes.open[i] if i < len(minutes) else minutes.close[-1])


def _simulate(feed: Feed, g: PlacedGrid, stop: Stop, p: BacktestParameters) -> GridFills:
    start = feed.minute_index(g.placed_at)
    return simulate(
        feed.minutes,
        g.levels,
        start=start,
        stop=max(stop.index, start + 1),
        stop_price=stop.price,
        capital=p.capital,
        maker_fee=p.fee_rate,
        taker_fee=p.exit_fee_rate,
    )


def _shape(g: PlacedGrid) -> GridShape:
    return GridShape(g.grid.lower_price, g.grid.upper_price, g.grid.levels, g.grid.amount_per_grid)


def _kpi_records(
    feed: Feed,
    grids: list[PlacedGrid],
    tracks: list[ExitTrack],
    variants: dict[str, VariantRun],
    p: BacktestParameters,
) -> None:
    """The records the KPI module reads, per policy: exit states, decisions, actions.

    The system's are its evaluations. A baseline has no states of its own: its hours are
    NORMAL until the hour its rule fires, which is its (MANDATORY) exit signal.
    """
    for g, track, *stops in zip(grids, tracks, *(variants[n].stops for n in VARIANTS), strict=True):
        by_name = dict(zip(VARIANTS, stops, strict=True))
        for name, stop in by_name.items():
            v = variants[name]
            for e in track.evaluations:
                if e.hour >= stop.at:
                    break
                if name == "system":
                    state = e.after
                elif stop.trigger_hour is not None and e.hour >= floor_hour(stop.trigger_hour):
                    state = ExitState.MANDATORY_EXIT
                else:
                    state = ExitState.NORMAL
                v.states.append(StateHour(e.hour, g.grid.id, state))
                v.decisions.append(
                    DecisionFact(
                        track.decision_id(e.hour),
                        g.grid.id,
                        e.hour,
                        e.hour + HOUR,
                        str(RECOMMENDATION[state]),
                        state,
                    )
                )
            if stop.trigger_hour is not None and stop.reason != "end of life":
                decision = track.decision_id(floor_hour(stop.trigger_hour))
                v.actions.append(ActionFact(decision, "executed", stop.at))


def _pnl_curve(v: VariantRun, hour_index: np.ndarray, feed: Feed) -> np.ndarray:
    """Cumulative PnL of all grids of a policy at the end of every hour of the run."""
    closes = feed.minutes.close[np.maximum(hour_index, 0)]
    total = np.zeros(len(hour_index))
    for fills in v.fills:
        total += fills.pnl_at(hour_index, closes)
    return total


# -- figures -----------------------------------------------------------------------------


def figures(run: BacktestRun) -> dict[str, VariantFigures]:
    p = run.params
    span_hours = len(run.hour_index)
    out = {}
    for name, v in run.variants.items():
        curve = run.pnl_curves[name]
        peak = np.maximum.accumulate(np.r_[0.0, curve])[1:]
        drawdown = float(np.max(peak - curve)) if len(curve) else 0.0
        in_market = sum(
            max(0.0, (s.at - g.placed_at).total_seconds() / 3600)
            for g, s in zip(run.grids, v.stops, strict=True)
        )
        table = kpis(v.events, p.start, p.end)
        out[name] = VariantFigures(
            description=VARIANTS[name],
            pnl=round(sum(f.pnl for f in v.fills), 2),
            realized=round(sum(f.realized for f in v.fills), 2),
            unrealized_at_stops=round(sum(f.unrealized for f in v.fills), 2),
            fees=round(sum(f.fees for f in v.fills), 2),
            fills=sum(f.fills for f in v.fills),
            pairs=sum(f.pairs for f in v.fills),
            grids=len(v.fills),
            max_drawdown=round(drawdown, 2),
            max_drawdown_pct=round(drawdown / p.capital, 4),
            time_in_market=round(min(in_market / span_hours, 1.0), 4) if span_hours else 0.0,
            kpis=table,
            monthly=_monthly(run, v, curve),
        )
    return out


def _monthly(run: BacktestRun, v: VariantRun, curve: np.ndarray) -> list[MonthFigures]:
    hour_s = to_seconds(run.params.start) + 3600 * np.arange(len(curve), dtype=np.int64)
    hour_month = _months(hour_s)
    t = run.feed.minutes.t
    fill_month = _months(np.concatenate([t[np.r_[f.buy_at, f.sell_at]] for f in v.fills] or [[]]))
    out = []
    for month in sorted(set(hour_month.tolist())):
        idx = np.flatnonzero(hour_month == month)
        before = curve[idx[0] - 1] if idx[0] > 0 else 0.0
        out.append(
            MonthFigures(
                month=month,
                pnl=round(float(curve[idx[-1]] - before), 2),
                fills=int(np.count_nonzero(fill_month == month)),
                grids_started=sum(1 for g in run.grids if f"{g.placed_at:%Y-%m}" == month),
                breaks=sum(1 for e in v.events if e.kind == "break" and f"{e.at:%Y-%m}" == month),
                exit_signals=sum(
                    1 for e in v.events if e.kind == "exit_signal" and f"{e.at:%Y-%m}" == month
                ),
            )
        )
    return out


def _months(seconds: np.ndarray) -> np.ndarray:
    """YYYY-MM of each Unix time."""
    return (
        np.asarray(seconds, dtype="int64")
        .astype("datetime64[s]")
        .astype("datetime64[M]")
        .astype(str)
    )


def headline(variants: dict[str, VariantFigures]) -> list[Headline]:
    system = variants["system"]
    out = []
    for name in ("no_exit", "static_stop", "adx_rule"):
        base = variants[name]
        out.append(
            Headline(
                baseline=name,  # type: ignore[arg-type]
                pnl_system=system.pnl,
                pnl_baseline=base.pnl,
                pnl_difference=round(system.pnl - base.pnl, 2),
                mec_system=system.kpis[Kpi.MEC].value,
                mec_baseline=base.kpis[Kpi.MEC].value,
            )
        )
    return out


def grid_figures(run: BacktestRun) -> list[GridFigures]:
    out = []
    for k, g in enumerate(run.grids):
        stops = {}
        for name, v in run.variants.items():
            s, f = v.stops[k], v.fills[k]
            stops[name] = StopFigures(
                at=s.at,
                price=round(s.price, 8),
                reason=s.reason,
                pnl=round(f.pnl, 2),
                fills=f.fills,
            )
        out.append(
            GridFigures(
                id=g.grid.id,
                placed_at=g.placed_at,
                life_end=g.life_end,
                lower=round(g.grid.lower_price, 8),
                upper=round(g.grid.upper_price, 8),
                levels=g.grid.levels,
                reason=g.reason,
                stops=stops,  # type: ignore[arg-type]
            )
        )
    return out


def series(run: BacktestRun) -> dict[str, list]:
    """The hourly series the report page draws (plain lists, JSON-ready).

    ``t``: hour open times (Unix seconds) of [start, end); ``close``: the hour's close;
    ``lower``/``upper``: the system's grid bounds while it runs (None otherwise);
    ``verdict``: the regime verdict (None when refused); ``exit_state``: the system's exit
    state while a grid runs (None otherwise); ``pnl``: cumulative PnL per policy;
    ``fills``: the system's fills as [time_s, price, "buy"|"sell"].
    """
    feed, p = run.feed, run.params
    t = np.arange(to_seconds(p.start), to_seconds(p.end), 3600, dtype=np.int64)
    close = feed.minutes.close[np.maximum(run.hour_index, 0)]
    lower: list[float | None] = [None] * len(t)
    upper: list[float | None] = [None] * len(t)
    state: list[str | None] = [None] * len(t)
    system = run.variants["system"]
    for g, stop, track in zip(run.grids, system.stops, run.tracks, strict=True):
        a = int(np.searchsorted(t, to_seconds(g.placed_at) - 3599))
        b = int(np.searchsorted(t, to_seconds(stop.at), side="left"))
        for k in range(a, min(b + 1, len(t))):
            lower[k], upper[k] = g.grid.lower_price, g.grid.upper_price
        for e in track.evaluations:
            k = int(np.searchsorted(t, to_seconds(e.hour)))
            if k < len(t):
                state[k] = str(e.after)
    verdicts = [feed.verdict(feed.index(from_seconds(int(s)))) for s in t]
    fills: list[list] = []
    mt = feed.minutes.t
    for f in system.fills:
        fills += [
            [int(mt[i]), float(f.levels[k]), "buy"]
            for k, i in zip(f.buy_slot, f.buy_at, strict=True)
        ]
        fills += [
            [int(mt[i]), float(f.levels[k + 1]), "sell"]
            for k, i in zip(f.sell_slot, f.sell_at, strict=True)
        ]
    fills.sort()
    return {
        "t": t.tolist(),
        "close": [round(float(c), 8) for c in close],
        "lower": lower,
        "upper": upper,
        "verdict": verdicts,
        "exit_state": state,
        "pnl": {name: [round(float(x), 2) for x in c] for name, c in run.pnl_curves.items()},
        "fills": fills,
    }
