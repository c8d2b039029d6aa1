"""Sources of market data behind one interface: KuCoin's REST API and the replay exchange."""

from market_maker.exchange.base import Exchange, MarketSummary
from market_maker.exchange.factory import build_exchange
from market_maker.exchange.kucoin import KuCoinExchange
from market_maker.exchange.replay import ReplayExchange

__all__ = ["Exchange", "KuCoinExchange", "MarketSummary", "ReplayExchange", "build_exchange"]
