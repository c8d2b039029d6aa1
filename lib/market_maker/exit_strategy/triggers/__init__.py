"""Named trigger predicates, one module per state, each saying why it fired."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from market_maker.timeutil import HOUR


@dataclass(frozen=True)
class Condition:
    """One named predicate's outcome; ``reason`` says why, in words an operator reads."""

    name: str
    met: bool
    reason: str
    hard: bool = False


def streak_unit(period: timedelta = HOUR) -> str:
    """What a persistence or calm streak counts, in words: at an hourly period one evaluation
    is an hour ("evaluation(s)", as the texts always said); under an hour a streak counts
    the whole hours its evaluations cover ("hour(s)")."""
    return "evaluation(s)" if period == HOUR else "hour(s)"
