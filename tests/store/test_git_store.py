"""GitDataStore against real working copies and a local bare remote (``git init --bare``)."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from git import Repo

from market_maker.base.errors import StoreError
from market_maker.store import GitDataStore, PushResult


def open_store(path: Path, remote: Path | None, **kwargs: float) -> GitDataStore:
    return GitDataStore(path, remote_url=None if remote is None else str(remote), **kwargs)


def write(store: GitDataStore, name: str, text: str) -> Path:
    path = store.path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def remote_head(bare: Path, branch: str = "main") -> str:
    return Repo(bare).git.rev_parse(f"refs/heads/{branch}")


def remote_messages(bare: Path) -> list[str]:
    """Subjects of the remote's main branch, oldest first."""
    return Repo(bare).git.log("--reverse", "--format=%s", "main").splitlines()


def is_ancestor(bare: Path, ancestor: str, descendant: str) -> bool:
    repo = Repo(bare)
    return repo.is_ancestor(ancestor, descendant)


@pytest.fixture
def store(tmp_path: Path, bare_remote: Path) -> GitDataStore:
    return open_store(tmp_path / "data-repo", bare_remote)


@pytest.fixture
def seeded(store: GitDataStore, bare_remote: Path) -> GitDataStore:
    """A store whose first commit is already on the remote."""
    store.commit("seed", [write(store, "seed.txt", "seed\n")])
    assert store.push().pushed
    return store


# -- opening, committing, pushing ---------------------------------------------


def test_opening_an_empty_path_against_an_empty_remote_gives_a_working_copy_on_main(
    store: GitDataStore, bare_remote: Path
) -> None:
    assert (store.path / ".git").is_dir()
    assert store.head() is None
    assert store.repo.git.symbolic_ref("HEAD") == "refs/heads/main"
    assert store.repo.remotes.origin.url == str(bare_remote)


def test_a_commit_is_pushed_to_the_bare_remote(store: GitDataStore, bare_remote: Path) -> None:
    sha = store.commit("first snapshot", [write(store, "snapshots/a.json", "{}\n")])

    result = store.push()

    assert sha is not None
    assert result == PushResult(True, f"pushed main to {bare_remote}")
    assert remote_head(bare_remote) == sha
    assert store.unpushed_count() == 0


def test_opening_an_empty_path_clones_a_remote_that_has_history(
    seeded: GitDataStore, tmp_path: Path, bare_remote: Path
) -> None:
    clone = open_store(tmp_path / "second", bare_remote)

    assert clone.head() == seeded.head()
    assert (clone.path / "seed.txt").read_text() == "seed\n"


def test_reopening_an_existing_working_copy_keeps_its_history(
    seeded: GitDataStore, bare_remote: Path
) -> None:
    again = open_store(seeded.path, bare_remote)

    assert again.head() == seeded.head()


def test_commit_returns_none_when_nothing_changed(store: GitDataStore) -> None:
    path = write(store, "snapshots/a.json", "{}\n")
    first = store.commit("write a", [path])

    rerun = store.commit("write a again", [path])

    assert first is not None
    assert rerun is None
    assert store.head() == first
    assert store.commit("nothing", []) is None


def test_commit_includes_only_the_given_paths(store: GitDataStore) -> None:
    wanted = write(store, "snapshots/a.json", "{}\n")
    write(store, "notes.txt", "operator scribbles\n")

    store.commit("only a", [wanted])

    committed = store.repo.git.ls_tree("-r", "--name-only", "HEAD").splitlines()
    assert committed == ["snapshots/a.json"]
    assert store.repo.untracked_files == ["notes.txt"]


def test_commit_leaves_other_staged_changes_out(seeded: GitDataStore) -> None:
    other = write(seeded, "other.txt", "staged by someone else\n")
    seeded.repo.git.add(str(other))
    wanted = write(seeded, "snapshots/a.json", "{}\n")

    seeded.commit("only a", [wanted])

    changed = seeded.repo.git.show("--name-only", "--format=", "HEAD").splitlines()
    assert changed == ["snapshots/a.json"]


def test_the_commit_message_is_recorded_as_given(store: GitDataStore, bare_remote: Path) -> None:
    message = "collect ETH-USDT 2023-07-10T05:00:00Z\n\nwritten: 1\nflow run: brave-otter"
    store.commit(message, [write(store, "a.txt", "a\n")])
    store.push()

    assert store.repo.git.log("-1", "--format=%B").strip() == message
    assert Repo(bare_remote).git.log("-1", "--format=%B", "main").strip() == message
    assert store.repo.head.commit.author.name == "market-maker"


def test_push_without_a_remote_keeps_the_commit_local(tmp_path: Path) -> None:
    local = open_store(tmp_path / "local", None)
    local.commit("a", [write(local, "a.txt", "a\n")])

    assert local.push() == PushResult(False, "no remote configured")
    assert local.sync() is False
    assert local.head() is not None


# -- a remote that moved on -----------------------------------------------------


def test_a_rejected_push_is_rebased_and_pushed_without_rewriting_the_remote(
    seeded: GitDataStore, tmp_path: Path, bare_remote: Path
) -> None:
    other = open_store(tmp_path / "other", bare_remote)
    theirs = other.commit("their commit", [write(other, "theirs.txt", "theirs\n")])
    assert other.push().pushed
    ours = seeded.commit("our commit", [write(seeded, "ours.txt", "ours\n")])

    result = seeded.push()

    assert result.pushed
    assert remote_messages(bare_remote) == ["seed", "their commit", "our commit"]
    assert theirs is not None and ours is not None
    assert is_ancestor(bare_remote, theirs, "main")
    assert remote_head(bare_remote) == seeded.head() != ours  # rebased: a new commit
    assert (seeded.path / "theirs.txt").read_text() == "theirs\n"
    assert seeded.unpushed_count() == 0


def test_sync_rebases_local_unpushed_commits_onto_a_remote_that_moved_on(
    seeded: GitDataStore, tmp_path: Path, bare_remote: Path
) -> None:
    other = open_store(tmp_path / "other", bare_remote)
    theirs = other.commit("their commit", [write(other, "theirs.txt", "theirs\n")])
    other.push()
    seeded.commit("our unpushed commit", [write(seeded, "ours.txt", "ours\n")])

    assert seeded.sync() is True

    log = seeded.repo.git.log("--reverse", "--format=%s").splitlines()
    assert log == ["seed", "their commit", "our unpushed commit"]
    assert theirs is not None and seeded.repo.is_ancestor(theirs, "HEAD")
    assert seeded.unpushed_count() == 1
    assert seeded.push().pushed
    assert remote_head(bare_remote) == seeded.head()


def test_local_commits_that_conflict_with_the_remote_stop_the_run_and_lose_nothing(
    seeded: GitDataStore, tmp_path: Path, bare_remote: Path
) -> None:
    other = open_store(tmp_path / "other", bare_remote)
    other.commit("their version", [write(other, "same.txt", "theirs\n")])
    other.push()
    ours = seeded.commit("our version", [write(seeded, "same.txt", "ours\n")])

    with pytest.raises(StoreError, match="conflict with origin/main; resolve by hand"):
        seeded.sync()

    assert seeded.head() == ours  # the rebase was aborted: our commit stands
    assert (seeded.path / "same.txt").read_text() == "ours\n"
    assert not (Path(seeded.repo.git_dir) / "rebase-merge").exists()


def test_sync_fast_forwards_a_clean_working_copy(
    seeded: GitDataStore, tmp_path: Path, bare_remote: Path
) -> None:
    other = open_store(tmp_path / "other", bare_remote)
    other.commit("their commit", [write(other, "theirs.txt", "theirs\n")])
    other.push()

    assert seeded.sync() is True

    assert seeded.head() == other.head()


# -- an unreachable remote -------------------------------------------------------


def test_an_unreachable_remote_keeps_the_commit_until_the_next_push(
    seeded: GitDataStore, bare_remote: Path, caplog: pytest.LogCaptureFixture
) -> None:
    away = bare_remote.with_name("remote-away.git")
    bare_remote.rename(away)
    sha = seeded.commit("while offline", [write(seeded, "offline.txt", "x\n")])

    with caplog.at_level(logging.WARNING, logger="market_maker.store.git_store"):
        result = seeded.push()
        synced = seeded.sync()

    assert result.pushed is False
    assert "unreachable" in result.detail
    assert synced is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("stay local" in r.getMessage() for r in warnings)
    assert seeded.head() == sha
    assert seeded.unpushed_count() == 1

    away.rename(bare_remote)

    assert seeded.sync() is True
    assert seeded.push().pushed
    assert remote_head(bare_remote) == sha
    assert seeded.unpushed_count() == 0


def test_a_first_clone_from_an_unreachable_remote_fails_in_one_line_and_writes_nothing(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "not-yet.git"
    with pytest.raises(StoreError) as failed:
        open_store(tmp_path / "data-repo", missing)

    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith(f"the data repository's remote {missing} cannot be reached")
    assert "no working copy" in message and "data_repository.remote_url" in message
    assert not (tmp_path / "data-repo").exists() and not missing.exists()

    # Reachable and empty: an empty repository is where the data starts.
    Repo.init(missing, bare=True, initial_branch="main")
    store = open_store(tmp_path / "data-repo", missing)
    sha = store.commit("first", [write(store, "a.txt", "a\n")])
    assert store.push().pushed
    assert remote_head(missing) == sha


# -- locking --------------------------------------------------------------------


def _locked_writer(path: str, remote: str, name: str, rounds: int, start: Any) -> None:
    """One run's write cycle, repeated: lock, write, commit (module level: picklable)."""
    store = GitDataStore(Path(path), remote_url=remote, lock_timeout=60)
    start.wait()  # every writer is ready: they contend for the lock from here on
    for i in range(rounds):
        with store.locked():
            target = store.path / "runs" / f"{name}-{i}.txt"
            target.parent.mkdir(exist_ok=True)
            target.write_text(f"{name} round {i}\n")
            assert store.commit(f"{name} round {i}", [target]) is not None


def assert_intact(store: GitDataStore, expected_commits: int) -> None:
    fsck = store.repo.git.fsck("--full", "--strict")
    assert "error" not in fsck.lower()
    assert int(store.repo.git.rev_list("--count", "HEAD")) == expected_commits
    assert store.repo.git.status("--porcelain") == ""


def test_writers_in_two_processes_never_corrupt_the_working_copy(seeded: GitDataStore) -> None:
    rounds = 8
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(2)
    workers = [
        spawn.Process(
            target=_locked_writer,
            args=(str(seeded.path), seeded.remote_url, name, rounds, start),
        )
        for name in ("alpha", "beta")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)

    assert [w.exitcode for w in workers] == [0, 0]
    assert_intact(seeded, 1 + 2 * rounds)
    subjects = set(seeded.repo.git.log("--format=%s").splitlines())
    assert {f"{n} round {i}" for n in ("alpha", "beta") for i in range(rounds)} <= subjects


def test_writers_in_two_threads_never_corrupt_the_working_copy(seeded: GitDataStore) -> None:
    rounds = 8
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            _locked_writer(str(seeded.path), str(seeded.remote_url), name, rounds, start)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("gamma", "delta")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert_intact(seeded, 1 + 2 * rounds)


def test_runs_opening_the_same_working_copy_at_once_do_not_trip_over_its_config(
    seeded: GitDataStore,
) -> None:
    # Opening happens before the lock is taken; it must not rewrite .git/config each time.
    starters = 8
    barrier = threading.Barrier(starters)
    errors: list[BaseException] = []

    def open_at_once() -> None:
        barrier.wait()
        try:
            GitDataStore(seeded.path, remote_url=seeded.remote_url)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=open_at_once) for _ in range(starters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []


def test_a_lock_held_longer_than_the_timeout_raises_naming_the_repository(
    store: GitDataStore, bare_remote: Path
) -> None:
    impatient = open_store(store.path, bare_remote, lock_timeout=0.3)

    with store.locked():
        started = time.monotonic()
        with (
            pytest.raises(
                StoreError, match=r"is locked by \(pid \d+ on .*\) since .*gave up"
            ) as caught,
            impatient.locked(),
        ):
            pytest.fail("the lock was granted twice")
        waited = time.monotonic() - started

    assert str(store.path) in str(caught.value)
    assert "\n" not in str(caught.value)
    assert 0.3 <= waited < 5
    with impatient.locked():  # released: granted at once
        pass
