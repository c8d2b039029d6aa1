"""What became of a recommendation: its outcome a horizon after issue, from recorded prices.

Pure functions; the caller supplies the decision, the hourly prices, and the
prices at the moments an operator would have acted. Values are the grid's
profit and loss in quote (USD for USDT pairs) from the decision's hour
(:mod:`market_maker.grids.valuation`): kept running to the horizon, or stopped
one operator delay after the recommendation.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from market_maker.base.timeutil import HOUR, from_seconds
from market_maker.decisions.model import EvaluationData, Excursion
from market_maker.grids.valuation import GridShape
from market_maker.kpis.compute import ActionFact, HourlyPrices


def horizon_label(hours: int) -> str:
    return f"{hours // 24}d" if hours >= 168 and hours % 24 == 0 else f"{hours}h"


def evaluate_outcome(
    *,
    recommendation: str,
    hour: datetime,
    issued_at: datetime,
    horizon_hours: int,
    shape: GridShape,
    prices: HourlyPrices,
    stop_price: float,
    action: ActionFact | None,
    action_price: float | None,
    fee_rate: float,
) -> EvaluationData | None:
    """The outcome ``horizon_hours`` after issue; None until every hour of it is recorded."""
    end = issued_at + timedelta(hours=horizon_hours)
    span = prices.span(hour, end - HOUR)
    closes, lows = prices.close[span], prices.low[span]
    expected = int((end - hour) / HOUR)
    if len(closes) < expected or prices.close_at(hour) is None:
        return None
    price = float(closes[0])
    pnl = shape.pnl(closes, fee_rate)
    kept = round(float(pnl[-1]), 2)
    stopped = round(shape.holdings_value(stop_price) - shape.holdings_value(price), 2)
    outside = np.nonzero((closes[1:] < shape.lower) | (closes[1:] > shape.upper))[0]
    broke = bool(len(outside))
    break_at = from_seconds(int(prices.t[span][1:][outside[0]])) if broke else None
    worst = float(lows.min())
    excursion = Excursion(
        price=worst,
        pct=round(max(0.0, (price - worst) / price * 100), 3),
        usd=round(max(0.0, shape.holdings_value(price) - shape.holdings_value(worst)), 2),
    )
    stop = recommendation == "STOP_GRID"
    if stop:
        right = broke
        reason = (
            f"the range broke at {break_at:%Y-%m-%d %H:%M}Z" if broke else "price stayed inside"
        )
    else:
        right = not broke
        reason = f"the range broke at {break_at:%Y-%m-%d %H:%M}Z" if broke else "no break"
    as_acted, quality = None, "no_action"
    if action is not None and action.at < end:
        # Executing a STOP_GRID, or declining a HOLD/WATCH, stops the grid at the action's
        # price; the other answers leave it running.
        stops = (action.action == "executed") == stop
        if stops and action_price is not None:
            as_acted = round(shape.holdings_value(action_price) - shape.holdings_value(price), 2)
        elif not stops:
            as_acted = kept
        if as_acted is not None:
            alternative = kept if stops else stopped
            quality = "helped" if as_acted >= alternative else "hurt"
    return EvaluationData(
        horizon=horizon_label(horizon_hours),
        window_start=issued_at,
        window_end=end,
        price=price,
        stop_price=stop_price,
        close_at_end=float(closes[-1]),
        broke=broke,
        break_at=break_at,
        max_adverse_excursion=excursion,
        usd_if_kept=kept,
        usd_if_stopped=stopped,
        usd_if_followed=stopped if stop else kept,
        usd_if_ignored=kept if stop else stopped,
        recommendation_quality="right" if right else "wrong",
        quality_reason=reason,
        action=action.action if action is not None and action.at < end else None,
        action_at=action.at if action is not None and action.at < end else None,
        usd_as_acted=as_acted,
        action_quality=quality,
    )
