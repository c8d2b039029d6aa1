"""The quote balance the capital is computed from: the exchange account's, or configuration."""

from __future__ import annotations

from collections.abc import Callable

from market_maker.base.errors import ExchangeError
from market_maker.config import Settings
from market_maker.exchange import Exchange
from market_maker.lifecycle.setup_evaluator import Balance, configured_balance


def quote_balance(accounts: list[dict], currency: str) -> float:
    """Total ``currency`` in the trade accounts (``GET /api/v1/accounts``: balance = available
    + holds; the grids' own orders are holds, their capital is counted as allocated)."""
    total = 0.0
    for account in accounts:
        if account.get("currency") == currency and account.get("type") == "trade":
            try:
                total += float(account["balance"])
            except (KeyError, TypeError, ValueError):
                raise ExchangeError(
                    f"GET /api/v1/accounts: {currency} account without a numeric balance"
                ) from None
    return total


def balance_of(settings: Settings, exchange: Exchange, quote: str) -> Balance:
    """With a (read-only) KuCoin key, the account's ``quote`` balance; otherwise the one in
    configuration (the replay exchange has no account)."""
    cfg = settings.exchange
    if exchange.name == "kucoin" and cfg.api_key is not None:
        accounts = exchange.accounts()  # type: ignore[attr-defined]
        return Balance(quote_balance(accounts, quote), f"KuCoin trade account ({quote})")
    return configured_balance(settings)


def base_balance_reader(settings: Settings, exchange: Exchange) -> Callable[[str], float] | None:
    """With a KuCoin key: a reader of the account's balance of a currency (for checking a
    grid's position against the exchange); None without one."""
    if exchange.name != "kucoin" or settings.exchange.api_key is None:
        return None
    return lambda currency: quote_balance(exchange.accounts(), currency)  # type: ignore[attr-defined]
