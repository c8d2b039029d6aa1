"""A spot grid traded on 1-minute candles: fills, fees, inventory, profit, equity.

Its ``levels`` prices (arithmetic or geometric) form ``levels - 1`` slots; slot
``k`` buys at level ``k`` and sells what it bought at level ``k + 1``, either the
same base amount each (``amount``, as an exchange's grid does) or
``capital / (levels - 1)`` quote each. Slots are independent, so each is
simulated on its own:

- a slot whose buy level is below the price when the grid starts is armed at
  once;
- a slot above it either starts holding base bought at the opening price with
  the taker fee (``start_with_base``: how an exchange's spot grid, and the
  system's CREATE_GRID, place it, so that the levels above the price can sell),
  or, starting with quote only, is armed by the first candle that *closes* above
  its buy level (a limit buy must sit below the price when placed);
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
    # Per slot: the price its first lot was bought at when the grid started holding it
    # (the opening price, taker fee), NaN for a slot that bought at its level.
    start_cost: np.ndarray | None = None

    @property
    def fills(self) -> int:
        return len(self.buy_at) + len(self.sell_at)

    def _lot_costs(self, slot: np.ndarray, nth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(price, fee rate) each lot was bought at: slot ``slot``'s ``nth`` purchase."""
        price = self.levels[slot].astype(float)
        fee = np.full(len(slot), self.maker_fee)
        if self.start_cost is not None and len(slot):
            initial = (nth == 0) & np.isfinite(self.start_cost[slot])
            price = np.where(initial, self.start_cost[slot], price)
            fee = np.where(initial, self.taker_fee, fee)
        return price, fee

    def _sell_costs(self) -> tuple[np.ndarray, np.ndarray]:
        """The cost of the lot each sale sells (the n-th sale of a slot sells its n-th buy)."""
        return self._lot_costs(self.sell_slot, _nth(self.sell_slot))

    @property
    def pairs(self) -> int:
        return len(self.sell_at)

    def pair_profit(self) -> np.ndarray:
        """Net profit of each completed buy/sell pair, in sell order."""
        k = self.sell_slot
        buy, buy_fee = self._sell_costs()
        sell, qty = self.levels[k + 1], self.quantity[k]
        return qty * (sell - buy) - qty * (buy_fee * buy + self.maker_fee * sell)

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
        bought = np.bincount(self.buy_slot, minlength=len(self.quantity))[held] - 1
        cost, fee = self._lot_costs(held, bought)
        qty = self.quantity[held]
        proceeds = qty * self.stop_price * (1 - self.taker_fee)
        return float((proceeds - qty * cost * (1 + fee)).sum())

    @property
    def fees(self) -> float:
        price, fee = self._lot_costs(self.buy_slot, _nth(self.buy_slot))
        buys = (fee * self.quantity[self.buy_slot] * price).sum()
        sells = self.quantity[self.sell_slot] * self.levels[self.sell_slot + 1]
        liquidation = self.inventory * self.stop_price
        return float(buys + self.maker_fee * sells.sum() + self.taker_fee * liquidation)

    @property
    def pnl(self) -> float:
        return self.realized + self.unrealized

    def pnl_at(self, index: np.ndarray, closes: np.ndarray) -> np.ndarray:
        """Profit and loss (marked to ``closes``) after each candle ``index`` of the life;
        nothing before the start, and after the stop the final figure."""
        index = np.asarray(index, dtype=np.int64)
        out = np.zeros(len(index))
        life = (index >= self.start) & (index < self.stop - 1)
        if np.any(life):
            out[life] = self._marked(index[life], np.asarray(closes)[life])
        out[index >= self.stop - 1] = self.pnl  # candle stop - 1 closes when the stop sells
        return out

    def _marked(self, index: np.ndarray, closes: np.ndarray) -> np.ndarray:
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
            cost, fee = self._lot_costs(np.full(len(index), k), np.maximum(j, 0))
            qty = self.quantity[k]
            out += np.where(held, qty * (closes - cost) - fee * qty * cost, 0.0)
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
    amount: float | None = None,
    start_with_base: bool = False,
) -> GridFills:
    """Trade the grid on candles ``start`` .. ``stop - 1``; sell what it holds at ``stop_price``
    (default: the open of candle ``stop``, else the last close). ``amount``: base per level
    (default: ``capital`` spread as equal quote); ``start_with_base``: the levels above the
    opening price start holding base bought there."""
    if not 0 <= start < stop <= len(minutes):
        raise ValueError(f"grid life {start}..{stop} outside the {len(minutes)} candles")
    if stop_price is None:
        stop_price = float(minutes.open[stop] if stop < len(minutes) else minutes.close[stop - 1])
    low = minutes.low[start:stop]
    high = minutes.high[start:stop]
    close = minutes.close[start:stop]
    slots = len(levels) - 1
    quantity = np.full(slots, amount) if amount is not None else capital / slots / levels[:-1]
    first_open = float(minutes.open[start])
    start_cost = (
        np.where(levels[:-1] >= first_open, first_open, np.nan) if start_with_base else None
    )
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
        if buy_level < first_open or start_with_base:
            # Bought at the start when above the price: its first "buy" is candle 0's open.
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
        start_cost=start_cost,
    )


def _nth(slots: np.ndarray) -> np.ndarray:
    """For rows grouped by slot, each row's rank within its slot (0 for the first)."""
    if not len(slots):
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(slots)) + 1]
    counts = np.diff(np.r_[starts, len(slots)])
    return np.arange(len(slots)) - np.repeat(starts, counts)


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
