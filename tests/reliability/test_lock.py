"""A writer killed by SIGKILL blocks the next one for seconds, not for the lock timeout.

Real writer processes, a real data repository with a bare remote, and a real Prefect
server: the test harness (one server for every process), and the embedded default, where
each process runs Prefect's ephemeral server of its own over one database.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from git import Repo

from market_maker.store import GitDataStore
from tests.reliability.writers import kill_servers_of, run, zygote

LONG = ["backfill", "--symbol", "ETH-USDT", "--start", "2023-07-01T00:00Z"]
LONG += ["--end", "2023-08-20T00:00Z", "--chunk-hours", "744"]
SHORT = ["backfill", "--symbol", "ETH-USDT", "--start", "2023-08-21T00:00Z"]
SHORT += ["--end", "2023-08-21T02:00Z"]


def place(root: Path) -> dict[str, str]:
    if not (root / "remote.git").exists():
        Repo.init(root / "remote.git", bare=True, initial_branch="main")
    return {
        "MARKET_MAKER_DATA_REPOSITORY__BASE_PATH": str(root / "repo"),
        "MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL": str(root / "remote.git"),
    }


def holder_with_lease(repo: Path, timeout: float = 120) -> dict:
    """Wait until a writer holds the repository and its Prefect slot (its lease recorded)."""
    path = repo / ".git" / "market-maker" / "lock-holder.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            holder = json.loads(path.read_text())
        except (OSError, ValueError):
            holder = {}
        if holder.get("lease_id"):
            return holder
        time.sleep(0.05)
    raise AssertionError(f"no writer took the repository within {timeout} s")


def kill_inside_the_lock(env: dict[str, str], data: dict[str, str], repo: Path) -> dict:
    with zygote(env, repo.parent / "writers") as forks:
        victim = forks.start(LONG, data)
        holder = holder_with_lease(repo)
        victim.kill()
    assert holder["pid"] == victim.pid
    return holder


def test_a_killed_writer_blocks_the_next_one_for_seconds_on_a_prefect_server(
    writer_env: dict[str, str], tmp_path: Path
) -> None:
    data = place(tmp_path)
    dead = kill_inside_the_lock(writer_env, data, tmp_path / "repo")

    after = run(writer_env, SHORT, data)

    assert after.code == 0, after.err
    assert "which is no longer running: releasing it" in after.err
    assert "waiting for the data repository" not in after.err  # logged after a 1 s wait
    assert after.seconds < 120
    assert f"pid {dead['pid']}" in after.err
    # And the slot is free again: a third writer takes it at once, with nothing to release.
    third = run(writer_env, SHORT, data)
    assert third.code == 0 and "releasing it" not in third.err


def test_a_killed_writer_blocks_the_next_one_for_seconds_on_the_embedded_default(
    writer_env: dict[str, str], tmp_path: Path
) -> None:
    # No shared server: each process starts Prefect's ephemeral server over one database,
    # which keeps the slot's count; the dead writer's lease lived in its own server's memory.
    # (The command line's local server shares one server, the case above.)
    env = {k: v for k, v in writer_env.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    env["MARKET_MAKER_PREFECT_SERVER"] = "ephemeral"
    data = place(tmp_path)
    try:
        kill_inside_the_lock(env, data, tmp_path / "repo")
        after = run(env, SHORT, data)
    finally:
        # The killed writer's ephemeral server outlives it, as a pod's would not.
        kill_servers_of(tmp_path / "prefect-home")

    assert after.code == 0, after.err
    assert "which is no longer running: releasing it" in after.err
    assert "waiting for the data repository" not in after.err
    # The ephemeral server's start is part of the run's time.
    assert after.seconds < 120


def test_a_waiting_writer_says_who_holds_the_lock_and_gives_up_in_one_line(
    writer_env: dict[str, str], tmp_path: Path
) -> None:
    data = place(tmp_path)
    assert run(writer_env, SHORT, data).code == 0  # the working copy exists
    store = GitDataStore(tmp_path / "repo", remote_url=str(tmp_path / "remote.git"))
    env = {**writer_env, "MARKET_MAKER_DATA_REPOSITORY__LOCK_TIMEOUT_SECONDS": "3"}

    with store.locked("operator's long task"):
        blocked = run(env, SHORT, data)

    assert blocked.code == 1
    assert f"held by operator's long task (pid {os.getpid()} on" in blocked.err
    last = blocked.err.strip().splitlines()[-1]
    assert last.startswith("market-maker backfill: data repository")
    assert "is locked by operator's long task" in last and "gave up after 3 s" in last
    assert "Traceback" not in blocked.err
