"""Generated symbol histories for the properties of the KPIs (``test_*_properties.py``).

A generated history ("world"): 24-72 hourly closes of a random walk around 105, one to
three grids with bounds around it (some stopped at a given time, some stopped on their
first exit signal, some restarted later), an exit state (or none) for every hour a grid
runs, a STOP_GRID decision for most hours in LATEST_ACCEPTABLE_EXIT or above, operator
actions on some of them, and an as-of time between the middle of the history and a little
past its end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from market_maker.base.timeutil import HOUR, to_seconds
from market_maker.decisions.states import ExitState
from market_maker.grids.valuation import GridShape
from market_maker.kpis.compute import find_events, kpis
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

SETTINGS = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)
T0 = datetime(2024, 1, 1, tzinfo=UTC)
N, W, L, M = (
    ExitState.NORMAL,
    ExitState.WARNING,
    ExitState.LATEST_ACCEPTABLE_EXIT,
    ExitState.MANDATORY_EXIT,
)
LATEST = L.rank
STATE_CHOICES = [N, N, N, W, W, L, M, None]  # None: no evaluation that hour


def at(hour: float) -> datetime:
    return T0 + timedelta(hours=hour)


def hour_of(moment: datetime) -> int:
    """Index of the hour ``moment`` falls in."""
    return math.floor((moment - T0) / HOUR)


def running(life: GridLife, hour: int) -> bool:
    return life.start <= at(hour) and (life.end is None or at(hour) < life.end)


@dataclass(frozen=True)
class World:
    history: SymbolHistory
    as_of: datetime
    rules: Rules

    @property
    def closes(self) -> np.ndarray:
        return self.history.prices.close

    @property
    def last_closed(self) -> int:
        """The last hour with a recorded close that was closed by the as-of time."""
        return min(len(self.closes) - 1, hour_of(self.as_of) - 1)

    @property
    def horizon(self) -> int:
        return self.rules.signal_horizon_hours

    def states_of(self, grid_id: str) -> dict[int, ExitState]:
        return {hour_of(s.hour): s.state for s in self.history.states if s.grid_id == grid_id}

    def events(self) -> list[KpiEvent]:
        return find_events(self.history, self.as_of, self.rules)

    def values(self, events: list[KpiEvent] | None = None) -> dict[Kpi, KpiValue]:
        events = self.events() if events is None else events
        return kpis(events, T0 - timedelta(days=1), self.as_of + timedelta(days=1))

    def with_(self, **changes: object) -> World:
        return replace(self, history=replace(self.history, **changes))


def prices_of(closes: np.ndarray) -> HourlyPrices:
    t = np.array([to_seconds(at(h)) for h in range(len(closes))], dtype=np.int64)
    return HourlyPrices(t, closes + 0.25, closes - 0.25, closes)


def picks(size: int) -> st.SearchStrategy[bytes]:
    """``size`` bytes, one draw for all (cheaper than a list of ``size`` draws); each byte
    picks from a list, and shrinks to its first element."""
    return st.binary(min_size=size, max_size=size)


STEPS = [0, 1, -1, 2, -2, 3, -3]


@st.composite
def walks(draw: st.DrawFn, n: int) -> np.ndarray:
    steps = [STEPS[b % len(STEPS)] for b in draw(picks(n - 1))]
    return np.clip(105.0 + 0.5 * np.cumsum([0, *steps]), 60.0, 150.0)


@st.composite
def shapes(draw: st.DrawFn) -> GridShape:
    lower = float(draw(st.integers(96, 104)))
    upper = lower + draw(st.integers(3, 12))
    return GridShape(lower, upper, draw(st.integers(2, 12)), draw(st.sampled_from([0.1, 1.0])))


@st.composite
def lives(draw: st.DrawFn, n: int) -> list[GridLife]:
    out = []
    for i in range(draw(st.integers(1, 3))):
        shape = draw(shapes())
        start = draw(st.integers(0, n - 2))
        end = None
        if draw(st.booleans()):
            minutes = draw(st.sampled_from([0, 0, 20, 45]))
            end = at(start + draw(st.integers(1, n))) + timedelta(minutes=minutes)
        out.append(GridLife(f"g{i}", shape, at(start), end))
        if end is not None and draw(st.booleans()):  # restarted later, same grid
            again = math.ceil((end - T0) / HOUR) + draw(st.integers(0, 6))
            if again < n:
                out.append(GridLife(f"g{i}", shape, at(again), None))
    return out


@st.composite
def state_hours(draw: st.DrawFn, life: GridLife, n: int, choices: list) -> list[StateHour]:
    hours = [h for h in range(n + 3) if running(life, h)]
    drawn = [choices[b % len(choices)] for b in draw(picks(len(hours)))]
    return [StateHour(at(h), life.grid_id, s) for h, s in zip(hours, drawn, strict=True) if s]


ACTIONS = [None, None, "executed", "declined", "ignored"]


@st.composite
def records(
    draw: st.DrawFn, states: list[StateHour]
) -> tuple[list[DecisionFact], list[ActionFact]]:
    """A STOP_GRID decision for most hours in L or above, issued at hour + 1h02; an action on
    some of them, 0-4 h after issue."""
    exits = [s for s in states if s.state.rank >= LATEST]
    choices = draw(picks(3 * len(exits)))
    decisions, actions = [], []
    for s, skip, kind, delay in zip(exits, choices[::3], choices[1::3], choices[2::3], strict=True):
        if skip % 5 == 4:
            continue
        issued = s.hour + HOUR + timedelta(minutes=2)
        d = DecisionFact(f"d-{s.grid_id}-{hour_of(s.hour)}", s.grid_id, s.hour, issued,
                         "STOP_GRID", s.state)  # fmt: skip
        decisions.append(d)
        if action := ACTIONS[kind % len(ACTIONS)]:
            actions.append(ActionFact(d.id, action, issued + timedelta(minutes=delay)))
    return decisions, actions


@st.composite
def worlds(draw: st.DrawFn, choices: list = STATE_CHOICES) -> World:
    n = draw(st.integers(24, 72))
    closes = draw(walks(n))
    rules = Rules(
        break_beyond_pct=draw(st.sampled_from([0.0, 0.0, 1.0])),
        signal_horizon_hours=draw(st.integers(2, 8)),
        advance_warning_hours=draw(st.sampled_from([0.0, 1.0, 2.0, 3.0])),
        fee_rate=0.001,
    )
    grid_lives, states = [], []
    for life in draw(lives(n)):
        hours = draw(state_hours(life, n, choices))
        exits = [s.hour for s in hours if s.state.rank >= LATEST]
        if life.end is None and exits and draw(st.booleans()):
            # stopped on its first exit signal, once its decision was out (hour + 1h02 on)
            life = replace(life, end=exits[0] + HOUR + timedelta(minutes=draw(st.integers(2, 150))))
            hours = [s for s in hours if s.hour < life.end]
        grid_lives.append(life)
        states += hours
    decisions, actions = draw(records(states))
    as_of = at(draw(st.integers(n // 2, n + 2))) + timedelta(minutes=draw(st.sampled_from([0, 30])))
    history = SymbolHistory("ETH-USDT", prices_of(closes), grid_lives, states, decisions, actions)
    return World(history, as_of, rules)


def set_state(world: World, grid_id: str, hour: int, state: ExitState) -> World:
    kept = [s for s in world.history.states if (s.grid_id, s.hour) != (grid_id, at(hour))]
    return world.with_(states=[*kept, StateHour(at(hour), grid_id, state)])


def at_most(new: float | None, old: float | None) -> bool:
    """``new`` <= ``old``, where None (nothing measured) is above every value."""
    return old is None or (new is not None and new <= old)
