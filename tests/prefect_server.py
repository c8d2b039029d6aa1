"""Prefect's test harness as the suites use it: a temporary local server with its own SQLite
database, heartbeats and telemetry off, its URL in PREFECT_API_URL for subprocesses too."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_SERVER_ANALYTICS_ENABLED,
    temporary_settings,
)
from prefect.testing.utilities import prefect_test_harness


@contextmanager
def harness() -> Iterator[str]:
    # Heartbeats cost about a second per synchronous flow run; tests do not need them. No
    # telemetry either: offline, it only fails (and holds the database while it does).
    updates = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None, PREFECT_SERVER_ANALYTICS_ENABLED: False}
    with temporary_settings(updates=updates), prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())
