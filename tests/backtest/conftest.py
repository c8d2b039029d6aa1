"""Fixtures of the backtest tests: the recorded sample as minutes, settings from config/."""

from __future__ import annotations

import pytest

from market_maker.base.candles import CandleSeries
from market_maker.config import Settings, load_settings
from market_maker.exchange.replay import load_recorded_minutes
from tests.conftest import SAMPLE_FILE


@pytest.fixture(scope="session")
def sample_minutes() -> CandleSeries:
    return load_recorded_minutes(SAMPLE_FILE)


@pytest.fixture(scope="session")
def default_settings() -> Settings:
    return load_settings()
