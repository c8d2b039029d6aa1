"""kill -9 at random moments: one rerun leaves the remote as an uninterrupted run would.

Writers are real ``market-maker`` processes against a real Prefect server (the test
harness), a real working copy and a real bare remote. Each trial starts from the same
state, kills the writer at a seeded random moment of its run, reruns the same command
once, and compares the remote's files with those of an uninterrupted run (wall-clock
moments such as ``collected_at`` blanked): nothing written before the kill may be lost,
left uncommitted, or committed twice; the working copy is clean and ``git fsck`` passes.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest
from git import Repo

from tests.grid_files import grid_data
from tests.reliability.writers import grid_file, remote_tree, run, writers

SEED = 20261130
TRIALS = 10  # per command: 20 kills in all

# Three chunks: three lock cycles, commits and pushes.
BACKFILL = ["backfill", "--symbol", "ETH-USDT", "--start", "2023-08-10T00:00Z"]
BACKFILL += ["--end", "2023-08-10T08:00Z", "--chunk-hours", "3"]
# Across midnight (one commit per day) into the break of 2023-08-17 (alerts, decisions).
RUN_HOURLY = ["run-hourly", "--symbol", "ETH-USDT", "--start", "2023-08-16T22:00Z"]
RUN_HOURLY += ["--end", "2023-08-17T02:00Z"]


def place(root: Path) -> dict[str, str]:
    return {
        "MARKET_MAKER_DATA_REPOSITORY__BASE_PATH": str(root / "repo"),
        "MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL": str(root / "remote.git"),
    }


def empty_state(root: Path) -> Path:
    root.mkdir(parents=True)
    Repo.init(root / "remote.git", bare=True, initial_branch="main")
    return root


def copy_state(base: Path, to: Path) -> Path:
    shutil.copytree(base, to, symlinks=True)
    return to


def fsck(path: Path) -> None:
    result = subprocess.run(["git", "fsck", "--no-progress"], cwd=path, capture_output=True)
    assert result.returncode == 0, result.stderr.decode()


@pytest.mark.parametrize("command", ["backfill", "run-hourly"])
def test_a_writer_killed_at_any_moment_loses_nothing_after_one_rerun(
    command: str, writer_env: dict[str, str], tmp_path: Path
) -> None:
    argv = BACKFILL if command == "backfill" else RUN_HOURLY
    base = empty_state(tmp_path / "base")
    if command == "run-hourly":
        grid = grid_file(tmp_path / "grid.yaml", grid_data(id="crash-grid"))
        assert run(writer_env, ["grid", "add", str(grid)], place(base)).code == 0

    # Every run works in the same place: the paths are part of the configuration, whose
    # version every file records.
    work = tmp_path / "work"
    copy_state(base, work)
    done = run(writer_env, argv, place(work))
    assert done.code == 0, done.err
    expected = remote_tree(work / "remote.git")
    assert len(expected) >= 10
    shutil.rmtree(work)

    rng = random.Random(f"{SEED}-{command}")
    interrupted = recovered = 0
    with writers(writer_env) as take:
        for trial in range(TRIALS):
            state = copy_state(base, work)
            victim = take()
            victim.start(argv, place(state))
            victim_wait = rng.uniform(0.0, done.seconds)
            try:
                victim.process.wait(timeout=victim_wait)
            except subprocess.TimeoutExpired:
                victim.kill()
                interrupted += 1
            rerun = take()
            rerun.start(argv, place(state))
            again = rerun.wait()

            what = f"trial {trial}, killed after {victim_wait:.2f} s"
            assert again.code == 0, f"{what}: {again.err[-3000:]}"
            recovered += "committed with this run" in again.err
            tree = remote_tree(state / "remote.git")
            differ = sorted(
                p for p in tree.keys() | expected.keys() if tree.get(p) != expected.get(p)
            )
            assert not differ, f"{what}: the remote differs in {differ}: {again.err[-3000:]}"
            working = Repo(state / "repo")
            assert working.git.status("--porcelain", "--untracked-files=all") == ""
            assert not (state / "repo" / "quarantine").exists()
            assert working.git.rev_parse("HEAD") == Repo(state / "remote.git").git.rev_parse("main")
            fsck(state / "repo")
            fsck(state / "remote.git")
            # A killed writer blocked the rerun for seconds, not for the lock timeout.
            assert again.seconds < 60, f"trial {trial}: the rerun took {again.seconds:.0f} s"
            shutil.rmtree(work)

    assert interrupted >= TRIALS // 2, f"only {interrupted} of {TRIALS} writers were interrupted"
    print(f"{command}: {interrupted} interrupted, {recovered} reruns committed leftovers")
