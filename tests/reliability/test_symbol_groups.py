"""Symbol groups fanned out: two pipelines side by side, one remote.

On Kubernetes, when one pod is not enough for every symbol, each group of symbols runs its
own hourly-pipeline deployment in its own pod, with its own working copy and its own
concurrency limit (``data_repository.concurrency_limit``). Here two writer processes do
exactly that against one bare remote; both cycles land, the later push rebased on the
earlier (the groups write disjoint files).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from git import Repo

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

    history = list(Repo(remote).iter_commits("main"))
    subjects = [c.message.splitlines()[0] for c in history]
    assert sorted(s for s in subjects if s.startswith("hourly-pipeline")) == [
        f"hourly-pipeline: BTC-USDT {HOUR}",
        f"hourly-pipeline: ETH-USDT {HOUR}",
    ]
    assert all(len(c.parents) <= 1 for c in history)  # rebased, never merged
    tree = Repo(remote).commit("main").tree
    for symbol in ("ETH-USDT", "BTC-USDT"):
        assert tree / f"snapshots/{symbol}/2023/08/16/22.json"
        assert tree / f"metrics/{symbol}/2023-08-16-22.yaml"
