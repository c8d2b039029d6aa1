"""The embedded default's remote is a local bare repository the first run creates; a remote
the operator configured is never created, and one that cannot be reached on the first clone
stops the run with nothing written."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from git import Repo

from market_maker.base.errors import StoreError
from market_maker.config import load_settings
from market_maker.store import GitDataStore
from tests.conftest import PROJECT_ROOT


@pytest.fixture
def fresh_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project root with the shipped configuration and nothing under var/ yet."""
    shutil.copytree(PROJECT_ROOT / "config", tmp_path / "config")
    monkeypatch.setenv("MARKET_MAKER_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path


def test_a_first_run_of_a_fresh_checkout_creates_the_bare_remote_and_warns_of_nothing(
    fresh_checkout: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="market_maker.store"):
        store = GitDataStore.from_settings(load_settings())

    remote = fresh_checkout / "var" / "data-remote.git"
    assert Repo(remote).bare
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert f"creating the local bare remote {remote}" in caplog.text
    # The working copy pushes to it.
    (store.path / "a.txt").write_text("a\n")
    store.commit("a file\n", [store.path / "a.txt"])
    assert store.push().pushed
    assert Repo(remote).commit("main").message == "a file\n"


def test_a_configured_remote_that_does_not_exist_is_refused_not_created(
    fresh_checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = fresh_checkout / "elsewhere" / "remote.git"
    monkeypatch.setenv("MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL", str(configured))
    with pytest.raises(StoreError, match=f"remote {configured} cannot be reached"):
        GitDataStore.from_settings(load_settings())

    assert not configured.exists()
    assert not (fresh_checkout / "var").exists()  # no working copy, no remote: nothing
