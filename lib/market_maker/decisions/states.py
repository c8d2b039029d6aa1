"""Exit states, their order, and the recommendation each one makes."""

from __future__ import annotations

from enum import StrEnum


class ExitState(StrEnum):
    NORMAL = "NORMAL"
    WARNING = "WARNING"
    LATEST_ACCEPTABLE_EXIT = "LATEST_ACCEPTABLE_EXIT"
    MANDATORY_EXIT = "MANDATORY_EXIT"

    @property
    def rank(self) -> int:
        return ORDER.index(self)

    def lower(self) -> ExitState:
        return ORDER[max(self.rank - 1, 0)]


ORDER: tuple[ExitState, ...] = tuple(ExitState)


class Recommendation(StrEnum):
    HOLD = "HOLD"
    WATCH = "WATCH"
    STOP_GRID = "STOP_GRID"


RECOMMENDATION = {
    ExitState.NORMAL: Recommendation.HOLD,
    ExitState.WARNING: Recommendation.WATCH,
    ExitState.LATEST_ACCEPTABLE_EXIT: Recommendation.STOP_GRID,
    ExitState.MANDATORY_EXIT: Recommendation.STOP_GRID,
}
