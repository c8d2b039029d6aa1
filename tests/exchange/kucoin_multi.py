"""The KuCoin stand-in serving several symbols, each a different real window of a recording.

We only hold ETH/USDT recordings (data/sample: 2.5 months; ../shared/data: two years of
1-minute futures candles). Symbol ``k`` of ``names`` (0 first) is that recording shifted
forward in time by ``k x shift`` (two weeks by default: whole weeks keep the hour of day and
the day of week; past the windows the recording holds before ``now``, ``k`` modulo their
count, so 200 symbols come from two years) with its prices multiplied by a per-symbol
factor (:func:`factor`: with the shift, no two symbols alike), and then
rounded to whole ticks of the symbol's price scale (from configuration:
``snapshots.price_scales`` / ``default_price_scale``); volumes are divided by the factor so
the turnover stays that of the recording. Symbol 0 is the recording itself, unscaled. So at
any moment every symbol serves real market behaviour (no random walk), each from a
different stretch of the market: S05-USDT at 2023-12-01 trades as ETH did on 2023-09-22, at
a fifth of the price.

Only ``[now - history, now + ahead]`` of each symbol is held (a snapshot needs 240 hours and
100 four-hour candles behind its hour); everything before the recording's start is absent,
as an exchange before a listing.

    minutes = load_recorded_minutes(TWO_YEARS)
    names = symbol_names(20)  # ETH-USDT, S01-USDT .. S19-USDT
    with MultiSymbolKuCoin(minutes, names, now=..., price_scale=settings.snapshots.price_scale):
        ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

import numpy as np

from market_maker.base.candles import CandleSeries
from tests.exchange.kucoin_server import ApiKey, FakeKuCoin

SHIFT = timedelta(weeks=2)
HISTORY = timedelta(days=30)
AHEAD = timedelta(days=2)
# The stand-in's 24h stats quote bid and ask at last -/+ 0.01 in cents: whole ticks only
# when the scale is a multiple of 100.
MIN_PRICE_SCALE = 100
# Factors of symbols 1.. (cycled): prices from about a thirtieth to thirty times ETH's.
FACTORS = (0.5, 2.0, 0.1, 4.0, 0.2, 8.0, 0.05, 16.0, 0.25, 0.033, 3.0, 0.4, 32.0, 0.02, 6.0)


def symbol_names(count: int, first: str = "ETH-USDT") -> list[str]:
    """``first``, then S01-USDT, S02-USDT, ... (``count`` in all)."""
    return [first] + [f"S{k:02d}-USDT" for k in range(1, count)]


def factor(k: int) -> float:
    """The price factor of symbol ``k`` (1.0 for the recording itself)."""
    return 1.0 if k == 0 else FACTORS[(k - 1) % len(FACTORS)]


def suggested_scale(k: int, reference_scale: int = 100) -> int:
    """A power of ten giving symbol ``k`` about the relative tick of the recording at
    ``reference_scale`` (never below MIN_PRICE_SCALE): for configuration to set."""
    exponent = round(np.log10(reference_scale / factor(k)))
    return max(MIN_PRICE_SCALE, 10 ** int(exponent))


def derive(
    minutes: CandleSeries,
    k: int,
    *,
    scale: int,
    now: datetime,
    shift: timedelta = SHIFT,
    history: timedelta = HISTORY,
    ahead: timedelta = AHEAD,
    steps: int | None = None,
) -> CandleSeries:
    """Symbol ``k``'s minutes around ``now``: the recording ``steps x shift`` earlier (``k``
    by default), prices x factor(k) in whole ticks of ``scale``, volumes / factor(k)."""
    if scale % MIN_PRICE_SCALE:
        raise ValueError(f"price scale {scale}: bid/ask in cents would not be whole ticks")
    offset = int((shift * (k if steps is None else steps)).total_seconds())
    lo, hi = np.searchsorted(
        minutes.t,
        [int((now - history).timestamp()) - offset, int((now + ahead).timestamp()) - offset],
    )
    part = minutes.take(slice(lo, hi))
    f = factor(k)

    def ticks(prices: np.ndarray) -> np.ndarray:
        return np.rint(prices * f * scale) / scale

    return CandleSeries(
        part.interval,
        part.t + offset,
        ticks(part.open),
        ticks(part.high),
        ticks(part.low),
        ticks(part.close),
        part.volume / f,
    )


class MultiSymbolKuCoin(FakeKuCoin):
    """FakeKuCoin serving ``names``, symbol k derived from ``minutes`` by :func:`derive`."""

    def __init__(
        self,
        minutes: CandleSeries,
        names: Sequence[str],
        *,
        now: datetime,
        price_scale: Callable[[str], int],
        shift: timedelta = SHIFT,
        history: timedelta = HISTORY,
        ahead: timedelta = AHEAD,
        keys: Iterable[ApiKey] = (),
    ):
        # Windows of the recording wholly before now - history, the first ending at now.
        held = datetime.fromtimestamp(int(minutes.t[0]), tz=now.tzinfo) if len(minutes) else now
        windows = max(1, (now - history - held) // shift + 1)
        series = [
            derive(
                minutes,
                k,
                scale=price_scale(n),
                now=now,
                shift=shift,
                history=history,
                ahead=ahead,
                steps=k % windows,
            )
            for k, n in enumerate(names)
        ]
        if not all(len(part) for part in series):
            raise ValueError(f"the recording holds nothing {history} before {now}")
        super().__init__(series[0], symbol=names[0], now=now, keys=keys)
        for name, part in zip(names[1:], series[1:], strict=True):
            self.add_symbol(name, part)
