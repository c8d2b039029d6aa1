"""Operator commands are all or nothing: a failed command leaves the working copy exactly as
it was, and a successful one commits every file it wrote. Real CLI, real repositories."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from git import Repo

from cli.main import main
from market_maker.decisions.model import decision_id_relpath
from market_maker.decisions.store import DecisionStore
from tests.decisions.test_decision_store import decision as a_decision
from tests.grid_files import grid_data

UNKNOWN = "dec-ETH-USDT-20230817-020000"


def state(repo: Path) -> tuple[str, str, dict[str, bytes]]:
    """HEAD, the status, and every file of the working copy (Git's own files aside)."""
    files = {
        str(p.relative_to(repo)): p.read_bytes()
        for p in repo.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }
    git = Repo(repo).git
    return git.rev_parse("HEAD"), git.status("--porcelain", "--untracked-files=all"), files


@pytest.fixture
def repo(data_env: dict[str, str], tmp_path: Path) -> Path:
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump(grid_data()))
    assert main(["grid", "add", str(grid)]) == 0
    return Path(data_env["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"])


def test_disabling_a_grid_for_an_unknown_decision_changes_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = state(repo)

    code = main(["grid", "disable", "--id", "eth-grid-1", "--decision", UNKNOWN])

    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("market-maker grid: no decision dec-ETH-USDT-20230817-020000")
    assert len(err.splitlines()) == 1
    assert state(repo) == before
    # The grid still runs: the next hourly run evaluates (and alerts) it as before.
    assert main(["grid", "list"]) == 0
    assert "running" in capsys.readouterr().out


def test_a_command_failing_after_it_wrote_rolls_every_file_back(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The grid file and the decision's action entry are written, then the commit fails
    # (a hook refuses it): both files must go.
    DecisionStore(repo).write(a_decision(datetime(2023, 8, 17, 1, tzinfo=UTC)))
    record = repo / decision_id_relpath(UNKNOWN)
    Repo(repo).git.add(record.relative_to(repo).as_posix())
    Repo(repo).git.commit("-m", "a decision committed by hand")
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'refused by policy' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = state(repo)

    code = main(["grid", "disable", "--id", "eth-grid-1", "--decision", UNKNOWN])

    assert code == 1
    assert "refused by policy" in capsys.readouterr().err
    assert state(repo) == before


def test_a_successful_command_commits_every_file_it_wrote(
    repo: Path, data_env: dict[str, str]
) -> None:
    assert main(["grid", "disable", "--id", "eth-grid-1", "--at", "2023-08-18T00:00Z"]) == 0

    head, status, _ = state(repo)
    assert status == ""
    remote = Repo(data_env["MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL"])
    assert remote.git.rev_parse("main") == head
    assert "disabled" in (repo / "grids" / "eth-grid-1.yaml").read_text()


def test_a_grid_for_a_symbol_that_is_not_configured_is_refused(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = state(repo)
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(grid_data(id="xrp-grid", symbol="XRP-USDT")))

    assert main(["grid", "add", str(other)]) == 2
    assert "XRP-USDT is not configured" in capsys.readouterr().err
    assert state(repo) == before
