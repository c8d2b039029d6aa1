"""The two-year recording and the configuration in force, loaded once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from market_maker.base.candles import CandleSeries
from market_maker.config import Settings, load_settings
from market_maker.exchange.replay import load_recorded_minutes


@pytest.fixture(scope="session")
def clean_settings() -> Settings:
    """config/ as shipped, untouched by the developer's shell."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("MARKET_MAKER_"):
                mp.delenv(name)
        return load_settings()


@pytest.fixture(scope="session")
def minutes_2022_2023(two_years_file: Path) -> CandleSeries:
    return load_recorded_minutes(two_years_file)
