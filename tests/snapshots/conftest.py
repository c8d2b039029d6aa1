"""Real snapshots built once per session from the recorded sample through the replay exchange."""

from __future__ import annotations

from datetime import datetime

import pytest

from market_maker.base.timeutil import HOUR
from market_maker.exchange.replay import ReplayExchange
from market_maker.snapshots import Snapshot
from tests.conftest import SAMPLE_FILE
from tests.snapshots.helpers import FIRST_HOUR, LAST_HOUR, SYMBOL, build_hours


@pytest.fixture(scope="session")
def built() -> dict[datetime, Snapshot]:
    """Hours 2023-07-10 00:00..05:00, collected just after 06:00."""
    exchange = ReplayExchange(SAMPLE_FILE, SYMBOL, now=LAST_HOUR + HOUR)
    return build_hours(exchange, FIRST_HOUR, LAST_HOUR)


@pytest.fixture
def snapshot(built: dict[datetime, Snapshot]) -> Snapshot:
    """The last hour built: 2023-07-10T05:00Z."""
    return built[LAST_HOUR]
