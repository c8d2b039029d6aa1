"""A Prefect server for registering the deployments: the test harness, once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.prefect_server import harness


@pytest.fixture(scope="session")
def prefect_api_url() -> Iterator[str]:
    """The API URL of a temporary local server (its own database), for CLI subprocesses too."""
    with harness() as url:
        yield url
