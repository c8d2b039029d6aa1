"""`market-maker decision act` against a real data repository and its bare remote: an action
is recorded once, a final one is never contradicted, and none is dated ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from git import Repo

from cli.main import main
from market_maker.decisions.store import DecisionStore
from market_maker.store import GitDataStore
from tests.decisions.test_decision_store import decision


@pytest.fixture
def issued(data_env: dict[str, str], bare_remote: Path) -> tuple[str, Path]:
    """A decision committed and pushed, as an hourly run leaves it; its id and the clone."""
    store = GitDataStore(
        Path(data_env["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"]), remote_url=str(bare_remote)
    )
    record = decision()
    path, _ = DecisionStore(store.path).write(record)
    store.commit(f"a decision: {record.id}", [path])
    assert store.push().pushed
    return record.id, store.path


def act(dec: str, action: str, at: str) -> int:
    return main(["decision", "act", "--id", dec, "--action", action, "--at", at])


def actions(root: Path, dec: str) -> list[str]:
    return [e.data["action"] for e in DecisionStore(root).entries(dec, "action")]


def test_the_same_action_twice_is_a_no_op_and_says_so(
    issued: tuple[str, Path], bare_remote: Path, capsys: pytest.CaptureFixture
) -> None:
    dec, root = issued
    assert act(dec, "declined", "2023-08-15T11:10Z") == 0
    assert "declined at 2023-08-15T11:10:00Z recorded" in capsys.readouterr().out
    head = Repo(bare_remote).git.rev_parse("main")

    assert act(dec, "declined", "2023-08-15T11:20Z") == 0

    assert capsys.readouterr().out.strip() == (
        f"{dec}: already recorded as declined at 2023-08-15T11:10:00Z; nothing written "
        "(the same action again changes nothing)"
    )
    assert Repo(bare_remote).git.rev_parse("main") == head
    assert Repo(root).git.status("--porcelain", "--untracked-files=all") == ""
    assert actions(root, dec) == ["declined"]


@pytest.mark.parametrize(
    ("final", "then"), [("executed", "declined"), ("declined", "executed"), ("executed", "ignored")]
)
def test_an_action_contradicting_a_final_one_is_refused_in_one_line(
    issued: tuple[str, Path], capsys: pytest.CaptureFixture, final: str, then: str
) -> None:
    dec, root = issued
    assert act(dec, final, "2023-08-15T11:10Z") == 0
    capsys.readouterr()
    head = Repo(root).head.commit.hexsha

    assert act(dec, then, "2023-08-15T11:30Z") == 1

    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"market-maker decision: decision {dec} was {final} at 2023-08-15T11:10:00Z: {then} "
        "contradicts it and is refused (an executed or declined decision stays so)"
    )
    assert Repo(root).head.commit.hexsha == head
    assert Repo(root).git.status("--porcelain", "--untracked-files=all") == ""
    assert actions(root, dec) == [final]


def test_after_ignored_what_was_done_after_all_is_recorded(
    issued: tuple[str, Path], capsys: pytest.CaptureFixture
) -> None:
    dec, root = issued
    assert act(dec, "ignored", "2023-08-15T11:10Z") == 0
    assert act(dec, "declined", "2023-08-15T13:00Z") == 0
    assert "recorded (late: the decision had expired)" in capsys.readouterr().out
    assert actions(root, dec) == ["ignored", "declined"]


def test_an_action_dated_in_the_future_is_refused_before_the_repository_is_opened(
    issued: tuple[str, Path], capsys: pytest.CaptureFixture
) -> None:
    dec, root = issued
    head = Repo(root).head.commit.hexsha
    future = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)

    assert act(dec, "executed", future.strftime("%Y-%m-%dT%H:%MZ")) == 2

    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(
        f"market-maker decision: --at {future:%Y-%m-%dT%H:%M:%SZ} is in the future (now "
    )
    assert Repo(root).head.commit.hexsha == head
    assert actions(root, dec) == []
