"""Named trigger predicates, one module per state, each saying why it fired."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from market_maker.base.timeutil import HOUR
from market_maker.config.exit_strategy import BreakRiskSettings
from market_maker.exit_strategy.break_risk import probability
from market_maker.exit_strategy.observation import Observation


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


def break_risk_condition(
    name: str, o: Observation, cfg: BreakRiskSettings, threshold: float, rule: str
) -> Condition:
    """``name`` is met when the chance of a close outside the grid within 24 h reaches
    ``threshold``; ``rule`` says what reaching it means, in the reason."""
    found = probability(o, cfg)
    if found is None:
        return Condition(name, False, "break risk: no bandwidth to measure by")
    p, t = found
    return Condition(
        name,
        p >= threshold,
        f"break within 24 h {p:.0%} likely ({rule}): {t.distance:.2f} volatility units from "
        f"the {t.side} bound, slope {t.toward:+.2f} toward it",
    )
