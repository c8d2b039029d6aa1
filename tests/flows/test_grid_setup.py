"""The grid's setup through the real flows: the pipeline recommends, the operator approves,
the grid runs; an approval that comes too late writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from git import Repo

from cli.main import main
from flows.backfill import backfill
from flows.hourly_pipeline import hourly_pipeline
from market_maker.decisions.model import SetupDecision
from market_maker.decisions.store import DecisionStore
from market_maker.grids.book import GridBook
from tests.alerts.pushover_server import TOKEN, USER_KEY, FakePushover

SYMBOL = "ETH-USDT"
SETUP = "dec-ETH-USDT-20230726-010000"  # the hour 2023-07-26T00: RANGE_OK, 0.75


@pytest.fixture
def phone(data_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePushover]:
    with FakePushover() as server:
        monkeypatch.setenv("MARKET_MAKER_NOTIFICATIONS__PUSHOVER__API_URL", server.messages_url)
        monkeypatch.setenv("MARKET_MAKER_NOTIFICATIONS__PUSHOVER__TOKEN", TOKEN)
        monkeypatch.setenv("MARKET_MAKER_NOTIFICATIONS__PUSHOVER__USER_KEY", USER_KEY)
        yield server


def test_a_setup_is_recommended_approved_and_becomes_the_running_grid(
    data_env: dict[str, str], phone: FakePushover, capsys: pytest.CaptureFixture[str]
) -> None:
    root = Path(data_env["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"])
    backfill(
        symbol=SYMBOL,
        start=datetime(2023, 7, 25, tzinfo=UTC),
        end=datetime(2023, 7, 26, 2, tzinfo=UTC),
    )
    hourly_pipeline(
        symbols=[SYMBOL],
        start=datetime(2023, 7, 26, 0, tzinfo=UTC),
        end=datetime(2023, 7, 26, 1, tzinfo=UTC),
    )
    store = DecisionStore(root)
    setup = store.read(store.find(SETUP))
    assert isinstance(setup, SetupDecision) and setup.recommendation == "CREATE_GRID"
    assert setup.mode == "probationary" and setup.grid is not None
    # The next hour is within the cooldown of the setup left open (it expired unanswered).
    later = store.read(store.find("dec-ETH-USDT-20230726-020000"))
    assert isinstance(later, SetupDecision) and later.recommendation == "NO_SETUP"
    assert any(r.startswith("cooldown_after_setup") for r in later.reasons)
    # One notification, never urgent, saying how to approve.
    [alert] = [a for a in phone.accepted if "setup" in a["title"]]
    assert alert["priority"] == "0"
    assert f"market-maker decision act --id {SETUP} --action executed" in alert["message"]

    # The operator can read any hour's evaluation back.
    assert main(["setup", "--symbol", SYMBOL, "--hour", "2023-07-26T01:00Z"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[1] == "recorded decision dec-ETH-USDT-20230726-020000: NO_SETUP"
    assert any(line.startswith("  [NO] cooldown_after_setup") for line in shown)

    # Too late: nothing is written.
    head = Repo(root).head.commit.hexsha
    code = main(
        ["decision", "act", "--id", SETUP, "--action", "executed", "--at", "2023-07-26T02:30Z"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1] == (
        f"market-maker decision: setup {SETUP} expired at 2023-07-26T02:00:00Z: its price and "
        "bounds are stale; wait for the next setup recommendation (nothing was written)"
    )
    assert Repo(root).head.commit.hexsha == head and not Repo(root).is_dirty(untracked_files=True)
    assert not (root / "grids").exists() or not list((root / "grids").glob("*.yaml"))

    # In time: the action and the grid, in one commit.
    code = main(
        ["decision", "act", "--id", SETUP, "--action", "executed", "--at", "2023-07-26T01:20Z"]
    )
    assert code == 0, capsys.readouterr().err
    book = GridBook.load(root, fee_rate=0.001)
    [grid] = book.grids.values()
    assert grid.id == "eth-usdt-20230726-0100" and grid.mode == "probationary"
    assert grid.setup_decision == SETUP and grid.running_at(datetime(2023, 7, 26, 2, tzinfo=UTC))
    assert (grid.lower_price, grid.upper_price, grid.levels) == (
        setup.grid.lower_price,
        setup.grid.upper_price,
        setup.grid.levels,
    )
    changed = Repo(root).git.show("--name-only", "--format=", "HEAD").split()
    assert sorted(changed) == sorted(
        [f"grids/{grid.id}.yaml", "decisions/2023-07-26/dec-ETH-USDT-010000.01-action.yaml"]
    )

    # The next hour manages the new grid instead of proposing another.
    result = hourly_pipeline(symbols=[SYMBOL], hour=datetime(2023, 7, 26, 2, tzinfo=UTC))
    assert not result.failed, result.failed
    manage = store.read(store.find("dec-ETH-USDT-20230726-030000"))
    assert manage.type == "GRID_MANAGE" and manage.grid.grid_id == grid.id


def test_setup_for_a_symbol_never_analysed_is_one_line(
    data_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["setup", "--symbol", SYMBOL]) == 1
    assert capsys.readouterr().err.strip() == (
        "market-maker setup: no analysed hours for ETH-USDT in the data repository"
    )


def test_a_rerun_under_another_configuration_keeps_the_recorded_setup(
    data_env: dict[str, str], phone: FakePushover, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(data_env["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"])
    backfill(
        symbol=SYMBOL,
        start=datetime(2023, 7, 25, 20, tzinfo=UTC),
        end=datetime(2023, 7, 26, 0, tzinfo=UTC),
    )
    hour = datetime(2023, 7, 26, 0, tzinfo=UTC)
    hourly_pipeline(symbols=[SYMBOL], hour=hour)
    recorded = (root / "decisions/2023-07-26/dec-ETH-USDT-010000.yaml").read_bytes()
    sent = len(phone.accepted)

    # Another configuration (a larger balance): the same hour would be recommended otherwise.
    monkeypatch.setenv("MARKET_MAKER_LIFECYCLE__CAPITAL__TOTAL_QUOTE", "5000")
    result = hourly_pipeline(symbols=[SYMBOL], hour=hour)

    assert not result.failed, result.failed
    assert (root / "decisions/2023-07-26/dec-ETH-USDT-010000.yaml").read_bytes() == recorded
    assert len(phone.accepted) == sent  # the operator was told the first time
