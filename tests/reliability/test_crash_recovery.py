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
import time
from pathlib import Path

import pytest
from git import Repo

from tests.grid_files import grid_data
from tests.reliability.writers import (
    Writer,
    grid_file,
    remote_tree,
    run,
    slots_taken,
    zygote,
)

SEED = 20261130
TRIALS = 10  # writers killed per command: 20 kills in all
ATTEMPTS = 25  # a writer that ends before its moment is no kill: the window then narrows

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


def data_files(repo: Path) -> int:
    return sum(
        1 for folder in ("snapshots", "metrics", "decisions") for _ in repo.glob(f"{folder}/**/*.*")
    )


def killed_after_files(victim: Writer, repo: Path, count: int) -> bool:
    """Kill the writer the moment its ``count``-th data file appears (a moment between a
    write and its commit); False when it ended first."""
    while victim.alive():
        if data_files(repo) >= count:
            victim.kill()
            return True
        time.sleep(0.002)
    return False


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
    rng = random.Random(f"{SEED}-{command}")
    interrupted = recovered = 0
    with zygote(writer_env, tmp_path / "writers") as forks:
        copy_state(base, work)
        done = forks.start(argv, place(work)).wait()
        assert done.code == 0, done.err
        expected = remote_tree(work / "remote.git")
        assert len(expected) >= 10
        files = data_files(work / "repo")
        shutil.rmtree(work)

        window = done.seconds
        for trial in range(ATTEMPTS):
            if interrupted == TRIALS:
                break
            state = copy_state(base, work)
            victim = forks.start(argv, place(state))
            # Every other trial at a random time, the others at a random file written.
            if trial % 2:
                when = f"its file {rng.randint(1, files)} of {files}"
                interrupted += killed_after_files(victim, state / "repo", int(when.split()[2]))
            else:
                victim_wait = rng.uniform(0.0, window)
                when = f"{victim_wait:.2f} s"
                if victim.finished_within(victim_wait):
                    window *= 0.8  # runs vary (the test server's retries): aim earlier
                else:
                    victim.kill()
                    interrupted += 1
            again = forks.start(argv, place(state)).wait()

            what = f"trial {trial}, killed at {when}"
            assert slots_taken() == 0, f"{what}: the rerun left the Prefect slot taken"
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
            # The killed writer did not block the rerun: it never waited for the repository
            # (a wait of a second is logged). Its wall time also carries the test server's
            # own stalls (SQLite retries), so only a loose bound is put on that.
            assert "waiting for the data repository" not in again.err, what
            assert again.seconds < 120, f"{what}: the rerun took {again.seconds:.0f} s"
            shutil.rmtree(work)

    assert interrupted == TRIALS, f"only {interrupted} writers of {ATTEMPTS} were killed running"
    print(f"{command}: {interrupted} interrupted, {recovered} reruns committed leftovers")
