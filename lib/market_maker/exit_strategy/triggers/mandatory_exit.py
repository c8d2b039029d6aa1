"""MANDATORY_EXIT: price left the grid, a confident trend runs against it, or LATEST persisted."""

from __future__ import annotations

from datetime import timedelta

from market_maker.base.timeutil import HOUR
from market_maker.config.exit_strategy import MandatoryExitSettings
from market_maker.exit_strategy.observation import Observation
from market_maker.exit_strategy.triggers import Condition, streak_unit
from market_maker.regime.model import Verdict


def price_outside_grid(o: Observation, cfg: MandatoryExitSettings) -> Condition:
    g = o.grid
    below, above = o.price < g.lower_price, o.price > g.upper_price
    where = "below" if below else "above" if above else "inside"
    return Condition(
        "price_outside_grid",
        below or above,
        f"price {o.price:g} {where} the grid [{g.lower_price:g}, {g.upper_price:g}]",
        hard=True,
    )


def strong_trend_against_grid(o: Observation, cfg: MandatoryExitSettings) -> Condition:
    """A falling TREND is against a spot grid: it keeps buying inventory all the way down."""
    confidence = o.confidence or 0.0
    met = (
        o.verdict == Verdict.TREND and o.trend_direction < 0 and confidence >= cfg.trend_confidence
    )
    return Condition(
        "strong_trend_against_grid",
        met,
        f"{o.verdict} {'down' if o.trend_direction < 0 else 'up'} with confidence "
        f"{confidence:.2f} (>= {cfg.trend_confidence:g} against the grid is an exit)",
        hard=True,
    )


def latest_persisted(
    o: Observation, latest_streak: int, cfg: MandatoryExitSettings, period: timedelta = HOUR
) -> Condition:
    """``latest_streak``: evaluations in a row whose LATEST_ACCEPTABLE_EXIT triggers fired
    (this one included); the whole hours they cover at a ``period`` under an hour. Only a
    falling TREND makes this mandatory: a rising one empties the grid's inventory into quote
    currency, which costs upside, not capital."""
    falling = o.verdict == Verdict.TREND and o.trend_direction < 0
    met = falling and latest_streak >= cfg.latest_persistence
    return Condition(
        "latest_persisted",
        met,
        f"LATEST_ACCEPTABLE_EXIT triggers fired {latest_streak} {streak_unit(period)} in a row, "
        f"now under a {'falling' if o.trend_direction < 0 else 'rising'} {o.verdict} "
        f"({cfg.latest_persistence} needed under a falling TREND)",
    )


def evaluate(
    o: Observation, latest_streak: int, cfg: MandatoryExitSettings, *, period: timedelta = HOUR
) -> list[Condition]:
    return [
        price_outside_grid(o, cfg),
        strong_trend_against_grid(o, cfg),
        latest_persisted(o, latest_streak, cfg, period),
    ]
