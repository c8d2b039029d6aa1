"""Symbol groups fanned out: two pipelines side by side, one remote.

On Kubernetes, when one pod is not enough for every symbol, ``pipeline.group_size`` splits
the symbols into groups and the scheduled hourly-pipeline run starts one run of the
hourly-pipeline-group deployment per group, each in its own pod, with its own working copy
and its own concurrency limit (``data_repository.concurrency_limit``). Here two writer
processes do exactly what two groups' runs do against one bare remote; both cycles land, the
later push rebased on the earlier (the groups write disjoint files). The same, fanned out
from the configuration onto a local work pool and its worker, is in
tests/deployments/test_local_worker.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from git import Repo

from market_maker.base.errors import ConfigurationError
from market_maker.config import load_settings
from market_maker.pipeline.groups import group_settings, symbol_groups
from tests.reliability.writers import PROJECT_ROOT

HOUR = "2023-08-16T22:00:00Z"


def test_two_symbol_groups_run_side_by_side_and_both_cycles_land(
    writer_env: dict[str, str], tmp_path: Path
) -> None:
    remote = tmp_path / "remote.git"
    Repo.init(remote, bare=True, initial_branch="main")
    groups = {
        # The replay exchange serves its recording under the configured symbol's name.
        "a": {"MARKET_MAKER_SYMBOLS": '["ETH-USDT"]', "MARKET_MAKER_REPLAY__SYMBOL": "ETH-USDT"},
        "b": {"MARKET_MAKER_SYMBOLS": '["BTC-USDT"]', "MARKET_MAKER_REPLAY__SYMBOL": "BTC-USDT"},
    }
    processes = {}
    for name, env in groups.items():
        symbol = env["MARKET_MAKER_REPLAY__SYMBOL"]
        processes[name] = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "run-hourly", "--hour", HOUR, "--symbol", symbol],
            cwd=PROJECT_ROOT,
            env={
                **writer_env,
                **env,
                "MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL": str(remote),
                "MARKET_MAKER_DATA_REPOSITORY__BASE_PATH": str(tmp_path / f"repo-{name}"),
                "MARKET_MAKER_DATA_REPOSITORY__CONCURRENCY_LIMIT": f"data-repository-{name}",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    for name, process in processes.items():
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, f"group {name}: {err[-2000:]}"

    assert_both_cycles_landed(remote, HOUR)


def assert_both_cycles_landed(remote: Path, hour: str) -> None:
    """One commit per group, rebased on each other, and each group's files for the hour."""
    history = list(Repo(remote).iter_commits("main"))
    subjects = [c.message.splitlines()[0] for c in history]
    assert sorted(s for s in subjects if s.startswith("hourly-pipeline")) == [
        f"hourly-pipeline: BTC-USDT {hour}",
        f"hourly-pipeline: ETH-USDT {hour}",
    ]
    assert all(len(c.parents) <= 1 for c in history)  # rebased, never merged
    tree = Repo(remote).commit("main").tree
    day, at = hour[:10], hour[11:13]
    for symbol in ("ETH-USDT", "BTC-USDT"):
        assert tree / f"snapshots/{symbol}/{day.replace('-', '/')}/{at}.json"
        assert tree / f"metrics/{symbol}/{day}-{at}.yaml"


def test_groups_come_from_the_configuration_each_with_its_working_copy_and_limit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MARKET_MAKER_SYMBOLS", "ETH-USDT,BTC-USDT,SOL-USDT")
    monkeypatch.setenv("MARKET_MAKER_DATA_REPOSITORY__BASE_PATH", str(tmp_path / "repo"))
    assert symbol_groups(load_settings()) == {}  # by default every symbol in one run
    monkeypatch.setenv("MARKET_MAKER_PIPELINE__GROUP_SIZE", "2")
    settings = load_settings()
    assert symbol_groups(settings) == {
        "group-1": ["ETH-USDT", "BTC-USDT"],
        "group-2": ["SOL-USDT"],
    }
    group, symbols = group_settings(settings, "group-2")
    assert symbols == ["SOL-USDT"]
    assert group.data_repository.base_path == tmp_path / "repo-groups" / "group-2"
    assert group.data_repository.concurrency_limit == "data-repository-group-2"
    assert group.data_repository.remote_url == settings.data_repository.remote_url
    with pytest.raises(ConfigurationError, match="group group-3 is not configured"):
        group_settings(settings, "group-3")
