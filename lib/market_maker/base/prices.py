"""Prices as a symbol's own scale needs them: ETH at 1,840.95, ADA at 0.273415.

A grid's bounds are rounded, and shown, to six significant digits and never fewer than two
decimals, so a grid on a coin below a dollar keeps its levels apart.
"""

from __future__ import annotations

import math

SIGNIFICANT = 6


def price_decimals(price: float) -> int:
    """Decimals that keep six significant digits (at least two)."""
    if price <= 0 or not math.isfinite(price):
        return 2
    return max(2, SIGNIFICANT - math.floor(math.log10(price)) - 1)


def round_price(price: float) -> float:
    return round(price, price_decimals(price))


def format_price(price: float) -> str:
    """Thousands separated, to the price's own decimals: 1,840.95, 0.273415."""
    return f"{price:,.{price_decimals(price)}f}"
