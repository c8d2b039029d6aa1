"""The grid simulation: hand-counted fills, a plain reference loop on a real day, properties."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_maker.backtest.grid_sim import level_prices, simulate
from market_maker.base.candles import CandleSeries, Interval
from market_maker.base.timeutil import to_seconds


def candles(rows: list[tuple[float, float, float, float]]) -> CandleSeries:
    t0 = to_seconds(datetime(2023, 7, 3, tzinfo=UTC))
    data = [(t0 + 60 * k, o, h, lo, c, 1.0) for k, (o, h, lo, c) in enumerate(rows)]
    return CandleSeries.from_rows(Interval.MINUTE, np.array(data))


def test_fills_counted_by_hand() -> None:
    # Levels 100, 101, 102, 103: three slots of 100 quote each. Start at 101.5:
    # slots 100->101 and 101->102 are armed (below the price), 102->103 is not.
    minutes = candles(
        [
            (101.5, 101.6, 100.9, 101.0),  # low 100.9 <= 101: slot 1 buys at 101
            (101.0, 101.2, 99.8, 100.0),  # low 99.8 <= 100: slot 0 buys at 100
            (100.0, 101.1, 100.0, 101.0),  # high 101.1 >= 101: slot 0 sells at 101
            (101.0, 102.5, 101.0, 102.4),  # slot 1 sells at 102; close > 102 arms slot 2
            (102.4, 102.6, 101.9, 102.0),  # slot 2 buys at 102; slot 1 rebuys at 101? no: low 101.9
            (102.0, 103.0, 102.0, 102.9),  # slot 2 sells at 103
        ]
    )
    levels = level_prices(100, 103, 4, "arithmetic")
    f = simulate(minutes, levels, start=0, stop=6, capital=300, maker_fee=0.001, taker_fee=0.002)
    assert sorted(zip(f.buy_slot.tolist(), f.buy_at.tolist(), strict=True)) == [
        (0, 1),
        (1, 0),
        (2, 4),
    ]
    assert sorted(zip(f.sell_slot.tolist(), f.sell_at.tolist(), strict=True)) == [
        (0, 2),
        (1, 3),
        (2, 5),
    ]
    # Each slot: 100 quote / buy price base, one level higher, a fee on both fills.
    by_hand = sum(
        100 / b * (b + 1) - 100 - 0.001 * (100 + 100 / b * (b + 1)) for b in (100, 101, 102)
    )
    assert f.realized == pytest.approx(by_hand)
    assert f.inventory == 0 and f.unrealized == 0
    assert f.fills == 6 and f.pairs == 3


def test_no_round_trip_inside_one_candle_and_inventory_sold_at_the_stop() -> None:
    # One wide candle reaches both levels: the buy fills, the sale waits for a later candle.
    minutes = candles([(100.5, 101.5, 99.5, 100.5), (100.5, 100.6, 99.0, 99.0), (99.0, 99, 98, 98)])
    levels = level_prices(100, 101, 2, "arithmetic")
    f = simulate(minutes, levels, start=0, stop=2, capital=100, maker_fee=0.0, taker_fee=0.01)
    assert f.buy_at.tolist() == [0] and f.sell_at.tolist() == []
    assert f.stop_price == 99.0  # the open of the first candle not traded
    assert f.inventory == pytest.approx(1.0)
    assert f.unrealized == pytest.approx(99.0 * 0.99 - 100.0)
    assert f.pnl == pytest.approx(f.unrealized)


def test_a_level_above_the_start_waits_for_a_close_above_it() -> None:
    minutes = candles(
        [(99.0, 100.5, 98.9, 99.5), (99.5, 100.2, 99.0, 100.1), (100.1, 100.1, 99.9, 100)]
    )
    levels = level_prices(100, 101, 2, "arithmetic")
    f = simulate(minutes, levels, start=0, stop=3, capital=100, maker_fee=0.0, taker_fee=0.0)
    # Not armed at the start (price below 100); armed by candle 1's close 100.1; buys in candle 2.
    assert f.buy_at.tolist() == [2]


def test_geometric_levels_keep_a_constant_ratio() -> None:
    levels = level_prices(100, 200, 5, "geometric")
    ratios = levels[1:] / levels[:-1]
    assert np.allclose(ratios, ratios[0]) and levels[0] == 100 and levels[-1] == pytest.approx(200)


def reference(minutes: CandleSeries, levels: np.ndarray, capital: float, fee: float) -> float:
    """A plain per-candle loop over every slot, written from the rules in the module docstring."""
    slots = len(levels) - 1
    qty = [capital / slots / levels[k] for k in range(slots)]
    armed: list[bool | str] = [bool(levels[k] < minutes.open[0]) for k in range(slots)]
    holding = [False] * slots
    realized = 0.0
    for i in range(len(minutes)):
        for k in range(slots):
            if holding[k]:
                if minutes.high[i] >= levels[k + 1]:
                    holding[k] = False
                    b, s = levels[k], levels[k + 1]
                    realized += qty[k] * (s - b) - fee * qty[k] * (b + s)
                    armed[k] = "next"
            elif armed[k] is True and minutes.low[i] <= levels[k]:
                holding[k] = True
        for k in range(slots):
            if armed[k] == "next" or (armed[k] is False and minutes.close[i] > levels[k]):
                armed[k] = True
    return realized


def test_a_real_day_matches_the_plain_loop(sample_minutes: CandleSeries) -> None:
    day = sample_minutes.between(datetime(2023, 7, 5, tzinfo=UTC), datetime(2023, 7, 6, tzinfo=UTC))
    price = float(day.open[0])
    levels = level_prices(price * 0.985, price * 1.015, 9, "arithmetic")
    f = simulate(
        day, levels, start=0, stop=len(day), capital=1000, maker_fee=0.001, taker_fee=0.001
    )
    assert f.pairs > 5  # the day ranged: the grid traded
    assert f.realized == pytest.approx(reference(day, levels, 1000, 0.001))


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.floats(-0.02, 0.02), min_size=5, max_size=200),
    levels=st.integers(2, 12),
    spacing=st.sampled_from(["arithmetic", "geometric"]),
)
def test_properties_on_random_paths(steps: list[float], levels: int, spacing: str) -> None:
    close = 100 * np.exp(np.cumsum(steps))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * 1.001
    low = np.minimum(open_, close) * 0.999
    rows = [(o, h, lo, c) for o, h, lo, c in zip(open_, high, low, close, strict=True)]
    minutes = candles(rows)
    grid = level_prices(95, 105, levels, spacing)  # type: ignore[arg-type]
    f = simulate(minutes, grid, start=0, stop=len(rows), capital=1000, maker_fee=0.0, taker_fee=0.0)
    # Without fees every completed pair earns; sales never outnumber buys, per slot.
    assert (f.pair_profit() > 0).all()
    for k in range(levels - 1):
        buys, sells = f.buy_at[f.buy_slot == k], f.sell_at[f.sell_slot == k]
        assert len(buys) - len(sells) in (0, 1)
        # Alternation: buy < sell < next buy, never two fills of a slot in one candle.
        seq = np.sort(np.r_[buys, sells])
        assert (np.diff(seq) > 0).all()
    # The last hour's mark equals the final PnL when nothing is charged at the stop.
    marks = f.pnl_at(np.array([len(rows) - 1]), minutes.close[-1:])
    assert marks[0] == pytest.approx(
        f.realized
        + f.inventory * minutes.close[-1]
        - sum(f.quantity[k] * grid[k] for k in f.held_slots()),
        abs=1e-6,
    )


def test_a_grid_placed_as_the_exchange_places_it_holds_base_above_the_price_from_the_start() -> (
    None
):
    # Levels 90, 100, 110, 120, 0.5 base a level; opening at 105. Slots 90->100 and 100->110
    # wait to buy below the price; slot 110->120 starts holding 0.5 base bought at 105 (the
    # taker fee), to sell at 120.
    minutes = candles(
        [
            (105.0, 106.0, 104.0, 105.0),  # nothing reaches a level
            (105.0, 121.0, 105.0, 120.0),  # slot 2 sells its opening lot at 120
            (120.0, 120.0, 99.0, 100.0),  # slot 1 buys at 100; slot 2 rebuys at 110
            (100.0, 100.0, 100.0, 100.0),  # the stop sells both at this open
        ]
    )
    levels = level_prices(90, 120, 4, "arithmetic")
    maker, taker = 0.001, 0.002
    f = simulate(
        minutes,
        levels,
        start=0,
        stop=3,
        capital=0,
        maker_fee=maker,
        taker_fee=taker,
        amount=0.5,
        start_with_base=True,
    )
    assert sorted(zip(f.buy_slot.tolist(), f.buy_at.tolist(), strict=True)) == [
        (1, 2),
        (2, 0),
        (2, 2),
    ]
    assert f.sell_slot.tolist() == [2] and f.sell_at.tolist() == [1]
    opening_pair = 0.5 * (120 - 105) - 0.5 * (taker * 105 + maker * 120)
    assert f.realized == pytest.approx(opening_pair)
    # Held at the stop: slot 1's lot bought at 100, slot 2's at 110; sold at 100 (taker).
    held = 0.5 * 100 * (1 - taker) * 2 - 0.5 * 100 * (1 + maker) - 0.5 * 110 * (1 + maker)
    assert f.inventory == pytest.approx(1.0) and f.unrealized == pytest.approx(held)
    buys = 0.5 * 105 * taker + 0.5 * (100 + 110) * maker
    assert f.fees == pytest.approx(buys + 0.5 * 120 * maker + 1.0 * 100 * taker)
    closes = minutes.close[:3]
    marked = f.pnl_at(np.arange(4), np.r_[closes, 100.0])
    assert marked[0] == pytest.approx(0.5 * (105 - 105) - 0.5 * taker * 105)
    assert marked[-1] == pytest.approx(f.pnl)
