"""What a running grid holds and risks: inventory, average entry, unrealised PnL, the loss
at the stop.

A spot grid started at price ``p0`` buys, at the start, one lot for every level above
``p0`` (to sell there) and leaves a buy order at every level at or below it. Along the
price path each level crossed downwards fills a buy, each crossed upwards sells the lot
bought one level below. The lots held are therefore one per level above the price; their
entry prices depend on the path: the start price for lots never sold, the buy level for
lots bought on the way down. The loss at the stop is the value of holding those lots, plus
the ones the grid still buys on the way down, at the grid's lower bound.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from market_maker.base.types import FrozenModel


class PositionRisk(FrozenModel):
    price: float = Field(description="The price the position is valued at.")
    base_held: float = Field(description="Inventory in the base asset.")
    average_entry: float | None = Field(description="Cost per base unit of the inventory.")
    unrealized_pnl: float = Field(description="Inventory at price, less what it cost (quote).")
    stop_price: float = Field(description="The grid's lower bound: stopped there at the latest.")
    base_at_stop: float
    loss_at_stop: float = Field(description="Unrealised PnL were price to reach the stop.")
    exchange_base: float | None = Field(
        None, description="Base the exchange account holds (with a key), to check the model."
    )
    mismatch: str | None = Field(None, description="How the exchange differs, if it does.")


def level_prices(lower: float, upper: float, levels: int, geometric: bool = False) -> np.ndarray:
    return np.geomspace(lower, upper, levels) if geometric else np.linspace(lower, upper, levels)


def lots_along(prices: np.ndarray, path: np.ndarray) -> np.ndarray:
    """The entry price of the lot held for each level (NaN: no lot) after ``path``."""
    p0 = float(path[0])
    entry = np.where(prices > p0, p0, np.nan)
    position = int(np.searchsorted(prices, p0, side="right"))  # levels at or below price
    for close in path[1:]:
        now = int(np.searchsorted(prices, close, side="right"))
        if now < position:  # fell through buy levels now .. position-1: lots for the level above
            for j in range(now, position):
                if j + 1 < len(prices) and np.isnan(entry[j + 1]):
                    entry[j + 1] = prices[j]
        elif now > position:  # rose through sell levels position .. now-1
            entry[position:now] = np.nan
        position = now
    return entry


def position_risk(
    lower: float,
    upper: float,
    levels: int,
    amount: float,
    path: np.ndarray,
    *,
    geometric: bool = False,
) -> PositionRisk:
    """The position after the closes of ``path`` (from the grid's start to now)."""
    prices = level_prices(lower, upper, levels, geometric)
    entry = lots_along(prices, np.asarray(path, dtype=float))
    price = float(path[-1])
    held = ~np.isnan(entry)
    base = amount * int(held.sum())
    cost = amount * float(np.nansum(entry))
    # Down to the stop every buy order still waiting above it fills: one at each level at or
    # below the price whose lot (for the level above) is not already held.
    position = int(np.searchsorted(prices, price, side="right"))
    waiting = [
        prices[j]
        for j in range(min(position, len(prices) - 1))
        if not held[j + 1] and prices[j] > lower  # the stop itself is reached, not crossed
    ]
    base_stop = base + amount * len(waiting)
    cost_stop = cost + amount * float(sum(waiting))
    return PositionRisk(
        price=price,
        base_held=round(base, 10),
        average_entry=round(cost / base, 6) if base else None,
        unrealized_pnl=round(base * price - cost, 6),
        stop_price=lower,
        base_at_stop=round(base_stop, 10),
        loss_at_stop=round(base_stop * lower - cost_stop, 6),
    )
