"""LATEST_ACCEPTABLE_EXIT: the warning has persisted under a trend, or a trend nears an edge."""

from __future__ import annotations

from datetime import timedelta

from market_maker.base.timeutil import HOUR
from market_maker.config.exit_strategy import BreakRiskSettings, LatestExitSettings
from market_maker.exit_strategy.observation import Observation
from market_maker.exit_strategy.triggers import Condition, break_risk_condition, streak_unit
from market_maker.regime.model import Verdict


def warning_persisted(
    o: Observation,
    warning_streak: int,
    outer_band: float,
    cfg: LatestExitSettings,
    period: timedelta = HOUR,
) -> Condition:
    """The WARNING conditions have held for a while, under a moving market, near an edge.
    ``warning_streak``: evaluations in a row, or the whole hours they cover at a ``period``
    under an hour."""
    trending = o.verdict in (Verdict.TRANSITION, Verdict.TREND)
    p = o.position
    outer = p < outer_band or p > 1 - outer_band
    on = cfg.warning_persistence > 0
    met = on and trending and outer and warning_streak >= cfg.warning_persistence
    if not on:
        return Condition("warning_persisted", False, "persistence rule off")
    return Condition(
        "warning_persisted",
        met,
        f"WARNING conditions met {warning_streak} {streak_unit(period)} in a row "
        f"({cfg.warning_persistence} needed) under {o.verdict}, price at {p:.0%} of the grid",
    )


def trend_near_edge(o: Observation, cfg: LatestExitSettings) -> Condition:
    direction = o.trend_direction
    p = o.position
    near = (direction < 0 and p < cfg.edge_band) or (direction > 0 and p > 1 - cfg.edge_band)
    met = o.verdict == Verdict.TREND and near
    side = "lower" if direction < 0 else "upper"
    if cfg.edge_band == 0:
        return Condition("trend_near_edge", False, "trend-near-edge rule off", hard=True)
    return Condition(
        "trend_near_edge",
        met,
        f"{o.verdict} heading for the {side} bound with price at {p:.0%} of the grid",
        hard=True,
    )


def adx_high(o: Observation, cfg: LatestExitSettings) -> Condition:
    """The trend line crossed: ADX above ``adx_above`` (hard)."""
    line = cfg.adx_above
    assert line is not None
    met = o.adx is not None and o.adx > line
    value = f"{o.adx:.1f}" if o.adx is not None else "not computable"
    return Condition("adx_high", met, f"ADX {value} (above {line:g} stops the grid)", hard=True)


def break_likely(o: Observation, cfg: BreakRiskSettings) -> Condition:
    """A close outside the grid within 24 h is likely enough to stop now, ahead of it."""
    return break_risk_condition(
        "break_likely", o, cfg, cfg.latest_above, f"{cfg.latest_above:.0%} stops the grid"
    )


def evaluate(
    o: Observation,
    warning_streak: int,
    outer_band: float,
    cfg: LatestExitSettings,
    risk: BreakRiskSettings | None = None,
    *,
    period: timedelta = HOUR,
) -> list[Condition]:
    out = [
        warning_persisted(o, warning_streak, outer_band, cfg, period),
        trend_near_edge(o, cfg),
    ]
    if cfg.adx_above is not None:
        out.append(adx_high(o, cfg))
    if risk is not None and risk.enabled:
        out.append(break_likely(o, risk))
    return out
