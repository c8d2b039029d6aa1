"""The exchange interface every source of market data implements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from market_maker.base.candles import FetchResult, Interval


@dataclass(frozen=True)
class MarketSummary:
    """What the market looked like at ``as_of``; bid/ask only where the source has them."""

    as_of: datetime
    last: float
    high_24h: float
    low_24h: float
    volume_24h: float
    best_bid: float | None = None
    best_ask: float | None = None


class Exchange(Protocol):
    """Read-only market data. Implementations never return a candle that has not closed."""

    name: str

    def now(self) -> datetime:
        """The source's clock (server time for a live exchange, the replay clock otherwise)."""
        ...

    def candles(
        self, symbol: str, interval: Interval, start: datetime, end: datetime
    ) -> FetchResult:
        """Closed candles with open time in [start, end), oldest first, plus those missing."""
        ...

    def market_summary(self, symbol: str) -> MarketSummary | None:
        """The live market summary, or None where the source has none."""
        ...
