"""Prices at their own scale: a grid on a coin below a dollar keeps its levels apart."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market_maker.base.prices import format_price, price_decimals, round_price


@pytest.mark.parametrize(
    ("price", "rounded", "shown"),
    [
        (1840.9512, 1840.95, "1,840.95"),
        (30123.456, 30123.46, "30,123.46"),
        (24.987654, 24.9877, "24.9877"),
        (0.273415678, 0.273416, "0.273416"),
        (0.00012345678, 0.000123457, "0.000123457"),
    ],
)
def test_six_significant_digits_and_never_fewer_than_two_decimals(
    price: float, rounded: float, shown: str
) -> None:
    assert round_price(price) == rounded
    assert format_price(price) == shown


@given(st.floats(min_value=1e-6, max_value=1e7))
def test_rounding_moves_a_price_by_less_than_a_millionth_of_it_or_half_a_cent(
    price: float,
) -> None:
    assert abs(round_price(price) - price) <= max(price * 1e-5, 0.005)
    assert price_decimals(price) >= 2
