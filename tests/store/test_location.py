"""Where the data repository's working copy may live: never empty, never the project's checkout
or inside it, never inside another Git repository; refused in one line before anything is
written, by the command line's checks and by the store itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from git import Repo

from market_maker.base.errors import ConfigurationError
from market_maker.config import load_settings
from market_maker.store import GitDataStore
from market_maker.store.location import check_base_path
from tests.conftest import PROJECT_ROOT

SETTING = "MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"


def cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """``market-maker`` as the operator runs it, in a process of its own."""
    own = {k: v for k, v in os.environ.items() if not k.startswith("MARKET_MAKER_")}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *argv],
        cwd=PROJECT_ROOT,
        env={**own, "MARKET_MAKER_PREFECT_SERVER": "ephemeral", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def other_repository(path: Path) -> Path:
    """A Git repository of something else: a README committed."""
    repo = Repo.init(path, initial_branch="main")
    (path / "README").write_text("not data\n")
    repo.index.add(["README"])
    repo.index.commit("readme")
    return path


@pytest.fixture
def remote_env(tmp_path: Path) -> dict[str, str]:
    Repo.init(tmp_path / "remote.git", bare=True, initial_branch="main")
    return {"MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL": str(tmp_path / "remote.git")}


def test_an_empty_base_path_is_refused_in_one_line_naming_the_setting(
    remote_env: dict[str, str], tmp_path: Path
) -> None:
    ran = cli({**remote_env, SETTING: ""}, "collect", "--symbol", "ETH-USDT")

    assert ran.returncode == 2
    (line,) = ran.stderr.strip().splitlines()
    assert line.startswith("market-maker collect: invalid configuration: data_repository.base_path")
    assert "is empty" in line and SETTING in line
    assert "Value error" not in line and "Traceback" not in line


@pytest.mark.parametrize(
    ("where", "why"),
    [
        (".", "is the project's own checkout"),
        ("data/market-data", "is inside the project's own checkout"),
    ],
)
def test_a_base_path_in_the_project_checkout_is_refused_before_anything_is_written(
    remote_env: dict[str, str], where: str, why: str
) -> None:
    target = (PROJECT_ROOT / where).resolve()
    existed = target.exists()
    before = Repo(PROJECT_ROOT).git.status("--porcelain", "--untracked-files=all")

    for argv in (["validate", "--symbol", "ETH-USDT"], ["grid", "list"]):
        ran = cli({**remote_env, SETTING: where}, *argv)
        assert ran.returncode == 2, ran.stderr
        (line,) = ran.stderr.strip().splitlines()
        assert line.startswith(f"market-maker {argv[0]}: data_repository.base_path {target} {why}")
        assert SETTING in line

    assert target.exists() == existed
    assert Repo(PROJECT_ROOT).git.status("--porcelain", "--untracked-files=all") == before


def test_a_base_path_in_another_repository_is_refused(
    remote_env: dict[str, str], tmp_path: Path
) -> None:
    other = other_repository(tmp_path / "other")

    itself = cli({**remote_env, SETTING: str(other)}, "validate", "--symbol", "ETH-USDT")
    inside = cli({**remote_env, SETTING: str(other / "data")}, "decision", "act", "--id",
                 "dec-ETH-USDT-20230801-030000", "--action", "ignored")  # fmt: skip

    assert itself.returncode == 2 and inside.returncode == 2
    assert "is a Git repository that is not a data repository" in itself.stderr
    assert f"is inside the Git repository {other}" in inside.stderr
    assert not (other / "data").exists()
    assert Repo(other).git.status("--porcelain", "--untracked-files=all") == ""


def test_the_store_refuses_a_bad_base_path_itself_before_making_the_embedded_remote(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = other_repository(tmp_path / "other")
    monkeypatch.setenv(SETTING, str(other / "nested" / "repo"))
    settings = load_settings()  # the embedded default's remote, var/data-remote.git
    remote = settings.resolve(Path(str(settings.data_repository.remote_url)))
    existed = remote.exists()

    with pytest.raises(ConfigurationError, match=r"data_repository\.base_path .* is inside"):
        GitDataStore.from_settings(settings)

    assert remote.exists() == existed
    assert not (other / "nested").exists()


def test_data_repositories_are_accepted_where_they_are_their_own(
    tmp_path: Path, bare_remote: Path
) -> None:
    fresh = tmp_path / "fresh" / "data-repo"
    check_base_path(fresh, PROJECT_ROOT)  # nothing there yet
    GitDataStore(fresh, remote_url=str(bare_remote))
    check_base_path(fresh, PROJECT_ROOT)  # the store's own working copy
    check_base_path(PROJECT_ROOT / "var" / "data-repo", PROJECT_ROOT)  # the embedded default

    # A folder another repository ignores is not part of it.
    other = other_repository(tmp_path / "other")
    (other / ".gitignore").write_text("/ignored/\n")
    check_base_path(other / "ignored" / "data-repo", PROJECT_ROOT)
    nested = GitDataStore(other / "ignored" / "data-repo", remote_url=str(bare_remote))
    check_base_path(nested.path, PROJECT_ROOT)
    # Not ignored, a data repository inside another one is still in its tree.
    (other / ".gitignore").unlink()
    with pytest.raises(ConfigurationError, match="is inside the Git repository"):
        check_base_path(nested.path, PROJECT_ROOT)
