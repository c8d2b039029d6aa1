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
from market_maker.kpis.history import ActionFact, HourlyPrices


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
    closes = prices.close[span]
    if len(closes) < int((end - hour) / HOUR) or prices.close_at(hour) is None:
        return None
    price = float(closes[0])
    kept = round(float(shape.pnl(closes, fee_rate)[-1]), 2)
    stopped = round(shape.holdings_value(stop_price) - shape.holdings_value(price), 2)
    break_at = _first_break(shape, closes, prices.t[span])
    stop = recommendation == "STOP_GRID"
    acted = action if action is not None and action.at < end else None
    as_acted, quality = _acted_outcome(
        shape, price, stop, acted, action_price, kept=kept, stopped=stopped
    )
    return EvaluationData(
        horizon=horizon_label(horizon_hours),
        window_start=issued_at,
        window_end=end,
        price=price,
        stop_price=stop_price,
        close_at_end=float(closes[-1]),
        broke=break_at is not None,
        break_at=break_at,
        max_adverse_excursion=_adverse_excursion(shape, price, prices.low[span]),
        usd_if_kept=kept,
        usd_if_stopped=stopped,
        usd_if_followed=stopped if stop else kept,
        usd_if_ignored=kept if stop else stopped,
        recommendation_quality="right" if (break_at is not None) == stop else "wrong",
        quality_reason=_quality_reason(stop, break_at),
        action=acted.action if acted is not None else None,
        action_at=acted.at if acted is not None else None,
        usd_as_acted=as_acted,
        action_quality=quality,
    )


def _first_break(shape: GridShape, closes: np.ndarray, times: np.ndarray) -> datetime | None:
    """The first hour after the decision's whose close is outside the grid; None: none was."""
    outside = np.nonzero((closes[1:] < shape.lower) | (closes[1:] > shape.upper))[0]
    return from_seconds(int(times[1:][outside[0]])) if len(outside) else None


def _adverse_excursion(shape: GridShape, price: float, lows: np.ndarray) -> Excursion:
    """How far below the decision's price the lowest low went, in percent and in USD."""
    worst = float(lows.min())
    return Excursion(
        price=worst,
        pct=round(max(0.0, (price - worst) / price * 100), 3),
        usd=round(max(0.0, shape.holdings_value(price) - shape.holdings_value(worst)), 2),
    )


def _quality_reason(stop: bool, break_at: datetime | None) -> str:
    """Why the recommendation was right or wrong: the break, or its absence."""
    if break_at is not None:
        return f"the range broke at {break_at:%Y-%m-%d %H:%M}Z"
    return "price stayed inside" if stop else "no break"


def _acted_outcome(
    shape: GridShape,
    price: float,
    stop: bool,
    action: ActionFact | None,
    action_price: float | None,
    *,
    kept: float,
    stopped: float,
) -> tuple[float | None, str]:
    """(USD as the operator acted, whether the action helped) for an action within the
    horizon; (None, "no_action") without one or without the price to value it at.

    Executing a STOP_GRID, or declining a HOLD/WATCH, stops the grid at the action's price;
    the other answers leave it running.
    """
    if action is None:
        return None, "no_action"
    stops = (action.action == "executed") == stop
    if not stops:
        as_acted = kept
    elif action_price is not None:
        as_acted = round(shape.holdings_value(action_price) - shape.holdings_value(price), 2)
    else:
        return None, "no_action"
    alternative = kept if stops else stopped
    return as_acted, "helped" if as_acted >= alternative else "hurt"
