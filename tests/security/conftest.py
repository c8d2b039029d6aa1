"""The leak test's CLI subprocesses share one Prefect server: the test harness, once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.prefect_server import harness


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """The Prefect test harness: a server of its own (SQLite database in a temporary
    directory), its URL in ``PREFECT_API_URL`` for the CLI subprocesses."""
    with harness():
        yield
