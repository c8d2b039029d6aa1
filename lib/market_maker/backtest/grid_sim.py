"""A spot grid traded on 1-minute candles: fills, fees, inventory, profit, equity.

The grid starts with quote only. Its ``levels`` prices (arithmetic or
geometric) form ``levels - 1`` slots; slot ``k`` buys at level ``k`` and sells
what it bought at level ``k + 1``, with ``capital / (levels - 1)`` quote each.
Slots are independent, so each is simulated on its own:

- a slot whose buy level is below the price when the grid starts is armed at
  once; any other is armed by the first candle that *closes* above its buy level
  (a limit buy must sit below the price when placed);
- an armed slot buys at its level in the first candle whose low reaches it;
- a holding slot sells at the level above in the first *later* candle whose
  high reaches it, and is armed again from the candle after.

Fill order inside one candle is unknown from OHLC, so it is taken to be the
least profitable: a slot fills at most once per candle (no buy and sell of the
same lot inside a candle, no round trip counted that the path may not have
made), and limit orders fill at their level even when a candle gaps through it.
Every fill pays the maker fee; the stop sells what the grid holds at the stop
price and pays the taker fee.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from market_maker.base.candles import CandleSeries

Spacing = Literal["arithmetic", "geometric"]


def level_prices(lower: float, upper: float, levels: int, spacing: Spacing) -> np.ndarray:
    """The grid's prices, bounds included, lowest first."""
    if not 0 < lower < upper:
        raise ValueError(f"grid bounds must satisfy 0 < lower < upper, got {lower}..{upper}")
    if levels < 2:
        raise ValueError(f"a grid needs at least 2 levels, got {levels}")
    if spacing == "geometric":
        return lower * (upper / lower) ** (np.arange(levels) / (levels - 1))
    return np.linspace(lower, upper, levels)


@dataclass(frozen=True)
class GridFills:
    """What one grid did between its start and its stop (minute indices into the series)."""

    levels: np.ndarray
    quantity: np.ndarray  # base bought per slot
    buy_slot: np.ndarray  # one row per buy, by slot then time
    buy_at: np.ndarray
    sell_slot: np.ndarray  # one row per sell: the n-th sale of a slot sells its n-th buy
    sell_at: np.ndarray
    start: int
    stop: int  # first minute not traded (exclusive)
    stop_price: float
    maker_fee: float
    taker_fee: float
    capital: float

    @property
    def fills(self) -> int:
        return len(self.buy_at) + len(self.sell_at)

    @property
    def pairs(self) -> int:
        return len(self.sell_at)

    def pair_profit(self) -> np.ndarray:
        """Net profit of each completed buy/sell pair, in sell order."""
        k = self.sell_slot
        buy, sell, qty = self.levels[k], self.levels[k + 1], self.quantity[k]
        return qty * (sell - buy) - self.maker_fee * qty * (buy + sell)

    @property
    def realized(self) -> float:
        return float(self.pair_profit().sum())

    def held_slots(self) -> np.ndarray:
        """Slots holding base at the stop: bought and not sold again."""
        held = np.zeros(len(self.quantity), dtype=np.int64)
        np.add.at(held, self.buy_slot, 1)
        np.add.at(held, self.sell_slot, -1)
        return np.flatnonzero(held > 0)

    @property
    def inventory(self) -> float:
        """Base held at the stop (sold there)."""
        return float(self.quantity[self.held_slots()].sum())

    @property
    def unrealized(self) -> float:
        """What selling the held base at the stop price gains or loses, fees included."""
        held = self.held_slots()
        qty, cost = self.quantity[held], self.levels[held]
        proceeds = qty * self.stop_price * (1 - self.taker_fee)
        return float((proceeds - qty * cost * (1 + self.maker_fee)).sum())

    @property
    def fees(self) -> float:
        buys = self.quantity[self.buy_slot] * self.levels[self.buy_slot]
        sells = self.quantity[self.sell_slot] * self.levels[self.sell_slot + 1]
        liquidation = self.inventory * self.stop_price
        return float(self.maker_fee * (buys.sum() + sells.sum()) + self.taker_fee * liquidation)

    @property
    def pnl(self) -> float:
        return self.realized + self.unrealized

    def pnl_at(self, index: np.ndarray, closes: np.ndarray) -> np.ndarray:
        """Profit and loss (marked to ``closes``) after each candle ``index`` of the life;
        after the stop it stays at the final figure."""
        index = np.asarray(index, dtype=np.int64)
        out = np.zeros(len(index))
        profits = self.pair_profit()
        order = np.argsort(self.sell_at, kind="stable")
        cum = np.r_[0.0, np.cumsum(profits[order])]
        out += cum[np.searchsorted(self.sell_at[order], index, side="right")]
        for k in range(len(self.quantity)):
            buys = self.buy_at[self.buy_slot == k]
            if not len(buys):
                continue
            sells = self.sell_at[self.sell_slot == k]
            sale = np.full(len(buys), np.iinfo(np.int64).max)
            sale[: len(sells)] = sells
            j = np.searchsorted(buys, index, side="right") - 1
            held = (j >= 0) & (sale[np.maximum(j, 0)] > index)
            qty, cost = self.quantity[k], self.levels[k]
            out += np.where(held, qty * (closes - cost) - self.maker_fee * qty * cost, 0.0)
        done = index >= self.stop - 1  # candle stop - 1 closes when the stop sells
        out[done] = self.pnl
        return out


def simulate(
    minutes: CandleSeries,
    levels: np.ndarray,
    *,
    start: int,
    stop: int,
    stop_price: float | None = None,
    capital: float,
    maker_fee: float,
    taker_fee: float,
) -> GridFills:
    """Trade the grid on candles ``start`` .. ``stop - 1``; sell what it holds at ``stop_price``
    (default: the open of candle ``stop``, else the last close)."""
    if not 0 <= start < stop <= len(minutes):
        raise ValueError(f"grid life {start}..{stop} outside the {len(minutes)} candles")
    if stop_price is None:
        stop_price = float(minutes.open[stop] if stop < len(minutes) else minutes.close[stop - 1])
    low = minutes.low[start:stop]
    high = minutes.high[start:stop]
    close = minutes.close[start:stop]
    slots = len(levels) - 1
    quantity = capital / slots / levels[:-1]
    first_open = float(minutes.open[start])
    buy_slot: list[np.ndarray] = []
    buy_at: list[np.ndarray] = []
    sell_slot: list[np.ndarray] = []
    sell_at: list[np.ndarray] = []
    for k in range(slots):
        buy_level, sell_level = levels[k], levels[k + 1]
        can_buy = np.flatnonzero(low <= buy_level)
        if not len(can_buy):
            continue
        can_sell = np.flatnonzero(high >= sell_level)
        if buy_level < first_open:
            armed = 0
        else:
            above = np.flatnonzero(close > buy_level)
            if not len(above):
                continue
            armed = int(above[0]) + 1
        buys, sells = _alternate(can_buy, can_sell, armed)
        buy_slot.append(np.full(len(buys), k))
        buy_at.append(buys)
        sell_slot.append(np.full(len(sells), k))
        sell_at.append(sells)
    return GridFills(
        levels=levels,
        quantity=quantity,
        buy_slot=_cat(buy_slot),
        buy_at=_cat(buy_at) + start,
        sell_slot=_cat(sell_slot),
        sell_at=_cat(sell_at) + start,
        start=start,
        stop=stop,
        stop_price=float(stop_price),
        maker_fee=maker_fee,
        taker_fee=taker_fee,
        capital=capital,
    )


def _alternate(
    can_buy: np.ndarray, can_sell: np.ndarray, armed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Buy at the first buyable candle from ``armed``, sell at the first sellable one after it,
    buy again from the candle after the sale, and so on."""
    buys: list[int] = []
    sells: list[int] = []
    at = armed
    nb, ns = len(can_buy), len(can_sell)
    while True:
        i = int(np.searchsorted(can_buy, at, side="left"))
        if i >= nb:
            break
        b = int(can_buy[i])
        buys.append(b)
        j = int(np.searchsorted(can_sell, b, side="right"))
        if j >= ns:
            break
        s = int(can_sell[j])
        sells.append(s)
        at = s + 1
    return np.array(buys, dtype=np.int64), np.array(sells, dtype=np.int64)


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(parts).astype(np.int64)


def first_stop_loss(minutes: CandleSeries, start: int, stop: int, price: float) -> int | None:
    """The first candle in ``start .. stop - 1`` whose low reaches ``price``."""
    hit = np.flatnonzero(minutes.low[start:stop] <= price)
    return int(hit[0]) + start if len(hit) else None


def first_outside(
    minutes: CandleSeries, start: int, stop: int, lower: float, upper: float
) -> int | None:
    """The first candle in ``start .. stop - 1`` that trades outside ``lower .. upper``."""
    hit = np.flatnonzero((minutes.low[start:stop] < lower) | (minutes.high[start:stop] > upper))
    return int(hit[0]) + start if len(hit) else None
