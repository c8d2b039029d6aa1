"""Position risk: what a grid holds along a price path, and what it loses at its stop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from market_maker.grids.position import level_prices, position_risk
from market_maker.grids.valuation import GridShape

LOWER, UPPER, LEVELS, AMOUNT = 1780.0, 1900.0, 13, 0.05  # the demo grid, 10 apart


def test_a_fall_through_the_grid_builds_inventory_at_the_levels_it_crossed() -> None:
    risk = position_risk(LOWER, UPPER, LEVELS, AMOUNT, np.array([1850.0, 1830.0, 1800.0]))
    # Five lots bought at the start (for 1,860..1,900), four on the way down (1,810..1,840).
    assert risk.base_held == pytest.approx(9 * AMOUNT)
    assert risk.average_entry == pytest.approx((5 * 1850 + 1810 + 1820 + 1830 + 1840) / 9)
    assert risk.unrealized_pnl == pytest.approx(9 * AMOUNT * 1800 - AMOUNT * 16550)
    # Down to the stop, the buys at 1,800 and 1,790 fill too.
    assert risk.base_at_stop == pytest.approx(11 * AMOUNT)
    assert risk.loss_at_stop == pytest.approx(11 * AMOUNT * 1780 - AMOUNT * (16550 + 1800 + 1790))


def test_a_lot_sold_on_the_way_back_up_leaves_the_inventory() -> None:
    down = position_risk(LOWER, UPPER, LEVELS, AMOUNT, np.array([1850.0, 1800.0]))
    back = position_risk(LOWER, UPPER, LEVELS, AMOUNT, np.array([1850.0, 1800.0, 1845.0]))
    assert back.base_held == pytest.approx(down.base_held - 3 * AMOUNT)  # sold at 1,820..1,840


@settings(max_examples=300, deadline=None)
@given(
    st.floats(LOWER, UPPER),
    st.lists(st.floats(1700, 1980), max_size=60),
    st.booleans(),
)
def test_inventory_is_one_lot_per_level_above_the_price_and_the_stop_is_the_worst(
    start: float, moves: list[float], geometric: bool
) -> None:
    path = [start, *moves]  # a grid is placed with the price inside its bounds ...
    prices = level_prices(LOWER, UPPER, LEVELS, geometric)
    assume(not np.isclose(start, prices).any())  # ... between two levels
    risk = position_risk(LOWER, UPPER, LEVELS, AMOUNT, np.array(path), geometric=geometric)
    # Whatever the path, a spot grid placed inside its bounds holds a lot for every sell level
    # above the price (the lowest level only ever buys), but for the one it last sold at
    # while price has not yet fallen through the buy level below it.
    above = int((prices[1:] > path[-1]).sum())
    lots = round(risk.base_held / AMOUNT)
    assert lots in (above - 1, above) and risk.base_held == pytest.approx(lots * AMOUNT)
    shape = GridShape(LOWER, UPPER, LEVELS, AMOUNT, geometric=geometric)
    assert shape.prices.tolist() == pytest.approx(prices.tolist())
    if path[-1] >= LOWER:
        assert risk.loss_at_stop <= risk.unrealized_pnl + 1e-6
        assert risk.base_at_stop >= risk.base_held
    if risk.base_held:
        assert min(path) - 1e-5 <= risk.average_entry <= max(path) + 1e-5
