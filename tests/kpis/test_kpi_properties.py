"""Properties of the KPIs over generated histories: what adding a signal or a break does to
them, that nothing depends on the calendar, and that nothing after the as-of time is used.

A generated history ("world"): 24-72 hourly closes of a random walk around 105, one to
three grids with bounds around it (some stopped at a given time, some stopped on their
first exit signal, some restarted later), an exit state (or none) for every hour a grid
runs, a STOP_GRID decision for most hours in LATEST_ACCEPTABLE_EXIT or above, operator
actions on some of them, and an as-of time between the middle of the history and a little
past its end.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from market_maker.base.timeutil import HOUR, to_seconds
from market_maker.decisions.states import ExitState
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


# -- FER ------------------------------------------------------------------------------------


def new_signal_hours(world: World, *, leaves: bool) -> list[tuple[GridLife, int]]:
    """(life, hour) where a lone LATEST_ACCEPTABLE_EXIT hour would be a new exit signal, judged
    by the as-of time, with the close inside the grid and price leaving it (``leaves``) or
    staying inside for the whole horizon. The hours either side are below L, so no signal
    already there disappears."""
    out = []
    for life in world.history.lives:
        states = world.states_of(life.grid_id)
        for h in range(len(world.closes)):
            if not running(life, h) or h + world.horizon >= len(world.closes):
                continue
            if at(h + world.horizon + 1) > world.as_of or not life.inside(world.closes[h]):
                continue
            if any(s is not None and s.rank >= LATEST for s in map(states.get, (h - 1, h, h + 1))):
                continue
            after = world.closes[h + 1 : h + world.horizon + 1]
            if leaves != all(life.inside(float(c)) for c in after):
                out.append((life, h))
    return out


@SETTINGS
@given(world=worlds(), data=st.data())
def test_adding_a_true_exit_signal_never_raises_fer(world: World, data: st.DataObject) -> None:
    candidates = new_signal_hours(world, leaves=True)
    assume(candidates)
    life, hour = data.draw(st.sampled_from(candidates), label="new signal")
    before = world.values()[Kpi.FER]
    changed = set_state(world, life.grid_id, hour, L)
    events = changed.events()
    after = changed.values(events)[Kpi.FER]

    new = [e for e in events if e.kind == "exit_signal" and e.at == at(hour)]
    assert [(e.grid_id, e.outcome) for e in new if e.grid_id == life.grid_id] == [
        (life.grid_id, "true_exit")
    ]
    assert (after.numerator, after.denominator) == (before.numerator, before.denominator + 1)
    assert after.pending == before.pending
    assert at_most(after.value, before.value)
    if before.value is None:
        assert after.value == 0.0


@SETTINGS
@given(world=worlds(), data=st.data())
def test_adding_a_false_exit_signal_never_lowers_fer(world: World, data: st.DataObject) -> None:
    candidates = new_signal_hours(world, leaves=False)
    assume(candidates)
    life, hour = data.draw(st.sampled_from(candidates), label="new signal")
    before = world.values()[Kpi.FER]
    after = set_state(world, life.grid_id, hour, M).values()[Kpi.FER]
    assert (after.numerator, after.denominator) == (before.numerator + 1, before.denominator + 1)
    assert after.value is not None
    assert before.value is None or after.value >= before.value


def reference_signals(world: World) -> dict[tuple[str, datetime], str]:
    """Every exit signal and how it must be judged, from the definitions, by hand."""
    out = {}
    h_ = world.horizon
    for life in world.history.lives:
        timeline = {
            h: s
            for h, s in world.states_of(life.grid_id).items()
            if running(life, h) and at(h + 1) <= world.as_of
        }
        for h, s in timeline.items():
            before = timeline.get(h - 1)
            if s.rank < LATEST or (before is not None and before.rank >= LATEST):
                continue
            if h >= len(world.closes):
                outcome = "no_price"
            elif not life.inside(world.closes[h]):
                outcome = "after_break"
            elif at(h + h_ + 1) > world.as_of:
                outcome = "pending"
            else:
                after = world.closes[h + 1 : h + h_ + 1]
                outcome = "false_exit" if all(life.inside(c) for c in after) else "true_exit"
            out[(life.grid_id, at(h))] = outcome
    return out


@SETTINGS
@given(world=worlds())
def test_signals_are_judged_only_once_their_horizon_has_closed(world: World) -> None:
    expected = reference_signals(world)
    events = world.events()
    found = {(e.grid_id, e.at): e.outcome for e in events if e.kind == "exit_signal"}
    assert found == expected
    fer = world.values(events)[Kpi.FER]
    outcomes = list(expected.values())
    assert fer.pending == outcomes.count("pending")
    assert fer.numerator == outcomes.count("false_exit")
    assert fer.denominator == outcomes.count("false_exit") + outcomes.count("true_exit")
    for (_, hour), outcome in found.items():
        closed = hour + (world.horizon + 1) * HOUR <= world.as_of
        assert closed or outcome in ("pending", "after_break", "no_price")
        assert not closed or outcome != "pending"


@SETTINGS
@given(world=worlds(choices=[N, N, W, W, None]))
def test_fer_is_none_without_exit_signals(world: World) -> None:
    events = world.events()
    assert not [e for e in events if e.kind in ("exit_signal", "response")]
    fer = world.values(events)[Kpi.FER]
    assert fer.value is None and fer.met is None
    assert (fer.numerator, fer.denominator, fer.pending) == (0, 0, 0)
    assert world.values(events)[Kpi.ERT].value is None


@SETTINGS
@given(world=worlds(), data=st.data())
def test_a_signal_is_pending_until_its_horizon_has_closed(
    world: World, data: st.DataObject
) -> None:
    """Seen from one hour after a signal (its own hour just closed), that signal and any later
    one are not judged yet: pending, unless their close was already out of the grid."""
    signals = [e for e in world.events() if e.kind == "exit_signal"]
    assume(signals)
    first = data.draw(st.sampled_from(signals), label="signal")
    earlier = replace(world, as_of=first.at + HOUR)
    events = earlier.events()
    mine = [e for e in events if e.kind == "exit_signal" and e.at >= first.at]
    assert mine and all(e.outcome in ("pending", "after_break", "no_price") for e in mine)
    fer = earlier.values(events)[Kpi.FER]
    assert fer.pending == sum(1 for e in events if e.outcome == "pending")
    judged = [e for e in events if e.kind == "exit_signal" and e.outcome.endswith("_exit")]
    assert fer.denominator == len(judged)
    if not judged:
        assert fer.value is None


# -- SLAR and MEC ---------------------------------------------------------------------------


@SETTINGS
@given(world=worlds(), data=st.data())
def test_a_break_without_exit_signal_raises_mec_and_lowers_slar(
    world: World, data: st.DataObject
) -> None:
    """A new grid, started at hour s around that hour's close, whose range price leaves with
    no LATEST_ACCEPTABLE_EXIT before: a missed break. Its cost is worked out here from the
    definition: the grid's loss from the close before the break to the close a horizon later
    (or the last one closed by the as-of time)."""
    last = world.last_closed
    assume(last >= 3)
    s = data.draw(st.integers(0, last - 2), label="start")
    below = data.draw(st.sampled_from([0.5, 1.0, 2.0, 3.0]), label="below")
    above = data.draw(st.sampled_from([0.5, 1.0, 2.0, 3.0]), label="above")
    close = float(world.closes[s])
    shape = GridShape(close - below, close + above, data.draw(st.integers(2, 8)), 1.0)
    margin = world.rules.break_beyond_pct / 100
    low, high = shape.lower * (1 - margin), shape.upper * (1 + margin)
    out = [h for h in range(s, last + 1) if not low <= world.closes[h] <= high]
    assume(out)
    b = out[0]
    end = min(b + world.horizon, last)
    cost = round(max(0.0, -float(shape.pnl(world.closes[b - 1 : end + 1], 0.001)[-1])), 2)

    life = GridLife("gx", shape, at(s), None)
    moods = [[N, W, None][b % 3] for b in data.draw(picks(last - s + 3), label="states")]
    states = [StateHour(at(s + i), "gx", m) for i, m in enumerate(moods) if m]
    changed = world.with_(
        lives=[*world.history.lives, life], states=[*world.history.states, *states]
    )

    before_events, after_events = world.events(), changed.events()
    (brk,) = [e for e in after_events if e.kind == "break" and e.grid_id == "gx"]
    assert (brk.at, brk.outcome, brk.hours, brk.usd) == (at(b), "missed", None, cost)
    # The other grids' events are untouched.
    assert [e for e in after_events if e.grid_id != "gx"] == before_events

    before, after = world.values(before_events), changed.values(after_events)
    mec0, mec1 = before[Kpi.MEC], after[Kpi.MEC]
    assert mec1.denominator == mec0.denominator + 1
    assert math.isclose(mec1.value, round(mec0.value + cost, 2), abs_tol=1e-9)
    assert mec1.value >= mec0.value
    if cost > 0:
        assert mec1.value > mec0.value
    for kpi in (Kpi.SLAR, Kpi.EAW):
        old, new = before[kpi], after[kpi]
        assert (new.numerator, new.denominator) == (old.numerator, old.denominator + 1)
        assert at_most(new.value, old.value)
        if old.numerator:  # other breaks were signalled: strictly lower
            assert new.value < old.value
        if old.value is None:
            assert new.value == 0.0


@SETTINGS
@given(world=worlds(), data=st.data())
def test_taking_away_the_exit_signal_before_a_break_raises_mec_and_lowers_slar(
    world: World, data: st.DataObject
) -> None:
    """The same break of a running grid, its LATEST/MANDATORY hours lowered to WARNING: it is
    now missed; it costs what it lost, and SLAR loses it if it had counted it."""
    events = world.events()
    grids = [life.grid_id for life in world.history.lives]
    running_at_as_of = [  # (and never restarted: one life per grid, one break)
        life
        for life in world.history.lives
        if life.start < world.as_of
        and (life.end is None or life.end > world.as_of)
        and grids.count(life.grid_id) == 1
    ]
    breaks = [
        (life, e)
        for life in running_at_as_of
        for e in events
        if e.kind == "break" and e.grid_id == life.grid_id and e.at >= life.start
    ]
    assume(breaks)
    life, old = data.draw(st.sampled_from(breaks), label="break")
    lowered = [
        StateHour(s.hour, s.grid_id, W)
        if s.grid_id == life.grid_id and running(life, hour_of(s.hour)) and s.state.rank >= LATEST
        else s
        for s in world.history.states
    ]
    changed = world.with_(states=lowered)
    after_events = changed.events()
    (new,) = [e for e in after_events if e.kind == "break" and e.grid_id == life.grid_id
              and e.at >= life.start]  # fmt: skip
    assert (new.at, new.outcome, new.hours) == (old.at, "missed", None)
    assert new.detection_hours == old.detection_hours  # W-or-above stretches are unchanged

    before, after = world.values(events), changed.values(after_events)
    added = (new.usd or 0.0) if old.outcome == "warned" else 0.0
    assert math.isclose(after[Kpi.MEC].value, round(before[Kpi.MEC].value + added, 2),
                        abs_tol=1e-9)  # fmt: skip
    assert after[Kpi.MEC].value >= before[Kpi.MEC].value
    slar0, slar1 = before[Kpi.SLAR], after[Kpi.SLAR]
    assert slar1.denominator == slar0.denominator
    assert at_most(slar1.value, slar0.value)
    if old.outcome != "missed":
        assert slar1.numerator == slar0.numerator - 1
        assert slar1.value < slar0.value


@SETTINGS
@given(world=worlds(), data=st.data())
def test_a_grid_stopped_on_its_signal_before_the_break_costs_nothing(
    world: World, data: st.DataObject
) -> None:
    """A new grid around hour s's close, an exit signal at hour h within the horizon before
    price leaves its range (hour b), stopped on that signal before hour b closed. The break
    still counts (it proves the signal), warned or warned late, but the grid held nothing
    through it: no missed-exit cost."""
    last = world.last_closed
    assume(last >= 3)
    s = data.draw(st.integers(0, last - 2), label="start")
    close = float(world.closes[s])
    width = data.draw(st.sampled_from([0.5, 1.0, 2.0]), label="half width")
    shape = GridShape(close - width, close + width, data.draw(st.integers(2, 8)), 1.0)
    margin = world.rules.break_beyond_pct / 100
    low, high = shape.lower * (1 - margin), shape.upper * (1 + margin)
    out = [h for h in range(s + 1, last + 1) if not low <= world.closes[h] <= high]
    assume(out)
    b = out[0]
    h = data.draw(st.integers(max(s, b - world.horizon), b - 1), label="signal")
    # after the decision is out (h + 1h02), before hour b closes
    minutes = data.draw(st.integers(2, (b - h) * 60 - 1), label="stop minutes")
    end = at(h + 1) + timedelta(minutes=minutes)
    calm = [[N, W, None][x % 3] for x in data.draw(picks(h - s), label="before")]
    states = [StateHour(at(s + i), "gs", m) for i, m in enumerate(calm) if m]
    states += [StateHour(at(k), "gs", L if k == h else M) for k in range(h, b + 1) if at(k) < end]
    decision = DecisionFact("d-gs", "gs", at(h), at(h + 1) + timedelta(minutes=2), "STOP_GRID", L)
    changed = world.with_(
        lives=[*world.history.lives, GridLife("gs", shape, at(s), end)],
        states=[*world.history.states, *states],
        decisions=[*world.history.decisions, decision],
        actions=[*world.history.actions, ActionFact("d-gs", "executed", end)],
    )
    events = changed.events()
    (brk,) = [e for e in events if e.kind == "break" and e.grid_id == "gs"]
    lead = float(b - h)
    expected = "warned" if lead > world.rules.advance_warning_hours else "warned_late"
    assert (brk.at, brk.outcome, brk.hours, brk.decision) == (at(b), expected, lead, "d-gs")
    assert brk.usd == 0.0
    before, after = world.values()[Kpi.MEC], changed.values(events)[Kpi.MEC]
    assert after.value == before.value
    assert after.denominator == before.denominator + (expected == "warned_late")


def reference_cost(world: World, life: GridLife, brk: KpiEvent) -> float | None:
    """A break's cost from the definition: nothing when warned in time; else what the grid
    lost from the close before the break to the close a horizon later, or the last close it
    ran through (its stop), or the last one closed by the as-of time. A grid stopped before
    the break's hour closed lost nothing in it."""
    if brk.outcome == "warned":
        return 0.0
    stop = world.as_of if life.end is None else min(life.end, world.as_of)
    last = min(hour_of(stop) - 1, len(world.closes) - 1)  # hours closed by the stop
    b = hour_of(brk.at)
    if b > last:
        return 0.0
    closes = world.closes[max(b - 1, 0) : min(b + world.horizon, last) + 1]
    if len(closes) < 2:
        return None
    return round(max(0.0, -float(life.shape.pnl(closes, world.rules.fee_rate)[-1])), 2)


@SETTINGS
@given(world=worlds())
def test_a_break_costs_what_the_grid_lost_while_it_ran(world: World) -> None:
    breaks = [e for e in world.events() if e.kind == "break"]
    for brk in breaks:
        lives = [x for x in world.history.lives if x.grid_id == brk.grid_id and x.start <= brk.at]
        assert brk.usd in {reference_cost(world, life, brk) for life in lives}, brk


# -- calendar and as-of time ----------------------------------------------------------------


def shifted(world: World, delta: timedelta) -> World:
    h = world.history
    p = h.prices
    seconds = int(delta.total_seconds())
    return World(
        SymbolHistory(
            h.symbol,
            HourlyPrices(p.t + seconds, p.high, p.low, p.close),
            [replace(x, start=x.start + delta, end=x.end and x.end + delta) for x in h.lives],
            [replace(s, hour=s.hour + delta) for s in h.states],
            [replace(d, hour=d.hour + delta, issued_at=d.issued_at + delta) for d in h.decisions],
            [replace(a, at=a.at + delta) for a in h.actions],
        ),
        world.as_of + delta,
        world.rules,
    )


@SETTINGS
@given(world=worlds(), hours=st.integers(1, 20_000) | st.integers(-20_000, -1))
def test_shifting_every_timestamp_by_whole_hours_changes_nothing(world: World, hours: int) -> None:
    delta = timedelta(hours=hours)
    moved = shifted(world, delta)
    events, moved_events = world.events(), moved.events()
    assert moved_events == [e.model_copy(update={"at": e.at + delta}) for e in events]
    windows = [
        (T0 - timedelta(days=1), world.as_of + timedelta(days=1)),
        (at(12), at(36)),
        (at(30), world.as_of),
    ]
    for start, end in windows:
        assert kpis(moved_events, start + delta, end + delta) == kpis(events, start, end)


def truncated(world: World) -> World:
    """Only what was known at the as-of time: the hours closed by then (their closes, exit
    states and decisions), the actions recorded by then, the grids started by then (one
    stopped later is still running)."""
    h, as_of = world.history, world.as_of
    return world.with_(
        prices=h.prices.upto(as_of),
        lives=[
            replace(x, end=None if x.end is not None and x.end > as_of else x.end)
            for x in h.lives
            if x.start <= as_of
        ],
        states=[s for s in h.states if s.hour + HOUR <= as_of],
        decisions=[d for d in h.decisions if d.hour + HOUR <= as_of],
        actions=[a for a in h.actions if a.at <= as_of],
    )


@st.composite
def rewritten_futures(draw: st.DrawFn, world: World) -> World:
    """The same past, another future: later closes, states, actions and stops all differ."""
    h, as_of = world.history, world.as_of
    known = len(h.prices.upto(as_of).t)
    future = [STEPS[b % len(STEPS)] * 4.0 for b in draw(picks(len(h.prices.t) - known))]
    closes = np.concatenate([h.prices.close[:known], 105.0 + np.array(future)])
    states = [s if s.hour + HOUR <= as_of else replace(s, state=M) for s in h.states]
    extra = [ActionFact(d.id, "executed", as_of + timedelta(minutes=1)) for d in h.decisions]
    lives = [
        replace(x, end=as_of + timedelta(hours=3)) if x.end is None or x.end > as_of else x
        for x in h.lives
    ]
    # a grid started after the as-of time, already in an exit state
    start = as_of + timedelta(minutes=10)
    lives.append(GridLife("later", GridShape(104.0, 106.0, 3, 1.0), start, None))
    states += [StateHour(at(hour_of(start) + k), "later", M) for k in range(1, 4)]
    return world.with_(
        prices=HourlyPrices(h.prices.t, closes, closes, closes),
        lives=lives,
        states=states,
        actions=[*h.actions, *extra],
    )


@SETTINGS
@given(world=worlds(), data=st.data())
def test_nothing_after_the_as_of_time_is_used(world: World, data: st.DataObject) -> None:
    events = world.events()
    assert truncated(world).events() == events
    assert data.draw(rewritten_futures(world)).events() == events


@SETTINGS
@given(world=worlds(), later=st.integers(1, 30))
def test_a_judgement_once_made_stands(world: World, later: int) -> None:
    """Seen again later, every signal judged stays judged the same, every break stays at its
    hour with the same warning, every stop keeps its figures."""
    then = world.events()
    now = replace(world, as_of=world.as_of + timedelta(hours=later)).events()
    final = {"false_exit", "true_exit", "after_break", "no_price"}

    def judged(events: list[KpiEvent]) -> Counter:
        """What may not change: a judged signal's outcome, a break's hour, outcome, lead and
        decision, a stop's figures. (A counter: a grid restarted within the horizon of an
        exit stop can have two breaks at one hour, one per life.)"""
        return Counter(
            (e.kind, e.grid_id, e.at, e.outcome)
            if e.kind == "exit_signal"
            else (e.kind, e.grid_id, e.at, e.outcome, e.hours, e.decision)
            if e.kind == "break"
            else e
            for e in events
            if (e.kind == "exit_signal" and e.outcome in final) or e.kind in ("break", "grid_stop")
        )

    assert judged(then) <= judged(now)
