"""Recorded data and regime settings, built once per session for the regime tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from market_maker.base.candles import Interval, aggregate
from market_maker.config import load_settings
from market_maker.config.regime import RegimeSettings
from market_maker.exchange.replay import load_recorded_minutes
from tests.regime.helpers import Recording


@pytest.fixture(scope="session")
def recording(two_years_file: Path) -> Recording:
    """ETH/USDT 2022-2023: the minutes and their 1h and 4h candles."""
    minutes = load_recorded_minutes(two_years_file)
    return Recording(
        minutes, aggregate(minutes, Interval.HOUR), aggregate(minutes, Interval.FOUR_HOURS)
    )


@pytest.fixture(scope="session")
def regime_settings() -> RegimeSettings:
    """config/regime.yaml as the settings load it, untouched by the developer's shell."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("MARKET_MAKER_"):
                mp.delenv(name)
        return load_settings().regime
