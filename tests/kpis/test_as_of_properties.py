"""Properties of the KPIs over generated histories (tests/kpis/worlds.py): nothing depends on
the calendar, nothing after the as-of time is used, and a judgement once made stands.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from market_maker.base.timeutil import HOUR
from market_maker.grids.valuation import GridShape
from market_maker.kpis.compute import kpis
from market_maker.kpis.history import ActionFact, GridLife, HourlyPrices, StateHour, SymbolHistory
from market_maker.kpis.model import KpiEvent
from tests.kpis.worlds import SETTINGS, STEPS, T0, M, World, at, hour_of, picks, worlds


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
