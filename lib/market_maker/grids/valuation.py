"""What a grid is worth at a price, and what it earned along a price path.

A spot grid of ``levels`` prices from ``lower`` to ``upper`` (arithmetic spacing)
trades ``amount`` base at each level. Whatever path price took, when it stands
at ``p`` the grid holds ``amount`` base for every level above ``p`` but the
lowest (sell orders waiting: the lowest level only ever buys, the lot it buys
is the one the level above sells) and ``amount x level`` quote for every other
level (buy orders waiting, the lowest one's included): its holdings depend on
``p`` alone. Its value in quote is then :func:`holdings_value`. On top of that,
every completed buy-then-sell pair earns one spacing (less the fee on both
fills): :func:`realized_profit` counts those along a path of closes. The two
together are the grid's profit and loss relative to its start; realized pairs
inside an hour are not seen on hourly closes, so the figure is conservative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GridShape:
    lower: float
    upper: float
    levels: int
    amount: float  # base per level
    geometric: bool = False

    @property
    def prices(self) -> np.ndarray:
        if self.geometric:
            return np.geomspace(self.lower, self.upper, self.levels)
        return np.linspace(self.lower, self.upper, self.levels)

    def holdings_value(self, price: float) -> float:
        """Quote value of the grid's holdings with price at ``price``."""
        levels = self.prices
        above = levels > price
        above[0] = False  # the lowest level never holds a lot of its own
        base = self.amount * int(np.count_nonzero(above))
        quote = self.amount * float(levels[~above].sum())
        return base * price + quote

    def realized_profit(self, closes: np.ndarray, fee_rate: float) -> np.ndarray:
        """Cumulative profit of completed buy-sell pairs after each close (same length).

        A close below a level buys there; a later close above the next level up sells that
        lot one spacing higher. Each pair pays ``fee_rate`` on both fills.
        """
        levels = self.prices
        bought = np.zeros(len(levels), dtype=bool)
        out = np.zeros(len(closes))
        total = 0.0
        position = int(np.searchsorted(levels, closes[0], side="right")) if len(closes) else 0
        for i, close in enumerate(closes):
            now = int(np.searchsorted(levels, close, side="right"))  # levels at or below
            if now < position:  # fell through levels position-1 .. now: buys filled there
                bought[now:position] = True
                bought[-1] = False  # the top level only ever sells
            elif now > position:  # rose through levels position .. now-1: sells above buys
                for j in range(max(position, 1), now):
                    if bought[j - 1]:
                        buy, sell = levels[j - 1], levels[j]
                        total += self.amount * (sell - buy) - fee_rate * self.amount * (buy + sell)
                        bought[j - 1] = False
            position = now
            out[i] = total
        return out

    def holdings_values(self, prices: np.ndarray) -> np.ndarray:
        """:meth:`holdings_value` at each of ``prices``."""
        levels = self.prices
        # The lowest level counts as at or below any price: it never holds a lot of its own.
        at_or_below = np.maximum(np.searchsorted(levels, prices, side="right"), 1)
        quote = self.amount * np.r_[0.0, np.cumsum(levels)][at_or_below]
        base = self.amount * (len(levels) - at_or_below)
        return base * prices + quote

    def pnl(self, closes: np.ndarray, fee_rate: float) -> np.ndarray:
        """Profit and loss after each close, relative to the grid's value at the first."""
        if not len(closes):
            return np.zeros(0)
        closes = np.asarray(closes, dtype=float)
        held = self.holdings_values(closes)
        return held - held[0] + self.realized_profit(closes, fee_rate)
