"""WARNING: two or more independent signs that the range is weakening."""

from __future__ import annotations

from market_maker.config.exit_strategy import BreakRiskSettings, WarningSettings
from market_maker.exit_strategy.observation import Observation
from market_maker.exit_strategy.triggers import Condition, break_risk_condition
from market_maker.regime.model import Verdict

ADVERSE = (Verdict.TRANSITION, Verdict.TREND)
RANKS = {v: i for i, v in enumerate(Verdict)}


def adx_rising(o: Observation, cfg: WarningSettings) -> Condition:
    """ADX crossing its trend line, or above it and still climbing by a point or more."""
    if o.adx is None:
        return Condition("adx_rising", False, "ADX not available")
    if o.adx_previous is None:
        return Condition("adx_rising", False, f"ADX {o.adx:.1f}, no earlier value to compare")
    crossed = o.adx_previous < cfg.adx_threshold <= o.adx
    climbing = o.adx >= cfg.adx_threshold and o.adx - o.adx_previous >= 1.0
    return Condition(
        "adx_rising",
        crossed or climbing,
        f"ADX {o.adx:.1f} from {o.adx_previous:.1f} (line {cfg.adx_threshold:g})",
    )


def efficiency_high(o: Observation, cfg: WarningSettings) -> Condition:
    if o.efficiency_ratio is None:
        return Condition("efficiency_high", False, "efficiency ratio not available")
    met = o.efficiency_ratio > cfg.efficiency_ratio_above
    return Condition(
        "efficiency_high",
        met,
        f"efficiency ratio {o.efficiency_ratio:.2f} (above {cfg.efficiency_ratio_above:g} "
        "is directional)",
    )


def bandwidth_expanding(o: Observation, cfg: WarningSettings) -> Condition:
    if o.bandwidth_expansion is None:
        return Condition("bandwidth_expanding", False, "bandwidth expansion not available")
    met = o.bandwidth_expansion > cfg.bandwidth_expansion_above
    return Condition(
        "bandwidth_expanding",
        met,
        f"Bollinger bandwidth x{o.bandwidth_expansion:.2f} in 6 h "
        f"(above x{cfg.bandwidth_expansion_above:g} is a breakout)",
    )


def price_outer_band(o: Observation, cfg: WarningSettings) -> Condition:
    p = o.position
    met = p < cfg.outer_band or p > 1 - cfg.outer_band
    return Condition(
        "price_outer_band",
        met,
        f"price {o.price:g} at {p:.0%} of the grid "
        f"[{o.grid.lower_price:g}, {o.grid.upper_price:g}]",
    )


def regime_adverse(o: Observation, cfg: WarningSettings) -> Condition:
    """The 1h regime (before the 4h confirmation, which has a condition of its own)."""
    if o.verdict_1h is None:
        return Condition("regime_adverse", False, "no 1h verdict (analysis refused)")
    worse = o.previous_verdict is not None and RANKS[o.verdict_1h] > RANKS[o.previous_verdict]
    met = o.verdict_1h in ADVERSE or worse
    before = f" after {o.previous_verdict}" if o.previous_verdict else ""
    return Condition("regime_adverse", met, f"1h regime {o.verdict_1h}{before}")


def confirmation_4h_disagrees(o: Observation, cfg: WarningSettings) -> Condition:
    if o.verdict_1h is None or o.verdict_4h is None:
        return Condition("confirmation_4h_disagrees", False, "no 1h or 4h verdict")
    met = o.verdict_1h not in ADVERSE and o.verdict_4h in ADVERSE
    return Condition(
        "confirmation_4h_disagrees", met, f"4h says {o.verdict_4h} while 1h says {o.verdict_1h}"
    )


def break_risk_elevated(o: Observation, cfg: BreakRiskSettings) -> Condition:
    """The calibrated chance of a close outside the grid within 24 h is elevated."""
    if not cfg.enabled:
        return Condition("break_risk_elevated", False, "break risk model off")
    return break_risk_condition(
        "break_risk_elevated", o, cfg, cfg.warning_above, f"from {cfg.warning_above:.0%}"
    )


# Conditions that read the same thing (where price sits in the grid) count once together.
POSITION = ("price_outer_band", "break_risk_elevated")

CONDITIONS = (
    adx_rising,
    efficiency_high,
    bandwidth_expanding,
    price_outer_band,
    regime_adverse,
    confirmation_4h_disagrees,
)


def evaluate(
    o: Observation, cfg: WarningSettings, risk: BreakRiskSettings | None = None
) -> list[Condition]:
    out = [check(o, cfg) for check in CONDITIONS]
    if risk is not None and risk.enabled:
        out.append(break_risk_elevated(o, risk))
    return out


def independent_count(conditions: list[Condition]) -> int:
    """Met conditions, the position family counted once: two views of one fact are one sign."""
    met = {c.name for c in conditions if c.met}
    return len(met - set(POSITION)) + (1 if met & set(POSITION) else 0)


def fires(conditions: list[Condition], cfg: WarningSettings) -> bool:
    return independent_count(conditions) >= cfg.min_conditions
