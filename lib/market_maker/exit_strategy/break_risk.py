"""The chance that price closes outside the grid within a day, from one observation.

The threatened bound is the nearer one. Its distance is measured in units of recent
volatility: the standard deviation of the last 20 hourly closes, a quarter of the Bollinger
bandwidth (relative to price), which every metrics file carries. A logistic model maps
that distance, the trend toward the bound and the trend's strength to a probability; its
coefficients are fitted on recorded data (``market-maker exit-signal-study``) and kept in
``config/exit_strategy.yaml`` with their provenance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from market_maker.config.exit_strategy import BreakRiskSettings
from market_maker.exit_strategy.observation import Observation

Side = Literal["lower", "upper"]
# Bollinger bands are the mean +/- 2 standard deviations: bandwidth = 4 sigma / mean.
BANDWIDTH_SIGMAS = 4.0
MIN_DISTANCE = 0.05  # log(distance) needs a floor: price on the bound is 0.05 units away
FEATURES = ("log_distance", "toward_slope", "efficiency_ratio", "log_expansion")


@dataclass(frozen=True)
class Threat:
    side: Side
    distance: float  # to the bound, in volatility units (negative: beyond it)
    toward: float  # normalized slope, signed so that positive runs toward the bound


def threat(o: Observation, side: Side | None = None) -> Threat | None:
    """Distance to ``side`` (default: the nearer bound) and the trend toward it; None without
    a bandwidth to measure volatility by."""
    if o.bandwidth is None or not o.bandwidth > 0 or not o.price > 0:
        return None
    sigma = o.bandwidth / BANDWIDTH_SIGMAS * o.price
    g = o.grid
    below, above = (o.price - g.lower_price) / sigma, (g.upper_price - o.price) / sigma
    if side is None:
        side = "lower" if below <= above else "upper"
    slope = o.normalized_slope or 0.0
    if side == "lower":
        return Threat("lower", below, -slope)
    return Threat("upper", above, slope)


def features(o: Observation, t: Threat | None = None) -> dict[str, float] | None:
    """The model's inputs; ``t``: the observation's threat, when already measured."""
    t = t or threat(o)
    if t is None:
        return None
    expansion = o.bandwidth_expansion if o.bandwidth_expansion and o.bandwidth_expansion > 0 else 1
    return {
        "log_distance": math.log(max(t.distance, MIN_DISTANCE)),
        "toward_slope": t.toward,
        "efficiency_ratio": o.efficiency_ratio or 0.0,
        "log_expansion": math.log(expansion),
    }


# The last answer: an evaluation asks twice about one observation (the WARNING sign and the
# LATEST trigger), and the backtest makes millions of evaluations. Observations are immutable,
# so the same object under the same settings has the same answer.
_last: tuple[Observation, BreakRiskSettings, tuple[float, Threat] | None] | None = None


def probability(o: Observation, cfg: BreakRiskSettings) -> tuple[float, Threat] | None:
    """P(an hourly close outside the grid within 24 h), and the threat it is about."""
    global _last
    last = _last
    if last is not None and last[0] is o and last[1] is cfg:
        return last[2]
    found = _probability(o, cfg)
    _last = (o, cfg, found)
    return found


def _probability(o: Observation, cfg: BreakRiskSettings) -> tuple[float, Threat] | None:
    t = threat(o)
    x = features(o, t)
    if t is None or x is None:
        return None
    c = cfg.coefficients
    z = c.intercept + sum(getattr(c, name) * x[name] for name in FEATURES)
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0))), t
