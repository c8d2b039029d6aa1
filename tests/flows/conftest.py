"""Flows run for real, against Prefect's test harness (a temporary local server)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from git import Repo

from cli.main import main
from flows.hourly_pipeline import hourly_pipeline
from tests.alerts.pushover_server import TOKEN, USER_KEY, FakePushover
from tests.grid_files import grid_data
from tests.prefect_server import harness


@pytest.fixture(scope="session", autouse=True)
def prefect_server() -> Iterator[None]:
    with harness():
        yield


@pytest.fixture
def alerts() -> Iterator[FakePushover]:
    """A Pushover stand-in on 127.0.0.1 for the test."""
    with FakePushover() as server:
        yield server


def repo_with_grid(
    tmp_path: Path,
    alerts: FakePushover,
    monkeypatch: pytest.MonkeyPatch,
    *,
    symbol: str = "ETH-USDT",
    webhook: bool = False,
    history: tuple[datetime, datetime] | None = None,
) -> Path:
    """A fresh data repository and bare remote, alerts going to ``alerts`` (one attempt), the
    test grid added with the real command, then the hourly pipeline replayed over
    ``history`` (its alerts cleared); returns the working copy's path."""
    Repo.init(tmp_path / "remote.git", bare=True, initial_branch="main")
    env = {
        "MARKET_MAKER_DATA_REPOSITORY__BASE_PATH": str(tmp_path / "repo"),
        "MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL": str(tmp_path / "remote.git"),
        "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__API_URL": alerts.messages_url,
        "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__TOKEN": TOKEN,
        "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__USER_KEY": USER_KEY,
        "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__ATTEMPTS": "1",
        # A failed delivery fails the notify step at once (its retries have their own test).
        "MARKET_MAKER_NOTIFICATIONS__STEP_RETRIES": "0",
    }
    if webhook:
        env["MARKET_MAKER_NOTIFICATIONS__WEBHOOK_URL"] = alerts.webhook_url
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump(grid_data(symbol=symbol)))
    assert main(["grid", "add", str(grid)]) == 0
    if history is not None:
        hourly_pipeline(symbols=[symbol], start=history[0], end=history[1])
        alerts.clear()
    return tmp_path / "repo"
