"""Flows run for real, against Prefect's test harness (a temporary local server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.prefect_server import harness


@pytest.fixture(scope="session", autouse=True)
def prefect_server() -> Iterator[None]:
    with harness():
        yield
