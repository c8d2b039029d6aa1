"""The leak test's CLI subprocesses share one Prefect server: the test harness, once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.settings import (
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_SERVER_ANALYTICS_ENABLED,
    temporary_settings,
)
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """The Prefect test harness: a server of its own (SQLite database in a temporary
    directory), its URL in ``PREFECT_API_URL`` for the CLI subprocesses."""
    # Heartbeats cost about a second per synchronous flow run; tests do not need them. No
    # telemetry either: offline, it only fails (and holds the database while it does).
    updates = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None, PREFECT_SERVER_ANALYTICS_ENABLED: False}
    with (
        temporary_settings(updates=updates),
        prefect_test_harness(server_startup_timeout=120),
    ):
        yield
