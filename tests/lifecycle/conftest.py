"""The sample recording analysed hour by hour as the live path does, once per session."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from market_maker.base.timeutil import from_seconds
from market_maker.config import load_settings
from market_maker.exchange.replay import load_recorded_minutes
from market_maker.regime.model import MetricsFile
from market_maker.regime.recording_analysis import analyze_series
from market_maker.snapshots.paths import snapshot_relpath
from tests.conftest import SAMPLE_FILE

START, END = datetime(2023, 8, 10, tzinfo=UTC), datetime(2023, 8, 31, 22, tzinfo=UTC)


@pytest.fixture(scope="session")
def august() -> list[MetricsFile]:
    """Every hour of 10-31 August 2023 of the recorded sample, as metrics files."""
    settings = load_settings()
    batch = analyze_series(
        "ETH-USDT", load_recorded_minutes(SAMPLE_FILE), START, END, settings.regime
    )
    out = []
    for i in range(len(batch.hours)):
        hour = from_seconds(int(batch.hours[i]))
        out.append(
            batch.record(
                i,
                snapshot_path=snapshot_relpath("ETH-USDT", hour).as_posix(),
                collected_at=None,
                config_version="test",
                code_version="test",
            )
        )
    return out


@pytest.fixture
def sample_path() -> Path:
    return SAMPLE_FILE
