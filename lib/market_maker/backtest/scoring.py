"""A backtest's figures: each policy's KPI records, PnL, drawdown, fees, the per-month table,
the headline against each baseline, every grid's stops, and the hourly series of the page."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from market_maker.backtest.feed import Feed
from market_maker.backtest.policies import VariantRun
from market_maker.backtest.replay import ExitTrack, PlacedGrid, first_evaluated_hour
from market_maker.backtest.results import (
    BASELINES,
    VARIANTS,
    GridFigures,
    Headline,
    MonthFigures,
    StopFigures,
    VariantFigures,
)
from market_maker.backtest.sweep import PolicySummary
from market_maker.base.timeutil import HOUR, floor_hour, from_seconds, to_seconds
from market_maker.decisions.states import RECOMMENDATION, ExitState
from market_maker.kpis.compute import kpis
from market_maker.kpis.history import ActionFact, DecisionFact, StateHour
from market_maker.kpis.model import Kpi

if TYPE_CHECKING:  # the run is built from these functions' answers
    from market_maker.backtest.run import BacktestRun


def kpi_records(
    feed: Feed,
    grids: list[PlacedGrid],
    tracks: list[ExitTrack],
    variants: dict[str, VariantRun],
) -> None:
    """The records the KPI module reads, per policy: exit states, decisions, actions.

    The system's are its evaluations. A baseline has no states of its own: each hour of the
    grid's life under it is NORMAL until the hour its rule fires, which is its (MANDATORY)
    exit signal.
    """
    for k, (g, track) in enumerate(zip(grids, tracks, strict=True)):
        evaluated = {e.hour: e.after for e in track.evaluations}
        for name, v in variants.items():
            stop = v.stops[k]
            hour = first_evaluated_hour(g.placed_at)
            while hour < stop.at and hour < feed.end:
                if name in ("system", "system_stop_order") and hour in evaluated:
                    state = evaluated[hour]
                elif name in ("system", "system_stop_order"):
                    hour += HOUR
                    continue
                else:
                    state = ExitState.NORMAL
                if (
                    name != "system"
                    and stop.trigger_hour is not None
                    and stop.reason != "end of life"
                    and hour >= floor_hour(stop.trigger_hour)
                    and (name != "system_stop_order" or stop.reason.startswith("price"))
                ):
                    state = ExitState.MANDATORY_EXIT
                v.states.append(StateHour(hour, g.grid.id, state))
                v.decisions.append(
                    DecisionFact(
                        track.decision_id(hour),
                        g.grid.id,
                        hour,
                        hour + HOUR,
                        str(RECOMMENDATION[state]),
                        state,
                    )
                )
                hour += HOUR
            if stop.trigger_hour is not None and stop.reason not in ("end of life", "promoted"):
                decision = track.decision_id(floor_hour(stop.trigger_hour))
                v.actions.append(ActionFact(decision, "executed", stop.at))


def pnl_curve(v: VariantRun, hour_index: np.ndarray, feed: Feed) -> np.ndarray:
    """Cumulative PnL of all grids of a policy at the end of every hour of the run."""
    closes = feed.minutes.close[np.maximum(hour_index, 0)]
    total = np.zeros(len(hour_index))
    for fills in v.fills:
        total += fills.pnl_at(hour_index, closes)
    return total


def money(v: VariantRun) -> float:
    """A policy's net PnL over all its grids, as reported (to the cent)."""
    return round(sum(f.pnl for f in v.fills), 2)


def summary(v: VariantRun, start: datetime, end: datetime) -> PolicySummary:
    """A policy's money and KPIs over [start, end), as :func:`figures` reports them."""
    fills = sum(f.fills for f in v.fills)
    return PolicySummary(money(v), len(v.fills), fills, kpis(v.events, start, end))


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
        money_and_kpis = summary(v, p.start, p.end)
        out[name] = VariantFigures(
            description=VARIANTS[name],
            pnl=money_and_kpis.pnl,
            realized=round(sum(f.realized for f in v.fills), 2),
            unrealized_at_stops=round(sum(f.unrealized for f in v.fills), 2),
            fees=round(sum(f.fees for f in v.fills), 2),
            fills=money_and_kpis.fills,
            pairs=sum(f.pairs for f in v.fills),
            grids=money_and_kpis.grids,
            max_drawdown=round(drawdown, 2),
            max_drawdown_pct=round(drawdown / p.capital, 4),
            time_in_market=round(min(in_market / span_hours, 1.0), 4) if span_hours else 0.0,
            kpis=money_and_kpis.kpis,
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
    """The system against each baseline, on the same grids, and against not trading."""
    system = variants["system"]
    out = []
    for name in BASELINES:
        base = variants.get(name)
        pnl = base.pnl if base is not None else 0.0
        out.append(
            Headline(
                baseline=name,  # type: ignore[arg-type]
                pnl_system=system.pnl,
                pnl_baseline=pnl,
                pnl_difference=round(system.pnl - pnl, 2),
                mec_system=system.kpis[Kpi.MEC].value,
                mec_baseline=base.kpis[Kpi.MEC].value if base is not None else None,
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
