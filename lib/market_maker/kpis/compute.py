"""The seven KPIs as pure functions of the records and the hourly prices (no I/O).

Events are found once over a symbol's history up to an as-of moment, then
counted per window. Every number keeps the events behind it, so a figure can
be traced to the hours, grids and decisions that made it. Definitions are in
docs/kpis.md; in short:

- a **range break** is the first hourly close beyond a grid's bounds (by
  ``break_beyond_pct``) while the grid runs, or within the signal horizon after
  it was stopped on an exit signal (a stop that avoided the break must not
  hide it);
- an **exit signal** is an hour whose exit state enters LATEST_ACCEPTABLE_EXIT
  or MANDATORY_EXIT from below; one whose close is already outside the grid
  is not a prediction and is not judged;
- SLAR: breaks preceded by an exit signal (a LATEST_ACCEPTABLE_EXIT-or-above
  stretch running into the break, or raised within the signal horizon before
  it) / breaks;
- FER: signals after which every close of the next ``signal_horizon_hours``
  stayed inside the grid / judged signals;
- EAW: breaks whose exit signal came more than ``advance_warning_hours``
  before them / breaks (the lead of each is in the events);
- TTDR: median hours from a break to its WARNING (negative: warned ahead);
- ERT: median minutes from an exit signal's decision to the operator's first
  recorded action on it;
- MEC: what the grid lost, in USD, from the close before each break without a
  timely signal to the close a horizon later (or when it was stopped);
- PRR: profit kept at a grid's stop / its peak profit during its life.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import datetime, timedelta

import numpy as np

from market_maker.base.timeutil import HOUR, from_seconds
from market_maker.decisions.states import ExitState
from market_maker.kpis.history import (
    ActionFact,
    DecisionFact,
    GridLife,
    HourlyPrices,
    Rules,
    StateHour,
    SymbolHistory,
)
from market_maker.kpis.model import Kpi, KpiEvent, KpiValue

LATEST = ExitState.LATEST_ACCEPTABLE_EXIT.rank
WARNING = ExitState.WARNING.rank
TARGETS = {Kpi.FER: "< 0.30", Kpi.EAW: "> 0.80"}


def find_events(history: SymbolHistory, as_of: datetime, rules: Rules) -> list[KpiEvent]:
    """Every event of a symbol's history, judged with what was known at ``as_of``."""
    prices = history.prices.upto(as_of)
    events: list[KpiEvent] = []
    states = _states_by_grid(history.states, as_of)
    decisions = {(d.grid_id, d.hour): d for d in history.decisions}
    actions = _first_actions(history.actions, as_of)
    for life, next_start in _with_next_start(history.lives):
        timeline = states.get(life.grid_id, {})
        timeline = {h: s for h, s in timeline.items() if _running(life, h)}
        signals = _signals(timeline)
        events += _judge_signals(history.symbol, life, signals, prices, decisions, as_of, rules)
        events += _responses(history.symbol, life, signals, timeline, decisions, actions, as_of)
        watch = min(as_of, next_start) if next_start else as_of  # a restart watches its own
        events += _breaks(history.symbol, life, timeline, signals, prices, decisions, watch, rules)
        events += _stops(history.symbol, life, prices, as_of, rules)
    return sorted(events, key=lambda e: (e.at, e.kind, e.grid_id))


def kpis(events: Iterable[KpiEvent], start: datetime, end: datetime) -> dict[Kpi, KpiValue]:
    """The seven KPIs over the events that happened in [start, end)."""
    inside = [e for e in events if start <= e.at < end]
    by_kind: dict[str, list[KpiEvent]] = {}
    for e in inside:
        by_kind.setdefault(e.kind, []).append(e)
    signals = by_kind.get("exit_signal", [])
    breaks = by_kind.get("break", [])
    stops = by_kind.get("grid_stop", [])
    responses = by_kind.get("response", [])
    return {
        Kpi.SLAR: _ratio(
            breaks,
            lambda b: b.outcome in ("warned", "warned_late"),
            "breaks preceded by LATEST_ACCEPTABLE_EXIT or above",
        ),
        Kpi.PRR: _prr(stops),
        Kpi.TTDR: _median(
            [b.detection_hours for b in breaks if b.detection_hours is not None],
            "hours",
            "median hours from a break to its WARNING (negative: before the break)",
            undetected=sum(1 for b in breaks if b.detection_hours is None),
        ),
        Kpi.FER: _ratio(
            [s for s in signals if s.outcome in ("false_exit", "true_exit")],
            lambda s: s.outcome == "false_exit",
            "exit signals after which price stayed inside the grid",
            pending=sum(1 for s in signals if s.outcome == "pending"),
            target=TARGETS[Kpi.FER],
            met=lambda v: v < 0.30,
        ),
        Kpi.ERT: _median(
            [r.hours * 60 for r in responses if r.hours is not None],
            "minutes",
            "median minutes from an exit recommendation to the operator's first action",
            undetected=sum(1 for r in responses if r.hours is None),
        ),
        Kpi.EAW: _ratio(
            breaks,
            lambda b: b.outcome == "warned",
            "breaks warned by an exit signal more than the advance-warning hours ahead",
            target=TARGETS[Kpi.EAW],
            met=lambda v: v > 0.80,
        ),
        Kpi.MEC: _sum(
            [b for b in breaks if b.outcome in ("missed", "warned_late") and b.usd is not None],
            "USD the grids lost in breaks without a timely exit signal",
        ),
    }


# -- events ------------------------------------------------------------------------------


def _with_next_start(lives: list[GridLife]) -> list[tuple[GridLife, datetime | None]]:
    """Each life with the start of the same grid's next one (None: the last)."""
    out = []
    for life in lives:
        later = [o.start for o in lives if o.grid_id == life.grid_id and o.start > life.start]
        out.append((life, min(later) if later else None))
    return out


def _states_by_grid(states: list[StateHour], as_of: datetime) -> dict[str, dict]:
    out: dict[str, dict[datetime, ExitState]] = {}
    for s in states:
        if s.hour + HOUR <= as_of:
            out.setdefault(s.grid_id, {})[s.hour] = s.state
    return {g: dict(sorted(t.items())) for g, t in out.items()}


def _running(life: GridLife, hour: datetime) -> bool:
    return life.start <= hour and (life.end is None or hour < life.end)


def _first_actions(actions: list[ActionFact], as_of: datetime) -> dict[str, ActionFact]:
    out: dict[str, ActionFact] = {}
    for a in sorted(actions, key=lambda a: a.at):
        if a.at <= as_of:
            out.setdefault(a.decision_id, a)
    return out


def _signals(timeline: dict[datetime, ExitState]) -> list[datetime]:
    """Hours whose state enters LATEST_ACCEPTABLE_EXIT or above from below (or from no
    evaluation the hour before)."""
    out = []
    for hour, state in timeline.items():
        before = timeline.get(hour - HOUR)
        if state.rank >= LATEST and (before is None or before.rank < LATEST):
            out.append(hour)
    return out


def _judge_signals(
    symbol: str,
    life: GridLife,
    signals: list[datetime],
    prices: HourlyPrices,
    decisions: dict[tuple[str, datetime], DecisionFact],
    as_of: datetime,
    rules: Rules,
) -> list[KpiEvent]:
    out = []
    horizon = timedelta(hours=rules.signal_horizon_hours)
    for hour in signals:
        close = prices.close_at(hour)
        decision = decisions.get((life.grid_id, hour))
        if close is None:
            outcome = "no_price"
        elif not life.inside(close):
            outcome = "after_break"  # price already outside: not a prediction
        elif hour + horizon + HOUR > as_of:
            outcome = "pending"
        else:
            span = prices.span(hour + HOUR, hour + horizon)
            stayed = all(life.inside(float(c)) for c in prices.close[span])
            outcome = "false_exit" if stayed else "true_exit"
        out.append(
            KpiEvent(
                kind="exit_signal",
                at=hour,
                symbol=symbol,
                grid_id=life.grid_id,
                decision=decision.id if decision else None,
                outcome=outcome,
            )
        )
    return out


def _responses(
    symbol: str,
    life: GridLife,
    signals: list[datetime],
    timeline: dict[datetime, ExitState],
    decisions: dict[tuple[str, datetime], DecisionFact],
    actions: dict[str, ActionFact],
    as_of: datetime,
) -> list[KpiEvent]:
    """ERT: for each exit signal, the first action on any decision of its episode."""
    out = []
    for hour in signals:
        first = decisions.get((life.grid_id, hour))
        if first is None:
            continue
        episode = []
        h = hour
        while h in timeline and timeline[h].rank >= LATEST:
            if (d := decisions.get((life.grid_id, h))) is not None:
                episode.append(d)
            h += HOUR
        acted = [actions[d.id] for d in episode if d.id in actions]
        action = min(acted, key=lambda a: a.at) if acted else None
        if action is None:
            outcome, hours = "no_action", None
        else:
            outcome = action.action
            hours = max((action.at - first.issued_at).total_seconds() / 3600, 0.0)
        out.append(
            KpiEvent(
                kind="response",
                at=hour,
                symbol=symbol,
                grid_id=life.grid_id,
                decision=first.id,
                outcome=outcome,
                hours=hours,
            )
        )
    return out


def _watch_end(life: GridLife, timeline: dict, as_of: datetime, rules: Rules) -> datetime:
    """Until when a break of this grid's range counts: while it runs, and a horizon past a
    stop made in an exit state (the break that stop avoided is still the signal's proof)."""
    if life.end is None:
        return as_of
    last = max((h for h in timeline if h < life.end), default=None)
    if last is not None and timeline[last].rank >= LATEST:
        return min(life.end + timedelta(hours=rules.signal_horizon_hours), as_of)
    return min(life.end, as_of)


def _breaks(
    symbol: str,
    life: GridLife,
    timeline: dict[datetime, ExitState],
    signals: list[datetime],
    prices: HourlyPrices,
    decisions: dict[tuple[str, datetime], DecisionFact],
    as_of: datetime,
    rules: Rules,
) -> list[KpiEvent]:
    watch_end = _watch_end(life, timeline, as_of, rules)
    span = prices.span(life.start, watch_end - HOUR)
    margin = rules.break_beyond_pct / 100
    low, high = life.shape.lower * (1 - margin), life.shape.upper * (1 + margin)
    closes = prices.close[span]
    outside = np.nonzero((closes < low) | (closes > high))[0]
    if not len(outside):
        return []
    at = from_seconds(int(prices.t[span][outside[0]]))
    signal = _signal_before(timeline, signals, at, rules)
    lead = (at - signal).total_seconds() / 3600 if signal else None
    if lead is None:
        outcome = "missed"
    elif lead > rules.advance_warning_hours:
        outcome = "warned"
    else:
        outcome = "warned_late"
    decision = decisions.get((life.grid_id, signal)) if signal else None
    return [
        KpiEvent(
            kind="break",
            at=at,
            symbol=symbol,
            grid_id=life.grid_id,
            decision=decision.id if decision else None,
            outcome=outcome,
            hours=lead,
            detection_hours=_detection(timeline, at),
            usd=_break_cost(life, prices, at, watch_end, rules) if outcome != "warned" else 0.0,
        )
    ]


def _signal_before(
    timeline: dict[datetime, ExitState], signals: list[datetime], at: datetime, rules: Rules
) -> datetime | None:
    """The exit signal that preceded a break: the start of the LATEST-or-above stretch running
    into it, else the latest signal raised within the horizon before it (the operator was told
    to stop, even if the state eased since)."""
    start = _stretch_into(timeline, at, LATEST)
    if start is not None:
        return start
    horizon = timedelta(hours=rules.signal_horizon_hours)
    recent = [h for h in signals if at - horizon <= h < at]
    return recent[-1] if recent else None


def _stretch_into(timeline: dict[datetime, ExitState], at: datetime, rank: int) -> datetime | None:
    """The start of the stretch of states at ``rank`` or above that the last evaluation before
    ``at`` belongs to (a grid stopped in it ends its evaluations there), or None."""
    last = max((h for h in timeline if h < at), default=None)
    if last is None or timeline[last].rank < rank:
        return None
    while last - HOUR in timeline and timeline[last - HOUR].rank >= rank:
        last -= HOUR
    return last


def _detection(timeline: dict[datetime, ExitState], at: datetime) -> float | None:
    """Signed hours from a break to the WARNING that saw it: the start of the WARNING-or-above
    stretch running into the break, else the first one after it."""
    start = _stretch_into(timeline, at, WARNING)
    if start is not None:
        return (start - at).total_seconds() / 3600
    after = [h for h in timeline if h >= at and timeline[h].rank >= WARNING]
    return (after[0] - at).total_seconds() / 3600 if after else None


def _break_cost(
    life: GridLife, prices: HourlyPrices, at: datetime, watch_end: datetime, rules: Rules
) -> float | None:
    """The grid's loss from the close before the break to the close a horizon later (or at
    its stop, or at the latest price), realized pairs included."""
    stop = watch_end if life.end is None else min(watch_end, life.end)
    if at + HOUR > stop:
        return 0.0  # stopped before the break's hour closed: the grid held nothing through it
    end = min(at + timedelta(hours=rules.signal_horizon_hours), stop - HOUR)
    span = prices.span(at - HOUR, max(end, at))
    closes = prices.close[span]
    if len(closes) < 2:
        return None
    pnl = life.shape.pnl(closes, rules.fee_rate)
    return round(max(0.0, -float(pnl[-1])), 2)


def _stops(
    symbol: str, life: GridLife, prices: HourlyPrices, as_of: datetime, rules: Rules
) -> list[KpiEvent]:
    """PRR for a grid stopped by ``as_of``: the profit kept at the stop over its peak."""
    if life.end is None or life.end > as_of:
        return []
    span = prices.span(life.start, life.end - HOUR)
    closes = prices.close[span]
    if len(closes) < 2:
        return []
    pnl = life.shape.pnl(closes, rules.fee_rate)
    peak, kept = float(pnl.max()), float(pnl[-1])
    return [
        KpiEvent(
            kind="grid_stop",
            at=life.end,
            symbol=symbol,
            grid_id=life.grid_id,
            outcome="profit_kept" if kept > 0 else "loss",
            usd=round(kept, 2),
            peak_usd=round(peak, 2),
        )
    ]


# -- aggregation ---------------------------------------------------------------------------


def _ratio(
    judged: list[KpiEvent],
    counts,
    note: str,
    *,
    pending: int = 0,
    target: str | None = None,
    met=None,
) -> KpiValue:
    n = sum(1 for e in judged if counts(e))
    value = n / len(judged) if judged else None
    return KpiValue(
        value=None if value is None else round(value, 4),
        unit="ratio",
        numerator=n,
        denominator=len(judged),
        pending=pending,
        target=target,
        met=None if value is None or met is None else bool(met(value)),
        note=note,
    )


def _median(values: list[float], unit, note: str, *, undetected: int = 0) -> KpiValue:
    value = statistics.median(values) if values else None
    extra = f"; {undetected} without one" if undetected else ""
    return KpiValue(
        value=None if value is None else round(value, 2),
        unit=unit,
        denominator=len(values),
        pending=0,
        note=note + extra,
    )


def _sum(events: list[KpiEvent], note: str) -> KpiValue:
    total = sum(e.usd or 0.0 for e in events)
    return KpiValue(
        value=round(total, 2),
        unit="USD",
        numerator=round(total, 2),
        denominator=len(events),
        note=note,
    )


def _prr(stops: list[KpiEvent]) -> KpiValue:
    """Profit kept over peak profit, summed over the grids stopped in the window (grids that
    never made a profit have no peak to keep and are left out)."""
    judged = [s for s in stops if s.peak_usd is not None and s.peak_usd > 0]
    kept = sum(s.usd or 0.0 for s in judged)
    peak = sum(s.peak_usd or 0.0 for s in judged)
    value = kept / peak if peak else None
    return KpiValue(
        value=None if value is None else round(value, 4),
        unit="ratio",
        numerator=round(kept, 2),
        denominator=len(judged),
        note="profit kept at the stop / peak profit, over grids stopped (USD)",
    )
