"""Fixtures shared by every test: recorded data, an isolated configuration, data repositories."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from git import Repo

from market_maker.config import Settings, load_settings
from market_maker.exchange import ReplayExchange

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_FILE = PROJECT_ROOT / "data/sample/ETHUSDT-1m-2023-06-14_2023-08-31-binance-futures.csv.gz"
SHARED_DATA = Path(os.environ.get("MARKET_MAKER_SHARED_DATA", PROJECT_ROOT.parent / "shared/data"))
TWO_YEARS = SHARED_DATA / "ETHUSDT-1m-2022-2023-binance-futures.csv.gz"


# The command line reuses (or starts) a background Prefect server on port 4200 by default;
# tests run their commands against the harness or a temporary server of their own instead.
# Subprocesses inherit this; tests of the local server set it back.
os.environ["MARKET_MAKER_PREFECT_SERVER"] = "ephemeral"
# The shipped strategy recommends no grid (config/lifecycle.yaml, docs/strategy.md); the
# tests exercise the lifecycle an operator can switch on, so they run with the setup on.
# tests/lifecycle/test_shipped_strategy.py checks the shipped setting itself.
SETUP_SWITCH = "MARKET_MAKER_LIFECYCLE__SETUP__ENABLED"
os.environ[SETUP_SWITCH] = "true"
KEPT_VARIABLES = ("MARKET_MAKER_SHARED_DATA", "MARKET_MAKER_PREFECT_SERVER", SETUP_SWITCH)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MARKET_MAKER_* variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("MARKET_MAKER_") and name not in KEPT_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.setenv("MARKET_MAKER_PREFECT_SERVER", "ephemeral")
    monkeypatch.setenv(SETUP_SWITCH, "true")


@pytest.fixture
def sample_file() -> Path:
    return SAMPLE_FILE


@pytest.fixture(scope="session")
def two_years_file() -> Path:
    """The two-year recording beside the project (../shared/data)."""
    if not TWO_YEARS.exists():
        message = f"recorded data not found at {TWO_YEARS} (set MARKET_MAKER_SHARED_DATA)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: in CI a green run must mean these tests ran")
        pytest.skip(message)
    return TWO_YEARS


@pytest.fixture
def replay(sample_file: Path) -> ReplayExchange:
    return ReplayExchange(sample_file, "ETH-USDT")


@pytest.fixture
def bare_remote(tmp_path: Path) -> Path:
    path = tmp_path / "remote.git"
    Repo.init(path, bare=True, initial_branch="main")
    return path


@pytest.fixture
def data_env(
    tmp_path: Path, bare_remote: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Environment pointing the configuration at a fresh data repository and bare remote."""
    env = {
        "MARKET_MAKER_DATA_REPOSITORY__BASE_PATH": str(tmp_path / "data-repo"),
        "MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL": str(bare_remote),
        "MARKET_MAKER_DATA_REPOSITORY__LOCK_TIMEOUT_SECONDS": "30",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env


@pytest.fixture
def settings(data_env: dict[str, str]) -> Settings:
    return load_settings()
