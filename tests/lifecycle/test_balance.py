"""The capital's balance: the KuCoin trade account with a key, configuration without."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from market_maker.base.errors import ExchangeError
from market_maker.config import load_settings
from market_maker.config.models import ExchangeSettings
from market_maker.exchange.kucoin import KuCoinExchange
from market_maker.exchange.replay import ReplayExchange
from market_maker.lifecycle.balance import balance_of, quote_balance
from tests.conftest import SAMPLE_FILE
from tests.exchange.kucoin_server import FakeKuCoin
from tests.exchange.test_kucoin_client import KEY, KEYS


@pytest.fixture
def kucoin() -> Iterator[FakeKuCoin]:
    with FakeKuCoin(keys=KEYS.values()) as fake:
        yield fake


def test_with_a_key_the_balance_is_the_trade_accounts_quote(kucoin: FakeKuCoin) -> None:
    exchange_settings = ExchangeSettings(
        name="kucoin",
        base_url=kucoin.url,
        api_key=KEY.key,
        api_secret=KEY.secret,
        api_passphrase=KEY.passphrase,
    )
    settings = load_settings().model_copy(update={"exchange": exchange_settings})
    balance = balance_of(settings, KuCoinExchange(exchange_settings), "USDT")
    assert balance.total == 2500.5  # available 2,000.5 + holds 500 (the documented response)
    assert balance.source == "KuCoin trade account (USDT)"
    assert "/api/v1/accounts" in kucoin.paths()


def test_without_a_key_the_balance_is_configuration() -> None:
    settings = load_settings()
    balance = balance_of(settings, ReplayExchange(SAMPLE_FILE, "ETH-USDT"), "USDT")
    assert balance.total == settings.lifecycle.capital.total_quote
    assert "lifecycle.capital.total_quote" in balance.source


def test_an_account_without_a_numeric_balance_is_named() -> None:
    with pytest.raises(ExchangeError, match="USDT account without a numeric balance"):
        quote_balance([{"currency": "USDT", "type": "trade", "balance": "n/a"}], "USDT")
    assert quote_balance([{"currency": "USDT", "type": "main", "balance": "9"}], "USDT") == 0.0
