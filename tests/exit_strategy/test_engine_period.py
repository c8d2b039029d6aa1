"""The exit engine at a collection period under an hour: persistence counts hours, not runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_maker.base.timeutil import PERIOD_MINUTES
from market_maker.decisions.states import ExitState
from market_maker.exit_strategy.engine import Evaluation, evaluate
from market_maker.exit_strategy.model import EvaluationRecord
from tests.exit_strategy.test_engine import CFG, T0, TRANSITION_LOW, TREND_DOWN_LOW, obs

N, W, L, M = (
    ExitState.NORMAL,
    ExitState.WARNING,
    ExitState.LATEST_ACCEPTABLE_EXIT,
    ExitState.MANDATORY_EXIT,
)


@dataclass
class PeriodMachine:
    """Feeds one observation per period, keeping the records as the exit-state store would."""

    minutes: int
    state: ExitState = N
    records: list[EvaluationRecord] = field(default_factory=list)
    k: int = -1

    def step(self, **changes: object) -> Evaluation:
        self.k += 1
        period = timedelta(minutes=self.minutes)
        e = evaluate(
            obs(hour=T0 + self.k * period, **changes),
            self.state,
            self.records,
            CFG,
            period=period,
        )
        self.records.insert(0, e.record())
        self.state = e.after
        return e

    def run(self, times: int, **changes: object) -> list[Evaluation]:
        return [self.step(**changes) for _ in range(times)]


def _hourly(minutes: int, evaluations: list[Evaluation]) -> list[Evaluation]:
    """The evaluations that close an hour (the last period of each hour)."""
    per_hour = 60 // minutes
    return evaluations[per_hour - 1 :: per_hour]


@pytest.mark.parametrize("minutes", [m for m in PERIOD_MINUTES if m != 60])
def test_a_warning_persists_the_same_hours_at_every_period(minutes: int) -> None:
    """Under the same market, each hour ends with the hourly machine's state and streak."""
    hourly = PeriodMachine(60).run(6, **TRANSITION_LOW)
    short = PeriodMachine(minutes).run(6 * 60 // minutes, **TRANSITION_LOW)
    assert [e.after for e in _hourly(minutes, short)] == [e.after for e in hourly]
    assert [e.warning_streak for e in _hourly(minutes, short)] == [e.warning_streak for e in hourly]


@pytest.mark.parametrize("minutes", [m for m in PERIOD_MINUTES if m != 60])
def test_persistence_never_escalates_sooner_than_hourly(minutes: int) -> None:
    """A streak counts whole hours covered: a state that began with the last period of an
    hour has held less than the hourly machine's full hour, so it may take up to one hour
    longer to persist (LATEST -> MANDATORY here), never less."""
    hourly = PeriodMachine(60).run(8, **TREND_DOWN_LOW)
    short = _hourly(minutes, PeriodMachine(minutes).run(8 * 60 // minutes, **TREND_DOWN_LOW))
    assert all(s.after.rank <= h.after.rank for s, h in zip(short, hourly, strict=True))
    first = [e.after for e in hourly].index(M)
    assert short[first + 1].after == M


@settings(max_examples=30, deadline=None)
@given(minutes=st.sampled_from([m for m in PERIOD_MINUTES if m != 60]), k=st.integers(1, 40))
def test_a_streak_is_the_whole_hours_it_has_lasted(minutes: int, k: int) -> None:
    evaluations = PeriodMachine(minutes).run(k, **TRANSITION_LOW)
    assert evaluations[-1].warning_streak == k * minutes // 60


def test_calm_to_step_down_is_counted_in_hours() -> None:
    d = CFG.deescalation
    m = PeriodMachine(15)
    m.step(price=1790.0)
    calm = m.run(4 * d.MANDATORY_EXIT + 4)
    first_down = next(i for i, e in enumerate(calm) if e.transition is not None)
    # The hourly machine steps down at its d.MANDATORY_EXIT-th calm evaluation: 4x as many here.
    assert first_down + 1 == 4 * d.MANDATORY_EXIT
    assert calm[first_down].transition is not None
    assert "hour(s) in a row" in calm[first_down].transition.reasons[0]
    assert (calm[first_down].before, calm[first_down].after) == (M, L)
