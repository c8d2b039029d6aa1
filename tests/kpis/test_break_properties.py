"""Properties of SLAR and MEC over generated histories (tests/kpis/worlds.py): what a break
with or without an exit signal before it does to them, and what a break costs.
"""

from __future__ import annotations

import math
from datetime import timedelta

from hypothesis import assume, given
from hypothesis import strategies as st

from market_maker.grids.valuation import GridShape
from market_maker.kpis.history import ActionFact, DecisionFact, GridLife, StateHour
from market_maker.kpis.model import Kpi, KpiEvent
from tests.kpis.worlds import (
    LATEST,
    SETTINGS,
    L,
    M,
    N,
    W,
    World,
    at,
    at_most,
    hour_of,
    picks,
    running,
    worlds,
)


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
