"""The multi-symbol KuCoin stand-in, over HTTP through the project's KuCoin client: each symbol
serves its own window of the recording, scaled to its configured ticks."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml

from market_maker.base.candles import Interval, aggregate
from market_maker.config import load_settings
from market_maker.config.models import SYMBOL_PATTERN
from market_maker.exchange import KuCoinExchange
from market_maker.exchange.replay import load_recorded_minutes
from tests.exchange.kucoin_multi import (
    SHIFT,
    MultiSymbolKuCoin,
    factor,
    suggested_scale,
    symbol_names,
)
from tests.exchange.kucoin_server import SAMPLE_FILE

NOW = datetime(2023, 8, 20, 12, 30, 20, tzinfo=UTC)
START, END = datetime(2023, 8, 19, 0, tzinfo=UTC), datetime(2023, 8, 20, 12, tzinfo=UTC)


def test_names_are_symbols_and_scales_fit() -> None:
    names = symbol_names(20)
    assert names[:2] == ["ETH-USDT", "S01-USDT"] and len(set(names)) == 20
    assert all(re.match(SYMBOL_PATTERN, n) for n in names)
    assert len({factor(k) for k in range(1, 16)}) == 15
    assert suggested_scale(0) == 100 and suggested_scale(3) == 1000  # factor 0.1


def test_two_symbols_serve_different_real_windows(tmp_path: Path) -> None:
    overlay = tmp_path / "config.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "symbols": ["ETH-USDT", "S01-USDT"],
                "snapshots": {"price_scales": {"ETH-USDT": 100, "S01-USDT": 1000}},
            }
        )
    )
    settings = load_settings(overlay)
    recorded = load_recorded_minutes(SAMPLE_FILE)
    with MultiSymbolKuCoin(
        recorded, settings.symbols, now=NOW, price_scale=settings.snapshots.price_scale
    ) as server:
        client = KuCoinExchange(settings.exchange.model_copy(update={"base_url": server.url}))
        eth = client.candles("ETH-USDT", Interval.HOUR, START, END).candles
        s01 = client.candles("S01-USDT", Interval.HOUR, START, END).candles
        summary = client.market_summary("S01-USDT")
        with pytest.raises(Exception, match="S02-USDT"):
            client.candles("S02-USDT", Interval.HOUR, START, END)

    hours = aggregate(recorded, Interval.HOUR)
    expected_t = np.arange(int(START.timestamp()), int(END.timestamp()), 3600)
    assert list(eth.t) == list(s01.t) == list(expected_t)
    # ETH-USDT: the recording itself.
    at = np.searchsorted(hours.t, expected_t)
    assert np.array_equal(eth.close, hours.close[at])
    assert np.array_equal(eth.high, hours.high[at])
    # S01-USDT: the recording two weeks earlier, at half the price, in whole 1/1000 ticks.
    earlier = np.searchsorted(hours.t, expected_t - int(SHIFT.total_seconds()))
    assert factor(1) == 0.5
    np.testing.assert_allclose(s01.close, np.rint(hours.close[earlier] * 500) / 1000)
    np.testing.assert_allclose(s01.low, np.rint(hours.low[earlier] * 500) / 1000)
    np.testing.assert_allclose(s01.volume, hours.volume[earlier] * 2, rtol=1e-9)
    assert np.allclose(np.rint(s01.close * 1000), s01.close * 1000)
    # Different market behaviour, not a rescaled copy of the same hours.
    assert not np.allclose(s01.close / s01.close[0], eth.close / eth.close[0], rtol=1e-3)
    # The live summary: the last closed minute of S01's own window.
    two_weeks_ago = NOW - SHIFT - timedelta(minutes=1)
    minute = np.searchsorted(recorded.t, int(two_weeks_ago.timestamp()) // 60 * 60)
    assert summary.last == pytest.approx(round(recorded.close[minute] * 0.5, 3))
    assert summary.best_bid is not None and summary.best_ask is not None
    assert summary.best_bid < summary.last < summary.best_ask
    assert summary.best_ask - summary.best_bid < 0.03
