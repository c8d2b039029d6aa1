"""Identifiers cannot escape the data repository.

A symbol, grid id or decision id becomes a path component. Each is checked at every edge (the
command line, a flow's parameters, the library building a path) and every path built from
them must stay inside the repository, links resolved. A well-formed symbol that is not
configured is an error, not an empty success.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from prefect.exceptions import ParameterTypeError

from flows.backfill import backfill
from flows.exit_evaluation import exit_evaluation
from flows.hourly_pipeline import hourly_pipeline
from flows.snapshot_analysis import snapshot_analysis
from market_maker.base.errors import DataError
from market_maker.base.identifiers import (
    DECISION_ID_PATTERN,
    GRID_ID_PATTERN,
    SYMBOL_PATTERN,
    check_decision_id,
    check_grid_id,
    check_symbol,
    inside,
)
from market_maker.decisions.model import decision_id_relpath, decision_relpath
from market_maker.decisions.store import DecisionStore
from market_maker.exit_strategy.model import exit_state_relpath
from market_maker.grids.book import grid_path
from market_maker.regime.model import metrics_relpath
from market_maker.snapshots import SnapshotReader
from market_maker.snapshots.paths import snapshot_relpath
from tests.grid_files import grid_data
from tests.integrity.conftest import Run

HOUR = datetime(2023, 8, 17, 6, tzinfo=UTC)
DAY = date(2023, 8, 17)
AT = "2023-08-17T07:00:00Z"


def listing(root: Path) -> dict[str, tuple[bool, int, int]]:
    """Every file and folder under ``root`` (Git's own included): kind, size, mtime."""
    out = {}
    for path in root.rglob("*"):
        stat = path.lstat()
        out[str(path.relative_to(root))] = (path.is_dir(), stat.st_size, stat.st_mtime_ns)
    return out


@pytest.fixture
def repo_with_grid(
    data_env: dict[str, str], tmp_path: Path, cli: Callable[..., Run]
) -> Iterator[Path]:
    """A data repository (and its remote) holding the grid eth-grid-1, both under tmp_path."""
    source = tmp_path / "eth-grid-1.yaml"
    source.write_text(yaml.safe_dump(grid_data()))
    assert cli("grid", "add", str(source)).code == 0
    yield Path(data_env["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"])


# -- the command line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["grid", "disable", "--id", "../../evil", "--at", AT], "grid id '../../evil'"),
        (["grid", "enable", "--id", "../x", "--at", AT], "grid id '../x'"),
        (
            ["grid", "disable", "--id", "eth-grid-1", "--at", AT, "--decision", "../../evil"],
            "decision id '../../evil'",
        ),
        (["regimes", "--symbol", "../../etc"], "symbol '../../etc'"),
        (["validate", "--symbol", "../../etc"], "symbol '../../etc'"),
    ],
    ids=["grid-disable", "grid-enable", "decision", "regimes", "validate"],
)
def test_a_path_in_an_identifier_is_a_usage_error_and_nothing_is_written(
    repo_with_grid: Path, tmp_path: Path, cli: Callable[..., Run], argv: list[str], named: str
) -> None:
    assert repo_with_grid.parent == tmp_path
    before = listing(tmp_path)

    run = cli(*argv)

    assert run.code == 2  # argparse's usage error
    assert named in run.err and "usage: market-maker" in run.err
    assert listing(tmp_path) == before


@pytest.mark.parametrize(
    "argv",
    [
        ["regimes", "--symbol", "XRP-USDT"],
        ["validate", "--symbol", "XRP-USDT"],
        ["analyze", "--symbol", "XRP-USDT", "--hour", "2023-08-17T06:00:00Z"],
        [
            "backfill",
            "--symbol",
            "XRP-USDT",
            "--start",
            "2023-08-17T00:00:00Z",
            "--end",
            "2023-08-17T06:00:00Z",
        ],
        ["evaluate-exit", "--symbol", "XRP-USDT", "--hour", "2023-08-17T06:00:00Z"],
    ],
    ids=lambda argv: argv[0],
)
def test_a_symbol_not_configured_is_an_error_in_one_line_not_an_empty_success(
    data_env: dict[str, str], tmp_path: Path, cli: Callable[..., Run], argv: list[str]
) -> None:
    before = listing(tmp_path)

    run = cli(*argv)

    assert run.code != 0
    assert "Traceback" not in run.err
    last = run.err_lines[-1]
    assert last.startswith(f"market-maker {argv[0]}: symbol XRP-USDT is not configured")
    assert [line for line in run.err_lines if line.startswith("market-maker")] == [last]
    assert run.out == ""
    assert listing(tmp_path) == before  # not even the data repository was cloned


# -- flow parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flow", "parameters"),
    [
        (backfill, {"symbol": "../../etc", "start": HOUR, "end": HOUR}),
        (snapshot_analysis, {"symbol": "../../etc", "hour": HOUR}),
        (exit_evaluation, {"symbol": "../x", "hour": HOUR}),
        (hourly_pipeline, {"symbols": ["ETH-USDT", "../../etc"], "hour": HOUR}),
    ],
    ids=["backfill", "snapshot-analysis", "exit-evaluation", "hourly-pipeline"],
)
def test_a_flow_called_with_a_malformed_symbol_fails_on_parameter_validation(
    data_env: dict[str, str], tmp_path: Path, flow: Any, parameters: dict[str, Any]
) -> None:
    before = listing(tmp_path)

    with pytest.raises(ParameterTypeError, match="symbol"):
        flow(**parameters)

    assert listing(tmp_path) == before


# -- the library ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda root: DecisionStore(root).find("../../x"),
        lambda root: grid_path(root, "../x"),
        lambda root: snapshot_relpath("../../etc", HOUR),
        lambda root: metrics_relpath("../../etc", HOUR),
        lambda root: exit_state_relpath("../../etc", DAY),
        lambda root: decision_relpath("../../etc", HOUR),
        lambda root: decision_id_relpath("dec-../../x"),
        lambda root: SnapshotReader(root).path_for("../../etc", HOUR),
    ],
    ids=[
        "decision-find",
        "grid-path",
        "snapshot",
        "metrics",
        "exit-state",
        "decision",
        "decision-id",
        "reader",
    ],
)
def test_every_path_builder_refuses_a_malformed_identifier(
    tmp_path: Path, build: Callable[[Path], object]
) -> None:
    with pytest.raises(DataError):
        build(tmp_path / "data-repo")


def test_inside_refuses_a_path_that_leaves_the_root_and_accepts_one_that_stays(
    tmp_path: Path,
) -> None:
    root = tmp_path / "data-repo"
    root.mkdir()
    assert inside(root, "a/b") == root / "a/b"
    assert inside(root, Path("a/../b")) == root / "a/../b"  # stays inside: fine
    for escaping in ("a/../../b", "../data-repo-evil/x", "/etc/passwd", ".."):
        with pytest.raises(DataError, match="leaves the data repository"):
            inside(root, escaping)


def test_a_symlink_inside_the_repository_pointing_outside_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "data-repo", tmp_path / "elsewhere"
    for folder in (root, outside / "grids", outside / "ETH-USDT"):
        folder.mkdir(parents=True)
    (root / "grids").symlink_to(outside / "grids", target_is_directory=True)
    (root / "snapshots").mkdir()
    (root / "snapshots/ETH-USDT").symlink_to(outside / "ETH-USDT", target_is_directory=True)
    (root / "decisions").symlink_to(outside, target_is_directory=True)
    (outside / "2023-08-17").mkdir()
    (outside / "2023-08-17/dec-ETH-USDT-070000.yaml").write_text("outside\n")

    with pytest.raises(DataError, match="leaves the data repository"):
        inside(root, "grids/eth-grid-1.yaml")
    with pytest.raises(DataError, match="leaves the data repository"):
        grid_path(root, "eth-grid-1")
    with pytest.raises(DataError, match="leaves the data repository"):
        SnapshotReader(root).path_for("ETH-USDT", HOUR)
    with pytest.raises(DataError, match="leaves the data repository"):
        DecisionStore(root).find("dec-ETH-USDT-20230817-070000")
    # A link that stays inside the repository is followed.
    (root / "metrics").mkdir()
    (root / "current").symlink_to(root / "metrics", target_is_directory=True)
    assert inside(root, "current/x.yaml") == root / "current/x.yaml"


# -- a property: whatever the text, a checked identifier stays inside ----------------------------

ROOT = Path(tempfile.gettempdir()) / "market-maker-identifiers-property" / "data-repo"
ANY_TEXT = st.one_of(
    st.text(),
    st.text(alphabet="./\\-_~ \n\x00AZaz09ETHUSD"),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-./", min_size=5, max_size=27),
)


def assert_stays_inside(relative: Path, depth: int) -> None:
    assert not relative.is_absolute() and ".." not in relative.parts
    assert len(relative.parts) == depth
    assert (ROOT / relative).resolve().is_relative_to(ROOT.resolve())
    assert inside(ROOT, relative) == ROOT / relative


@settings(max_examples=300, deadline=None)
@given(st.one_of(ANY_TEXT, st.from_regex(SYMBOL_PATTERN, fullmatch=True)))
def test_any_text_is_refused_as_a_symbol_or_its_paths_stay_inside(text: str) -> None:
    try:
        check_symbol(text)
    except ValueError:
        return
    assert_stays_inside(snapshot_relpath(text, HOUR), 6)
    assert_stays_inside(metrics_relpath(text, HOUR), 3)
    assert_stays_inside(exit_state_relpath(text, DAY), 3)
    assert_stays_inside(decision_relpath(text, HOUR), 3)
    assert snapshot_relpath(text, HOUR).parts[1] == text


@settings(max_examples=300, deadline=None)
@given(st.one_of(ANY_TEXT, st.from_regex(GRID_ID_PATTERN, fullmatch=True)))
def test_any_text_is_refused_as_a_grid_id_or_its_path_stays_inside(text: str) -> None:
    try:
        check_grid_id(text)
    except ValueError:
        return
    path = grid_path(ROOT, text)
    assert path.parent == ROOT / "grids" and path.name == f"{text}.yaml"
    assert_stays_inside(path.relative_to(ROOT), 2)


@settings(max_examples=300, deadline=None)
@given(st.one_of(ANY_TEXT, st.from_regex(DECISION_ID_PATTERN, fullmatch=True)))
def test_any_text_is_refused_as_a_decision_id_or_its_path_stays_inside(text: str) -> None:
    try:
        check_decision_id(text)
    except ValueError:
        return
    try:
        relative = decision_id_relpath(text)
    except DataError as exc:  # the right form, but no real date and time (20231399-...)
        assert "no valid date and time" in str(exc)
        return
    assert_stays_inside(relative, 3)
    assert relative.parts[0] == "decisions"
