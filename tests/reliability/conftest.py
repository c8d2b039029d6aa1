"""A Prefect server shared by the writer processes of these tests (the test harness)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.prefect_server import harness


@pytest.fixture(scope="session")
def prefect_api_url() -> Iterator[str]:
    with harness() as url:
        yield url


@pytest.fixture
def writer_env(prefect_api_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a writer process: the shared server, no setting of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MARKET_MAKER_", "PREFECT_"))}
    env.update(
        PREFECT_API_URL=prefect_api_url,
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        MARKET_MAKER_DATA_REPOSITORY__LOCK_TIMEOUT_SECONDS="120",
        # Run logs stay on the console: shipping them to the server costs each writer seconds.
        PREFECT_LOGGING_TO_API_ENABLED="false",
    )
    return env
