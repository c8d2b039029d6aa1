"""The exit state machine: escalate on triggers, step down only after calm (hysteresis).

Rules, in priority order:

1. The target is the highest state whose triggers fire now: MANDATORY_EXIT
   (price outside the grid, a confident falling TREND, or the LATEST triggers
   firing twice in a row under TREND), LATEST_ACCEPTABLE_EXIT (a likely break
   within a day by the break-risk model, WARNING conditions persisting under
   TRANSITION/TREND with price in the grid's outer band, or a TREND nearing an
   edge; each rule can be switched off in the settings), WARNING (two or more
   independent signs; the outer band and an elevated break risk are one sign),
   else NORMAL.
2. A target above the current state is taken at once (escalation may skip
   states: a hard condition does not wait).
3. A target below the current state only counts as a calm evaluation. After
   ``deescalation[state]`` calm evaluations in a row the state steps down one
   level, never more; any trigger of the current state or above restarts the
   count.

Persistence and calm are read from the stored evaluations of the earlier
hours (consecutive hours only: a missing hour ends a streak). With a collection period
under an hour (``period``) there is one evaluation per period, and a streak counts the
whole hours it has lasted, not its evaluations: "two evaluations in a row" keeps meaning
two hours, at any period.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from market_maker.base.timeutil import HOUR
from market_maker.config.exit_strategy import ExitStrategySettings
from market_maker.decisions.states import ExitState
from market_maker.exit_strategy.model import EvaluationRecord, TransitionRecord
from market_maker.exit_strategy.observation import Observation
from market_maker.exit_strategy.triggers import (
    Condition,
    latest_exit,
    mandatory_exit,
    streak_unit,
    warning,
)


class Earlier(Protocol):
    """What the engine reads of an earlier evaluation: a stored record, or (replaying many
    hours in memory) the evaluation itself."""

    @property
    def hour(self) -> datetime: ...
    @property
    def state(self) -> ExitState: ...
    @property
    def target(self) -> ExitState: ...
    @property
    def warning(self) -> bool: ...


@dataclass(frozen=True)
class Evaluation:
    hour: datetime
    grid_id: str
    before: ExitState
    after: ExitState
    target: ExitState
    warning_conditions: list[Condition]
    latest_conditions: list[Condition]
    mandatory_conditions: list[Condition]
    warning_met: bool
    warning_streak: int
    latest_streak: int
    calm_streak: int
    transition: TransitionRecord | None

    @property
    def state(self) -> ExitState:
        """The state after the evaluation (as its record names it)."""
        return self.after

    @property
    def warning(self) -> bool:
        return self.warning_met

    @property
    def conditions_met(self) -> list[Condition]:
        return [
            c
            for c in (*self.mandatory_conditions, *self.latest_conditions, *self.warning_conditions)
            if c.met
        ]

    def record(self) -> EvaluationRecord:
        return EvaluationRecord(
            hour=self.hour,
            grid_id=self.grid_id,
            state=self.after,
            target=self.target,
            warning=self.warning_met,
            conditions=[c.name for c in self.conditions_met],
        )


def _streak(
    prior: Sequence[Earlier],
    hour: datetime,
    keep: Callable[[Earlier], bool],
    period: timedelta = HOUR,
) -> int:
    """Evaluations in a row, ending the period before ``hour``, for which ``keep`` holds."""
    count = 0
    expected = hour - period
    for record in prior:  # most recent first
        if record.hour != expected or not keep(record):
            break
        count += 1
        expected -= period
    return count


def _hours(evaluations: int, period: timedelta) -> int:
    """Whole hours that ``evaluations`` consecutive evaluations span (the count at 1 h)."""
    return evaluations * period // HOUR


def evaluate(
    observation: Observation,
    before: ExitState,
    prior: Sequence[Earlier],
    cfg: ExitStrategySettings,
    *,
    period: timedelta = HOUR,
) -> Evaluation:
    """One evaluation. ``prior``: this grid's earlier evaluations, most recent first;
    ``period``: the collection period (one evaluation each); streaks are in hours."""
    hour = observation.hour
    warnings = warning.evaluate(observation, cfg.warning, cfg.break_risk)
    warning_met = warning.fires(warnings, cfg.warning)
    warning_streak = (
        _hours(_streak(prior, hour, lambda r: r.warning, period) + 1, period) if warning_met else 0
    )

    latest = latest_exit.evaluate(
        observation,
        warning_streak,
        cfg.warning.outer_band,
        cfg.latest_acceptable_exit,
        cfg.break_risk,
        period=period,
    )
    latest_fires = any(c.met for c in latest)
    latest_streak = (
        _hours(
            _streak(
                prior,
                hour,
                lambda r: r.target.rank >= ExitState.LATEST_ACCEPTABLE_EXIT.rank,
                period,
            )
            + 1,
            period,
        )
        if latest_fires
        else 0
    )
    mandatory = mandatory_exit.evaluate(
        observation, latest_streak, cfg.mandatory_exit, period=period
    )

    if any(c.met for c in mandatory):
        target = ExitState.MANDATORY_EXIT
    elif latest_fires:
        target = ExitState.LATEST_ACCEPTABLE_EXIT
    elif warning_met:
        target = ExitState.WARNING
    else:
        target = ExitState.NORMAL

    calm = 0
    if target.rank > before.rank:
        after = target
    elif target == before:
        after = before
    else:
        calm = _streak(
            prior, hour, lambda r: r.state == before and r.target.rank < before.rank, period
        )
        # The evaluation that stepped down into ``before`` was made in the state above it:
        # it counted toward leaving that state, not toward leaving this one.
        if calm and len(prior) > calm and prior[calm].state.rank > before.rank:
            calm -= 1
        calm = _hours(calm + 1, period)
        needed = getattr(cfg.deescalation, before.value)
        after = before.lower() if calm >= needed else before

    transition = None
    if after != before:
        if after.rank > before.rank:
            driving = [c for c in (*mandatory, *latest, *warnings) if c.met]
            reasons = [f"{c.name}: {c.reason}" for c in driving]
        else:
            needed = getattr(cfg.deescalation, before.value)
            unit = streak_unit(period)
            reasons = [
                f"calm: {calm} {unit} in a row without a trigger of {before} or above "
                f"({needed} needed to step down one state)"
            ]
        transition = TransitionRecord(
            timestamp=hour,
            grid_id=observation.grid.id,
            from_state=before,
            to_state=after,
            reasons=reasons,
            metrics=observation.values(),
        )
    return Evaluation(
        hour=hour,
        grid_id=observation.grid.id,
        before=before,
        after=after,
        target=target,
        warning_conditions=warnings,
        latest_conditions=latest,
        mandatory_conditions=mandatory,
        warning_met=warning_met,
        warning_streak=warning_streak,
        latest_streak=latest_streak,
        calm_streak=calm,
        transition=transition,
    )
