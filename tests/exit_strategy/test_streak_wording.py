"""What the exit reasons say a streak counts: evaluations at an hourly period (the texts as
they always were), hours under an hour (where a streak counts the whole hours it covers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from market_maker.base.timeutil import PERIOD_MINUTES
from market_maker.decisions.states import ExitState
from market_maker.exit_strategy.engine import Evaluation, evaluate
from market_maker.exit_strategy.model import EvaluationRecord
from market_maker.exit_strategy.store import ExitStateStore
from market_maker.exit_strategy.triggers import streak_unit
from tests.exit_strategy.test_engine import CFG, T0, TRANSITION_LOW, TREND_DOWN_LOW, obs
from tests.period_repo import SYMBOL, replay, with_grid


def run(minutes: int, periods: int, **changes: object) -> list[Evaluation]:
    """``periods`` evaluations in a row of one market, as the exit-state store keeps them."""
    period = timedelta(minutes=minutes)
    state, records, out = ExitState.NORMAL, list[EvaluationRecord](), []
    for k in range(periods):
        e = evaluate(obs(hour=T0 + k * period, **changes), state, records, CFG, period=period)
        records.insert(0, e.record())
        state = e.after
        out.append(e)
    return out


def reason(e: Evaluation, name: str) -> str:
    [condition] = [c for c in e.conditions_met if c.name == name]
    return condition.reason


def test_the_unit() -> None:
    assert streak_unit() == streak_unit(timedelta(hours=1)) == "evaluation(s)"
    for m in PERIOD_MINUTES[1:]:
        assert streak_unit(timedelta(minutes=m)) == "hour(s)"


def test_hourly_texts_are_as_they_were() -> None:
    warned = run(60, 6, **TRANSITION_LOW)[-1]
    needed = CFG.latest_acceptable_exit.warning_persistence
    assert reason(warned, "warning_persisted") == (
        f"WARNING conditions met 6 evaluation(s) in a row ({needed} needed) under TRANSITION, "
        "price at 12% of the grid"
    )
    falling = run(60, 6, **TREND_DOWN_LOW)[-1]
    assert falling.latest_streak > 1
    assert reason(falling, "latest_persisted") == (
        f"LATEST_ACCEPTABLE_EXIT triggers fired {falling.latest_streak} evaluation(s) in a row, "
        f"now under a falling TREND ({CFG.mandatory_exit.latest_persistence} needed under a "
        "falling TREND)"
    )


@pytest.mark.parametrize("minutes", PERIOD_MINUTES[1:])
def test_under_an_hour_a_streak_is_said_in_hours(minutes: int) -> None:
    per_hour = 60 // minutes
    warned = run(minutes, 6 * per_hour, **TRANSITION_LOW)[-1]
    assert warned.warning_streak == 6
    assert reason(warned, "warning_persisted").startswith(
        "WARNING conditions met 6 hour(s) in a row ("
    )
    falling = run(minutes, 6 * per_hour, **TREND_DOWN_LOW)[-1]
    assert falling.latest_streak > 1
    assert reason(falling, "latest_persisted").startswith(
        f"LATEST_ACCEPTABLE_EXIT triggers fired {falling.latest_streak} hour(s) in a row, now "
        "under a falling TREND"
    )
    texts = [c.reason for c in falling.latest_conditions + falling.mandatory_conditions]
    assert not [t for t in texts if "evaluation(s)" in t]


@pytest.mark.parametrize(
    ("minutes", "start", "escalated", "count"),
    [
        (
            60,
            datetime(2023, 8, 17, 9, tzinfo=UTC),
            datetime(2023, 8, 17, 12, tzinfo=UTC),
            "2 evaluation(s)",
        ),
        (
            15,
            datetime(2023, 8, 17, 10, tzinfo=UTC),
            datetime(2023, 8, 17, 13, 30, tzinfo=UTC),
            "2 hour(s)",
        ),
    ],
)
def test_the_break_escalates_with_the_reason_in_its_unit(
    tmp_path: Path, minutes: int, start: datetime, escalated: datetime, count: str
) -> None:
    """17 August 2023 on recorded data: the LATEST triggers persist under a falling trend
    until the exit is mandatory."""
    replayed = replay(tmp_path / "repo", minutes, start, escalated, grid=with_grid())
    decision = replayed.results[-1].exit.decision
    assert (decision.previous_exit_state, decision.exit_state) == (
        ExitState.LATEST_ACCEPTABLE_EXIT,
        ExitState.MANDATORY_EXIT,
    )
    expected = (
        f"latest_persisted: LATEST_ACCEPTABLE_EXIT triggers fired {count} in a row, now under "
        "a falling TREND (2 needed under a falling TREND)"
    )
    assert expected in decision.reasons
    day = ExitStateStore(replayed.root).day(SYMBOL, escalated.date())
    [transition] = [t for t in day.transitions if t.timestamp == escalated]
    assert expected in transition.reasons
