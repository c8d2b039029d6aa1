"""What an interrupted run leaves in the working copy is committed by the next run, or set
aside, never lost: real flows, a real working copy and a bare remote."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from git import Repo

from cli.main import main
from flows.backfill import backfill
from market_maker.config import load_settings
from market_maker.context import RunContext
from market_maker.decisions.model import decision_relpath
from market_maker.snapshots import SnapshotReader
from market_maker.snapshots.paths import snapshot_relpath
from market_maker.store.git_store import GitDataStore
from tests.grid_files import grid_data

SYMBOL = "ETH-USDT"


def hour(day: int, h: int) -> datetime:
    return datetime(2023, 8, day, h, tzinfo=UTC)


@pytest.fixture
def repo(data_env: dict[str, str], prefect_api_url: str) -> Path:
    """A data repository with 2023-08-10 00:00..02:00 committed and pushed."""
    backfill(symbol=SYMBOL, start=hour(10, 0), end=hour(10, 2))
    return Path(data_env["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"])


def remote_files(data_env: dict[str, str]) -> set[str]:
    remote = Repo(data_env["MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL"])
    return {b.path for b in remote.commit("main").tree.traverse() if b.type == "blob"}


def interrupted_backfill(hours: list[datetime]) -> list[Path]:
    """Snapshots written as a backfill writes them, then no commit: a killed run."""
    from market_maker.pipeline.collection import collect_hours

    ctx = RunContext.open(load_settings())
    outcomes = collect_hours(ctx, SYMBOL, hours, collected_at=datetime(2023, 8, 25, tzinfo=UTC))
    return [o.path for o in outcomes if o.path is not None]


def clean(repo: Path) -> bool:
    return Repo(repo).git.status("--porcelain", "--untracked-files=all") == ""


def test_snapshots_a_killed_backfill_wrote_are_committed_and_pushed_by_the_rerun(
    repo: Path, data_env: dict[str, str]
) -> None:
    left = interrupted_backfill([hour(10, 3), hour(10, 4)])
    assert not clean(repo)

    result = backfill(symbol=SYMBOL, start=hour(10, 0), end=hour(10, 4))

    # They were valid, so the rerun did not write them again; it committed them.
    assert result.written == 0 and result.skipped == 5
    assert {p.relative_to(repo).as_posix() for p in left} <= remote_files(data_env)
    assert clean(repo)
    message = Repo(repo).head.commit.message
    assert "Also committed: 2 file(s) an interrupted run had written" in message


def test_a_stale_git_index_lock_does_not_stop_the_next_run(
    repo: Path, data_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    (repo / ".git" / "index.lock").write_text("")  # a git add killed half way

    result = backfill(symbol=SYMBOL, start=hour(10, 3), end=hour(10, 3))

    assert result.written == 1
    assert not (repo / ".git" / "index.lock").exists()
    assert snapshot_relpath(SYMBOL, hour(10, 3)).as_posix() in remote_files(data_env)
    assert "stale Git lock index.lock removed" in caplog.text


def test_an_invalid_leftover_is_quarantined_reported_and_never_committed(
    repo: Path, data_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    relative = snapshot_relpath(SYMBOL, hour(10, 3))
    (repo / relative).parent.mkdir(parents=True, exist_ok=True)
    (repo / relative).write_text('{"schema_version": "2.0", "symbol": "ETH-USDT", "hou')
    stray = repo / "metrics" / SYMBOL / "notes.txt"
    stray.parent.mkdir(parents=True)
    stray.write_text("not ours\n")

    backfill(symbol=SYMBOL, start=hour(10, 3), end=hour(10, 3))

    (damaged,) = (repo / "quarantine").glob(f"*/{relative.as_posix()}")
    assert damaged.read_text().endswith('"hou')
    assert list((repo / "quarantine").glob("*/metrics/ETH-USDT/notes.txt"))
    assert SnapshotReader(repo).is_valid(SYMBOL, hour(10, 3))  # collected afresh
    assert "metrics/ETH-USDT/notes.txt" not in remote_files(data_env)
    assert "quarantined snapshots/ETH-USDT/2023/08/10/03.json" in caplog.text
    assert clean(repo)  # quarantine/ is ignored by Git


def test_a_changed_decision_record_is_set_aside_and_the_committed_one_restored(
    tmp_path: Path, data_env: dict[str, str], prefect_api_url: str
) -> None:
    from flows.hourly_pipeline import hourly_pipeline

    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump(grid_data(symbol=SYMBOL)))
    assert main(["grid", "add", str(grid)]) == 0
    hourly_pipeline(symbols=[SYMBOL], hour=hour(17, 1))
    repo = Path(data_env["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"])
    record = repo / decision_relpath(SYMBOL, hour(17, 2))
    committed = record.read_bytes()
    record.write_bytes(committed + b"# changed by hand\n")  # still valid, but a record changed

    hourly_pipeline(symbols=[SYMBOL], hour=hour(17, 2))

    assert record.read_bytes() == committed
    (kept,) = (repo / "quarantine").glob("*/decisions/**/*.yaml")
    assert kept.read_bytes().endswith(b"# changed by hand\n")
    assert clean(repo)


def test_a_committed_file_deleted_from_the_working_copy_is_restored(repo: Path) -> None:
    relative = snapshot_relpath(SYMBOL, hour(10, 1))
    original = (repo / relative).read_bytes()
    (repo / relative).unlink()

    backfill(symbol=SYMBOL, start=hour(10, 3), end=hour(10, 3))

    assert (repo / relative).read_bytes() == original
    assert clean(repo)


def test_an_interrupted_rebase_and_temporary_files_are_cleared(
    repo: Path, data_env: dict[str, str]
) -> None:
    store = GitDataStore(repo)
    rebase = repo / ".git" / "rebase-merge"
    rebase.mkdir()
    (rebase / "head-name").write_text("refs/heads/main\n")
    tmp = repo / snapshot_relpath(SYMBOL, hour(10, 3))
    tmp = tmp.parent / f".{tmp.name}.x1y2z3.tmp"
    tmp.write_text("{")
    assert store.recover()

    backfill(symbol=SYMBOL, start=hour(10, 3), end=hour(10, 3))

    assert not rebase.exists() and not tmp.exists()
    assert clean(repo)
