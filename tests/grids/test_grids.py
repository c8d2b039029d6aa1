"""Grid files: validation, the history that says when a grid runs, SINGLE_GRID, operator CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from git import Repo

from cli.main import main
from market_maker.base.errors import DataError
from market_maker.grids.book import GridBook, add_grid, grid_path, parse_grid, set_running
from tests.grid_files import grid_data

FEE = 0.001  # KuCoin spot; a buy/sell pair pays it twice


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def write(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def load(root: Path) -> GridBook:
    return GridBook.load(root, fee_rate=FEE)


def switch(root: Path, grid_id: str, enabled: bool, at: str, reason: str | None = None) -> Path:
    return set_running(root, grid_id, enabled=enabled, at=utc(at), reason=reason, fee_rate=FEE)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"lower_price": 1900.0, "upper_price": 1900.0}, "lower_price"),
        ({"lower_price": 2000.0}, "lower_price 2000.0 must be below upper_price"),
        ({"levels": 1}, "levels"),
        ({"lower_price": -5.0}, "lower_price"),
        ({"symbol": "eth/usdt"}, "symbol"),
        ({"id": "Eth Grid"}, "id"),
        ({"unknown_key": 1}, "unknown_key"),
        (
            {
                "history": [
                    {"enabled": "2023-08-14T00:00:00Z"},
                    {"disabled": "2023-08-13T00:00:00Z"},
                ]
            },
            "history entries must be in time order",
        ),
        (
            {"history": [{"enabled": "2023-08-14T00:00:00Z"}, {"enabled": "2023-08-15T00:00:00Z"}]},
            "two 'enabled' entries in a row",
        ),
        ({"history": [{"disabled": "2023-08-14T00:00:00Z"}]}, "must start with 'enabled'"),
        (
            {"history": [{"enabled": "2023-08-14T00:00:00Z", "disabled": "2023-08-15T00:00:00Z"}]},
            "exactly one of 'enabled' or 'disabled'",
        ),
    ],
)
def test_an_invalid_grid_file_is_refused_naming_the_problem(
    tmp_path: Path, changes: dict[str, Any], named: str
) -> None:
    path = write(tmp_path / "grids/eth-grid-1.yaml", grid_data(**changes))
    with pytest.raises(DataError) as raised:
        load(tmp_path)
    assert named in str(raised.value)
    assert str(path) in str(raised.value)


def test_a_spacing_that_does_not_cover_the_round_trip_fee_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "grids/eth-grid-1.yaml", grid_data(levels=100))  # 0.07 % per level
    with pytest.raises(DataError, match=r"level spacing 0\.06\d+% does not cover the round-trip"):
        load(tmp_path)


def test_a_profit_per_grid_below_the_round_trip_fee_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "grids/eth-grid-1.yaml", grid_data(profit_per_grid=0.0015))
    with pytest.raises(DataError, match=r"profit_per_grid 0\.1500% does not cover"):
        load(tmp_path)


def test_a_grid_id_must_match_its_file_name(tmp_path: Path) -> None:
    write(tmp_path / "grids/eth-grid-2.yaml", grid_data())
    with pytest.raises(DataError, match="id 'eth-grid-1' must match the file name 'eth-grid-2'"):
        load(tmp_path)


def test_yaml_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(DataError, match="a grid file holds a mapping"):
        parse_grid("- just\n- a list\n", "grids/x.yaml")


def test_the_history_says_when_the_grid_runs_and_since_when() -> None:
    history = [
        {"enabled": "2023-08-01T00:00:00Z"},
        {"disabled": "2023-08-05T12:00:00Z", "reason": "STOP_GRID after MANDATORY_EXIT"},
        {"enabled": "2023-08-10T00:00:00Z"},
    ]
    grid = parse_grid(yaml.safe_dump(grid_data(history=history)), "test")

    assert not grid.running_at(utc("2023-07-31T23:00"))
    assert grid.running_at(utc("2023-08-01T00:00"))
    assert grid.running_since(utc("2023-08-03T10:00")) == utc("2023-08-01T00:00")
    assert not grid.running_at(utc("2023-08-05T12:00"))
    assert grid.running_since(utc("2023-08-07T00:00")) is None
    assert grid.running_since(utc("2023-08-12T00:00")) == utc("2023-08-10T00:00")
    assert grid.running_intervals() == [
        (utc("2023-08-01T00:00"), utc("2023-08-05T12:00")),
        (utc("2023-08-10T00:00"), None),
    ]


def test_a_grid_without_history_never_runs() -> None:
    grid = parse_grid(yaml.safe_dump(grid_data(history=[])), "test")
    assert not grid.running_at(utc("2030-01-01T00:00"))


def test_two_grids_of_one_symbol_running_at_once_fail_to_load_naming_both(tmp_path: Path) -> None:
    write(tmp_path / "grids/eth-grid-1.yaml", grid_data())
    write(
        tmp_path / "grids/eth-grid-2.yaml",
        grid_data(id="eth-grid-2", history=[{"enabled": "2023-08-20T00:00:00Z"}]),
    )
    with pytest.raises(DataError, match="SINGLE_GRID") as raised:
        load(tmp_path)
    assert "eth-grid-1" in str(raised.value) and "eth-grid-2" in str(raised.value)


def test_grids_one_after_the_other_or_of_other_symbols_load_together(tmp_path: Path) -> None:
    first = [{"enabled": "2023-08-01T00:00:00Z"}, {"disabled": "2023-08-10T00:00:00Z"}]
    write(tmp_path / "grids/eth-grid-1.yaml", grid_data(history=first))
    write(
        tmp_path / "grids/eth-grid-2.yaml",
        grid_data(id="eth-grid-2", history=[{"enabled": "2023-08-10T00:00:00Z"}]),
    )
    write(tmp_path / "grids/btc-grid-1.yaml", grid_data(id="btc-grid-1", symbol="BTC-USDT"))

    book = load(tmp_path)

    assert book.running("ETH-USDT", utc("2023-08-05T00:00")).id == "eth-grid-1"
    assert book.running("ETH-USDT", utc("2023-08-12T00:00")).id == "eth-grid-2"
    assert book.running("BTC-USDT", utc("2023-08-15T00:00")).id == "btc-grid-1"
    status = book.status("ETH-USDT", utc("2023-08-12T00:00"))
    assert status is not None and status.grid_id == "eth-grid-2" and status.grid_version


def test_adding_a_grid_refuses_to_replace_an_existing_one(tmp_path: Path) -> None:
    source = write(tmp_path / "incoming/grid.yaml", grid_data())
    path = add_grid(tmp_path / "repo", source, fee_rate=FEE)
    assert path == grid_path(tmp_path / "repo", "eth-grid-1")
    before = path.read_bytes()

    write(source, grid_data(upper_price=2000.0))
    with pytest.raises(DataError, match="already exists"):
        add_grid(tmp_path / "repo", source, fee_rate=FEE)
    assert path.read_bytes() == before


def test_a_grid_that_fails_validation_leaves_nothing_behind(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo / "grids/eth-grid-1.yaml", grid_data())
    for bad in (
        grid_data(id="eth-grid-2", levels=1),
        grid_data(id="eth-grid-2", profit_per_grid=0.001),
        grid_data(id="eth-grid-2", history=[{"enabled": "2023-09-01T00:00:00Z"}]),  # SINGLE_GRID
    ):
        source = write(tmp_path / "incoming/grid.yaml", bad)
        with pytest.raises(DataError):
            add_grid(repo, source, fee_rate=FEE)
        assert sorted(p.name for p in (repo / "grids").iterdir()) == ["eth-grid-1.yaml"]


def test_enabling_and_disabling_append_to_the_history_and_never_edit_it(tmp_path: Path) -> None:
    source = write(tmp_path / "grid.yaml", grid_data())
    path = add_grid(tmp_path, source, fee_rate=FEE)
    original = path.read_text()

    set_running(
        tmp_path,
        "eth-grid-1",
        enabled=False,
        at=utc("2023-08-17T22:00"),
        reason="STOP_GRID after MANDATORY_EXIT",
        fee_rate=FEE,
    )
    disabled = path.read_text()
    switch(tmp_path, "eth-grid-1", True, "2023-08-20T00:00")

    assert disabled.startswith(original)
    assert path.read_text().startswith(disabled)
    grid = load(tmp_path).grids["eth-grid-1"]
    assert [e.action for e in grid.history] == ["enabled", "disabled", "enabled"]
    assert grid.history[1].reason == "STOP_GRID after MANDATORY_EXIT"


def test_a_history_entry_before_the_last_one_is_refused(tmp_path: Path) -> None:
    path = add_grid(tmp_path, write(tmp_path / "grid.yaml", grid_data()), fee_rate=FEE)
    before = path.read_bytes()
    with pytest.raises(DataError, match="before its last history entry"):
        switch(tmp_path, "eth-grid-1", False, "2023-08-13T00:00")
    with pytest.raises(DataError, match="already enabled"):
        switch(tmp_path, "eth-grid-1", True, "2023-08-15T00:00")
    with pytest.raises(DataError, match="no grid 'eth-grid-9'"):
        switch(tmp_path, "eth-grid-9", True, "2023-08-15T00:00")
    assert path.read_bytes() == before


def test_enabling_a_second_grid_while_one_runs_is_refused_and_undone(tmp_path: Path) -> None:
    add_grid(tmp_path, write(tmp_path / "a.yaml", grid_data()), fee_rate=FEE)
    stopped = [{"enabled": "2023-08-01T00:00:00Z"}, {"disabled": "2023-08-02T00:00:00Z"}]
    source = write(tmp_path / "b.yaml", grid_data(id="eth-grid-2", history=stopped))
    second = add_grid(tmp_path, source, fee_rate=FEE)
    before = second.read_bytes()
    with pytest.raises(DataError, match="SINGLE_GRID"):
        switch(tmp_path, "eth-grid-2", True, "2023-08-20T00:00")
    assert second.read_bytes() == before


def remote_file(remote: Path, relpath: str) -> str:
    return Repo(remote).git.show(f"main:{relpath}")


def test_the_grid_commands_commit_and_push_each_change(
    data_env: dict[str, str],
    bare_remote: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = write(tmp_path / "incoming/eth-grid-1.yaml", grid_data())

    assert main(["grid", "add", str(source)]) == 0
    assert "grid eth-grid-1 added" in capsys.readouterr().out
    assert main(["grid", "list", "--at", "2023-08-15T00:00Z"]) == 0
    assert "eth-grid-1  ETH-USDT  1780-1900  20 levels  running" in capsys.readouterr().out
    code = main(
        [
            "grid",
            "disable",
            "--id",
            "eth-grid-1",
            "--at",
            "2023-08-17T22:00:00Z",
            "--reason",
            "STOP_GRID after MANDATORY_EXIT",
        ]
    )
    assert code == 0
    assert "disabled at 2023-08-17T22:00:00Z" in capsys.readouterr().out

    subjects = Repo(bare_remote).git.log("--format=%s", "main").splitlines()
    assert subjects[:2] == [
        "grid disable: eth-grid-1 2023-08-17T22:00:00Z",
        "grid add: eth-grid-1",
    ]
    pushed = yaml.safe_load(remote_file(bare_remote, "grids/eth-grid-1.yaml"))
    assert pushed["history"] == [
        {"enabled": "2023-08-14T00:00:00Z"},
        {"disabled": "2023-08-17T22:00:00Z", "reason": "STOP_GRID after MANDATORY_EXIT"},
    ]


def test_a_refused_grid_command_exits_non_zero_and_commits_nothing(
    data_env: dict[str, str],
    bare_remote: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = write(tmp_path / "incoming/eth-grid-1.yaml", grid_data())
    assert main(["grid", "add", str(source)]) == 0
    head = Repo(bare_remote).git.rev_parse("main")

    assert main(["grid", "add", str(source)]) == 1
    assert "already exists" in capsys.readouterr().err
    code = main(["grid", "enable", "--id", "eth-grid-1", "--at", "2023-08-20T00:00:00Z"])
    assert code == 1
    assert "already enabled" in capsys.readouterr().err
    assert Repo(bare_remote).git.rev_parse("main") == head


def test_a_committed_symlink_under_grids_is_refused_on_read_naming_it(
    data_env: dict[str, str],
    bare_remote: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Someone else's clone commits a link to a file outside the repository (valid grid text).
    outside = write(tmp_path / "outside" / "eth-grid-1.yaml", grid_data())
    other = Repo.clone_from(bare_remote, tmp_path / "other-clone")
    (tmp_path / "other-clone" / "grids").mkdir()
    (tmp_path / "other-clone" / "grids" / "eth-grid-1.yaml").symlink_to(outside)
    other.index.add(["grids/eth-grid-1.yaml"])
    other.index.commit("a grid, as a link")
    other.git.push("origin", "HEAD:main")
    assert other.git.ls_files("-s", "grids/eth-grid-1.yaml").startswith("120000")  # a link

    assert main(["grid", "list", "--at", "2023-08-15T00:00Z"]) == 1
    out, err = capsys.readouterr()
    (line,) = err.strip().splitlines()
    assert line.startswith("market-maker grid: path grids/eth-grid-1.yaml leaves the data")
    assert out == ""

    # A link that stays inside the repository is no grid file either.
    root = Path(data_env["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"])
    (root / "grids" / "eth-grid-1.yaml").unlink()
    write(root / "elsewhere.yaml", grid_data())
    (root / "grids" / "eth-grid-1.yaml").symlink_to(root / "elsewhere.yaml")
    with pytest.raises(DataError, match=r"^grids/eth-grid-1\.yaml: a symbolic link"):
        load(root)
