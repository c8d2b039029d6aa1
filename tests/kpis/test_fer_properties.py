"""Properties of FER over generated histories (tests/kpis/worlds.py): what adding a true or
a false exit signal does to it, and that a signal is judged only once its horizon has closed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from hypothesis import assume, given
from hypothesis import strategies as st

from market_maker.base.timeutil import HOUR
from market_maker.kpis.history import GridLife
from market_maker.kpis.model import Kpi
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
    running,
    set_state,
    worlds,
)


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
