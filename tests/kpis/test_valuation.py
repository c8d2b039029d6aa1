"""GridShape checked by hand: holdings at a price, realized pairs along a path, P&L."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_maker.grids.position import position_risk
from market_maker.grids.valuation import GridShape

SETTINGS = settings(max_examples=100, deadline=None)

# Levels 100, 101, 102, 103, 104 (spacing 1), half a unit of base at each.
GRID = GridShape(lower=100.0, upper=104.0, levels=5, amount=0.5)
FEE = 0.001


def pair(buy: float, sell: float, amount: float = GRID.amount, fee: float = FEE) -> float:
    """One completed buy-then-sell pair: the spacing earned, less the fee on both fills."""
    return amount * (sell - buy) - fee * amount * (buy + sell)


# -- holdings_value -----------------------------------------------------------------------


@pytest.mark.parametrize("price", [50.0, 99.0, 99.999])
def test_below_the_lower_bound_every_level_but_the_lowest_is_base(price: float) -> None:
    # A sell order waits at 101..104, 4 x 0.5 base; the lowest level only ever buys: the lot
    # it bought is the one 101 sells, so it holds its quote (0.5 x 100), not a fifth lot.
    assert GRID.holdings_value(price) == pytest.approx(0.5 * 4 * price + 0.5 * 100)
    assert GRID.holdings_values(np.array([price]))[0] == pytest.approx(GRID.holdings_value(price))


def test_a_grid_kept_below_its_lowest_level_loses_what_its_four_lots_lose() -> None:
    # From 100.5 to 98.5 and 97.5: the buy at 100 fills; base for 101..104 is held. Kept: the
    # holdings fall by 4 x 0.5 per unit of price below 100.5 (no pair completes).
    closes = np.array([100.5, 98.5, 97.5])
    assert GRID.pnl(closes, FEE).tolist() == pytest.approx([0.0, -4.0, -6.0])


@pytest.mark.parametrize("price", [104.0, 104.5, 200.0])
def test_at_or_above_the_upper_bound_every_level_is_quote(price: float) -> None:
    # Every level is at or below the price: a buy order of 0.5 x level waits at each.
    assert GRID.holdings_value(price) == pytest.approx(0.5 * (100 + 101 + 102 + 103 + 104))


def test_inside_the_grid_base_above_and_quote_at_or_below() -> None:
    # At 102.5: base for 103 and 104 (2 x 0.5 x 102.5 = 102.5), quote for 100..102 (0.5 x 303).
    assert GRID.holdings_value(102.5) == pytest.approx(102.5 + 151.5)
    # Exactly on a level: that level already holds quote (at 102: base for 103, 104 only).
    assert GRID.holdings_value(102.0) == pytest.approx(2 * 0.5 * 102 + 0.5 * 303)


@st.composite
def shapes(draw: st.DrawFn) -> GridShape:
    lower = draw(st.floats(10.0, 5000.0))
    width = draw(st.floats(0.01, 1.0)) * lower
    levels = draw(st.integers(2, 60))
    amount = draw(st.floats(0.001, 10.0))
    return GridShape(lower, lower + width, levels, amount)


@SETTINGS
@given(shape=shapes(), a=st.floats(0.0, 1.0), b=st.floats(0.0, 1.0))
def test_holdings_value_is_non_decreasing_in_price(shape: GridShape, a: float, b: float) -> None:
    span = shape.upper - shape.lower
    low, high = sorted((shape.lower - span + 3 * span * a, shape.lower - span + 3 * span * b))
    scale = shape.amount * shape.levels * shape.upper
    assert shape.holdings_value(low) <= shape.holdings_value(high) + 1e-9 * scale


@SETTINGS
@given(shape=shapes(), level=st.integers(0, 59))
def test_holdings_value_is_continuous_at_every_level(shape: GridShape, level: int) -> None:
    """A level filling swaps base for quote at the same price: no jump in value there."""
    price = float(shape.prices[level % shape.levels])
    eps = 1e-9 * price
    scale = shape.amount * shape.levels * shape.upper
    at = shape.holdings_value(price)
    assert shape.holdings_value(price - eps) == pytest.approx(at, abs=1e-8 * scale)
    assert shape.holdings_value(price + eps) == pytest.approx(at, abs=1e-8 * scale)


@SETTINGS
@given(shape=shapes(), level=st.integers(0, 59), a=st.floats(0.01, 0.99), b=st.floats(0.01, 0.99))
def test_between_two_levels_the_value_moves_with_the_base_held(
    shape: GridShape, level: int, a: float, b: float
) -> None:
    """Between levels i and i+1 the grid holds amount x (levels above) base: the value is
    linear there, with that slope."""
    i = level % (shape.levels - 1)
    low, high = float(shape.prices[i]), float(shape.prices[i + 1])
    p, q = low + (high - low) * a, low + (high - low) * b
    base = shape.amount * (shape.levels - 1 - i)
    scale = shape.amount * shape.levels * shape.upper
    change = shape.holdings_value(q) - shape.holdings_value(p)
    assert change == pytest.approx(base * (q - p), abs=1e-9 * scale)


@SETTINGS
@given(shape=shapes(), a=st.floats(0.0, 1.0), b=st.floats(0.0, 1.0))
def test_below_the_lowest_level_the_value_moves_with_one_lot_less_than_levels(
    shape: GridShape, a: float, b: float
) -> None:
    """Below its lowest level a spot grid holds a lot for every level but the lowest (which
    only buys): the value moves with ``levels - 1`` lots, and the vectorised values agree."""
    low, high = sorted((shape.lower * (0.5 + 0.5 * a), shape.lower * (0.5 + 0.5 * b)))
    high = min(high, float(np.nextafter(shape.lower, 0.0)))
    scale = shape.amount * shape.levels * shape.upper
    change = shape.holdings_value(high) - shape.holdings_value(low)
    lots = shape.levels - 1
    assert change == pytest.approx(shape.amount * lots * (high - low), abs=1e-9 * scale)
    vector = shape.holdings_values(np.array([low, high]))
    assert vector.tolist() == pytest.approx(
        [shape.holdings_value(low), shape.holdings_value(high)], abs=1e-9 * scale
    )


@SETTINGS
@given(
    shape=shapes(),
    start=st.floats(0.01, 0.99),
    moves=st.lists(st.floats(-0.3, 0.3), max_size=30),
    end=st.floats(0.5, 0.999),
)
def test_below_the_lowest_level_the_value_counts_the_lots_the_position_holds(
    shape: GridShape, start: float, moves: list[float], end: float
) -> None:
    """Whatever path led a grid placed inside its bounds below its lowest level, the base its
    value counts is the inventory the position model holds there (one lot per sell level)."""
    first = shape.lower + (shape.upper - shape.lower) * start
    path = [*(first * np.exp(np.cumsum([0.0, *moves]))), shape.lower * end]
    risk = position_risk(shape.lower, shape.upper, shape.levels, shape.amount, np.array(path))
    price = path[-1]
    quote = shape.amount * shape.lower  # the lowest level's, never turned into a lot
    base = (shape.holdings_value(price) - quote) / price
    assert base == pytest.approx(risk.base_held, rel=1e-9)


# -- realized_profit ----------------------------------------------------------------------


def test_realized_profit_counts_the_completed_pairs_on_a_hand_made_path() -> None:
    closes = np.array([102.5, 101.5, 100.5, 101.5, 102.5, 103.5, 102.5])
    # Start at 102.5: base waits at 103 and 104, quote at 100, 101, 102. Nothing is bought yet.
    # 102.5 -> 101.5: falls through 102, the buy at 102 fills (a lot to sell at 103).
    # 101.5 -> 100.5: falls through 101, the buy at 101 fills (a lot to sell at 102).
    # 100.5 -> 101.5: rises through 101; a sell at 101 would sell a lot bought at 100, and
    #                 none was: nothing realized.
    # 101.5 -> 102.5: rises through 102: the lot bought at 101 sells at 102 -> pair 1.
    # 102.5 -> 103.5: rises through 103: the lot bought at 102 sells at 103 -> pair 2.
    # 103.5 -> 102.5: falls through 103, buys at 103: a new lot, nothing realized.
    pair1 = 0.5 * 1 - 0.001 * 0.5 * (101 + 102)  # 0.5 - 0.1015 = 0.3985
    pair2 = 0.5 * 1 - 0.001 * 0.5 * (102 + 103)  # 0.5 - 0.1025 = 0.3975
    assert pair1 == pytest.approx(0.3985) and pair2 == pytest.approx(0.3975)
    expected = [0, 0, 0, 0, 0.3985, 0.3985 + 0.3975, 0.796]
    assert GRID.realized_profit(closes, FEE) == pytest.approx(expected)


def test_a_path_that_only_falls_realizes_nothing() -> None:
    # Buys fill at 103, 102, 101, 100 on the way down; no close ever rises through a level.
    closes = np.array([103.5, 102.5, 101.2, 100.7, 99.0, 95.0, 95.0])
    assert GRID.realized_profit(closes, FEE).tolist() == [0.0] * len(closes)


def test_a_path_that_only_rises_from_the_start_realizes_nothing() -> None:
    # The base held at the start (for the levels above 100.5) is not a bought lot: selling it
    # on the way up turns it into quote (holdings), it completes no pair.
    closes = np.array([100.5, 101.5, 102.5, 103.5, 104.5, 110.0])
    assert GRID.realized_profit(closes, FEE).tolist() == [0.0] * len(closes)


def test_a_lot_bought_at_the_top_level_never_sells() -> None:
    # From above the grid down through 104 and back up: 104 is the top level, there is no
    # level above it to sell that lot at.
    closes = np.array([105.0, 103.5, 105.0])
    assert GRID.realized_profit(closes, FEE).tolist() == [0.0, 0.0, 0.0]
    # One level further down, the lot bought at 103 sells at 104 on the way back.
    closes = np.array([105.0, 102.5, 105.0])
    assert GRID.realized_profit(closes, FEE)[-1] == pytest.approx(pair(103, 104))


def test_realized_profit_fees_can_exceed_a_narrow_spacing() -> None:
    # Spacing 0.1 at about 100 with a 0.1 % fee: each pair earns 0.1 and pays ~0.2.
    narrow = GridShape(100.0, 100.4, 5, 1.0)
    closes = np.array([100.35, 100.15, 100.35])
    # Down through 100.3 and 100.2 (buys), up through 100.2 (sells the 100.1 lot: none) and
    # 100.3 (sells the 100.2 lot at 100.3).
    assert narrow.realized_profit(closes, FEE)[-1] == pytest.approx(0.1 - 0.001 * (100.2 + 100.3))


@SETTINGS
@given(start=st.integers(1, 10), depth=st.integers(1, 10), amount=st.sampled_from([0.1, 1.0]))
def test_a_round_trip_of_d_levels_realizes_d_minus_1_pairs(
    start: int, depth: int, amount: float
) -> None:
    """Down ``depth`` levels and back: every lot bought on the way down sells one level up on
    the way back, except the one bought at the highest level crossed (it sells one level above
    the starting point)."""
    shape = GridShape(100.0, 111.0, 12, amount)  # levels 100, 101, ..., 111
    depth = min(depth, start)
    top = 100 + start - 0.5  # between levels start-1 and start
    path = [top - k for k in range(depth + 1)] + [top - k for k in range(depth - 1, -1, -1)]
    bought = [100 + start - k for k in range(1, depth + 1)]  # levels crossed going down
    expected = sum(pair(b, b + 1, amount) for b in bought if b + 1 < 100 + start)
    assert shape.realized_profit(np.array(path), FEE)[-1] == pytest.approx(expected)
    assert len([b for b in bought if b + 1 < 100 + start]) == depth - 1


@SETTINGS
@given(steps=st.lists(st.integers(-3, 3), min_size=1, max_size=60))
def test_realized_profit_never_decreases_when_each_pair_pays(steps: list[int]) -> None:
    closes = 102.3 + 0.7 * np.cumsum([0, *steps])
    realized = GRID.realized_profit(closes, FEE)
    assert len(realized) == len(closes)
    assert realized[0] == 0.0
    assert np.all(np.diff(realized) >= -1e-12)


# -- pnl ------------------------------------------------------------------------------------


def test_pnl_on_the_hand_made_path() -> None:
    closes = np.array([102.5, 101.5, 100.5, 101.5, 102.5, 103.5])
    # Holdings: 102.5 -> 0.5 x (2 x 102.5 + 303) = 254.0; 101.5 -> 0.5 x (3 x 101.5 + 201)
    # = 252.75; 100.5 -> 0.5 x (4 x 100.5 + 100) = 251.0; 103.5 -> 0.5 x (103.5 + 406)
    # = 254.75.
    held = [0.0, 252.75 - 254, 251.0 - 254, 252.75 - 254, 0.0, 254.75 - 254]
    realized = [0, 0, 0, 0, 0.3985, 0.796]
    expected = [h + r for h, r in zip(held, realized, strict=True)]
    assert GRID.pnl(closes, FEE) == pytest.approx(expected)
    assert GRID.pnl(closes, FEE)[-1] == pytest.approx(0.75 + 0.796)


@SETTINGS
@given(
    shape=shapes(),
    moves=st.lists(st.floats(-0.3, 0.3), min_size=1, max_size=50),
    fee=st.sampled_from([0.0, 0.001, 0.002]),
)
def test_pnl_is_holdings_change_plus_realized(
    shape: GridShape, moves: list[float], fee: float
) -> None:
    mid = (shape.lower + shape.upper) / 2
    closes = mid * np.exp(np.cumsum([0.0, *moves]))
    pnl = shape.pnl(closes, fee)
    assert pnl[0] == 0.0
    held = np.array([shape.holdings_value(c) for c in closes]) - shape.holdings_value(closes[0])
    assert pnl == pytest.approx(held + shape.realized_profit(closes, fee))


def test_pnl_of_no_closes_is_empty() -> None:
    assert GRID.pnl(np.array([]), FEE).tolist() == []
    assert GRID.realized_profit(np.array([]), FEE).tolist() == []
