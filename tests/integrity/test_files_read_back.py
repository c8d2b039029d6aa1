"""Files read back are checked like files written.

One data repository is built per module with the real flows (a backfill from the recorded
sample, the test grid, the hourly pipeline over the morning of 17 August 2023, alerts going
to a real HTTP Pushover stand-in); each test works on a copy of it and its bare remote.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from git import Repo

from flows.backfill import backfill
from flows.exit_evaluation import exit_evaluation
from flows.hourly_pipeline import hourly_pipeline
from market_maker.base.errors import DataError
from market_maker.decisions.store import DecisionStore
from market_maker.exit_strategy.store import read_day_file
from market_maker.operator.grids import grid_add
from market_maker.regime import files as metrics_files
from tests.alerts.pushover_server import TOKEN, USER_KEY, FakePushover
from tests.grid_files import grid_data
from tests.integrity.conftest import Run
from tests.prefect_server import run_as_deployment

SYMBOL = "ETH-USDT"
BACKFILL = (datetime(2023, 8, 14, tzinfo=UTC), datetime(2023, 8, 17, 6, tzinfo=UTC))
PIPELINE = (datetime(2023, 8, 17, 0, tzinfo=UTC), datetime(2023, 8, 17, 6, tzinfo=UTC))
HOUR = "2023-08-17T06:00:00Z"
METRICS = "metrics/ETH-USDT/2023-08-17-06.yaml"
EXIT_STATES = "exit_states/ETH-USDT/2023-08-17.yaml"
SNAPSHOT = "snapshots/ETH-USDT/2023/08/17/06.json"
DECISION = "decisions/2023-08-17/dec-ETH-USDT-070000.yaml"
BAD_PRICE = "-1851.22"


def environment(base: Path, pushover: FakePushover) -> dict[str, str]:
    return {
        "MARKET_MAKER_DATA_REPOSITORY__BASE_PATH": str(base / "data-repo"),
        "MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL": str(base / "remote.git"),
        "MARKET_MAKER_DATA_REPOSITORY__LOCK_TIMEOUT_SECONDS": "30",
        "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__API_URL": pushover.messages_url,
        "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__TOKEN": TOKEN,
        "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__USER_KEY": USER_KEY,
    }


@pytest.fixture(scope="module")
def alerts() -> Iterator[FakePushover]:
    """One Pushover server for the module: its URL is configuration (config_version)."""
    with FakePushover() as server:
        yield server


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, alerts: FakePushover) -> Path:
    """The data repository and its remote, built by the real flows; never changed by a test."""
    base = tmp_path_factory.mktemp("read-back")
    Repo.init(base / "remote.git", bare=True, initial_branch="main")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in environment(base, alerts).items():
            mp.setenv(key, value)
        backfill(symbol=SYMBOL, start=BACKFILL[0], end=BACKFILL[1])
        source = base / "eth-grid-1.yaml"
        source.write_text(yaml.safe_dump(grid_data()))
        grid_add(source)
        result = hourly_pipeline(symbols=[SYMBOL], start=PIPELINE[0], end=PIPELINE[1])
    assert result.commits and not result.failed
    for relative in (METRICS, EXIT_STATES, SNAPSHOT, DECISION):
        assert (base / "data-repo" / relative).is_file(), relative
    return base


@dataclass
class Copy:
    path: Path  # the working copy
    remote: Path

    @property
    def git(self) -> Any:
        return Repo(self.path).git

    def commit_by_hand(self, relative: str, message: str) -> None:
        self.git.add(relative)
        self.git.commit("-m", message)

    def remote_history(self) -> str:
        """Every version of every file the remote ever held."""
        return Repo(self.remote).git.log("-p", "--all", "--format=%H %s")


@pytest.fixture
def repo(
    prepared: Path,
    tmp_path: Path,
    alerts: FakePushover,
    monkeypatch: pytest.MonkeyPatch,
) -> Copy:
    """A copy of the prepared repository and remote, the configuration pointing at it."""
    for name in ("data-repo", "remote.git"):
        shutil.copytree(prepared / name, tmp_path / name, symlinks=True)
    for key, value in environment(tmp_path, alerts).items():
        monkeypatch.setenv(key, value)
    alerts.clear()
    return Copy(tmp_path / "data-repo", tmp_path / "remote.git")


def damage_price(path: Path) -> None:
    text = path.read_text()
    damaged, count = re.subn(r"(?m)^price: .*$", f"price: {BAD_PRICE}", text)
    assert count == 1
    path.write_text(damaged)


def evaluate(cli: Callable[..., Run], *extra: str) -> Run:
    return cli(*extra, "evaluate-exit", "--symbol", SYMBOL, "--hour", HOUR)


def assert_one_line_failure(run: Run, command: str) -> str:
    assert run.code != 0
    assert "Traceback" not in run.err
    last = run.err_lines[-1]
    assert last.startswith(f"market-maker {command}: ")
    assert [line for line in run.err_lines if line.startswith("market-maker")] == [last]
    return last


# -- (a) committed damage ---------------------------------------------------------------------


def test_committed_damage_in_a_metrics_file_stops_the_evaluation_naming_the_file_and_field(
    repo: Copy, alerts: FakePushover, cli: Callable[..., Run]
) -> None:
    damage_price(repo.path / METRICS)
    repo.commit_by_hand(METRICS, "a damaged metrics file, committed by hand")
    exit_states = (repo.path / EXIT_STATES).read_bytes()
    decision = (repo.path / DECISION).read_bytes()
    head = repo.git.rev_parse("HEAD")

    run = evaluate(cli)

    line = assert_one_line_failure(run, "evaluate-exit")
    assert METRICS in line and "price" in line
    assert (repo.path / EXIT_STATES).read_bytes() == exit_states
    assert (repo.path / DECISION).read_bytes() == decision
    assert repo.git.rev_parse("HEAD") == head
    # No exit alert was sent on the strength of the damaged file, and a command run by hand
    # fails on its terminal: no failure alert either (flows/_hooks.py).
    assert alerts.accepted == []


def test_the_same_failure_in_a_deployment_run_alerts_the_operator(
    repo: Copy, alerts: FakePushover
) -> None:
    """A scheduled (deployment) run that fails alerts: the operator learns the hour went
    unevaluated, and why."""
    damage_price(repo.path / METRICS)
    repo.commit_by_hand(METRICS, "a damaged metrics file, committed by hand")

    state = run_as_deployment(exit_evaluation, {"symbol": SYMBOL, "hour": HOUR})

    assert state.is_failed()
    [alert] = alerts.accepted
    assert "exit-evaluation failed" in alert["title"], alert
    assert f"exit-evaluation {SYMBOL} 2023-08-17T06Z" in alert["message"], alert
    assert METRICS in alert["message"] and "price" in alert["message"]
    assert "STOP" not in alert["message"] and BAD_PRICE not in alert["message"]


def test_run_hourly_rewrites_a_damaged_committed_metrics_file_with_a_warning_naming_it(
    repo: Copy, cli: Callable[..., Run]
) -> None:
    path = repo.path / METRICS
    price = metrics_files.read(path).price
    damage_price(path)
    repo.commit_by_hand(METRICS, "a damaged metrics file, committed by hand")

    run = cli("run-hourly", "--symbol", SYMBOL, "--hour", HOUR)

    assert run.code == 0, run.err
    assert metrics_files.read(path).price == price  # the hour analysed again, written again
    [warning] = [line for line in run.err_lines if f"rewriting {METRICS}" in line]
    assert "WARNING" in warning and "damaged" in warning and "price" in warning
    assert repo.git.status("--porcelain") == ""
    assert repo.git.show(f"HEAD:{METRICS}").encode() + b"\n" == path.read_bytes()


# -- (b) uncommitted damage -------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate-exit", "--symbol", SYMBOL, "--hour", HOUR],
        ["run-hourly", "--symbol", SYMBOL, "--hour", HOUR],
    ],
    ids=["evaluate-exit", "run-hourly"],
)
def test_uncommitted_damage_is_quarantined_by_the_next_writer_and_the_file_restored(
    repo: Copy, alerts: FakePushover, cli: Callable[..., Run], command: list[str]
) -> None:
    path = repo.path / METRICS
    committed = path.read_bytes()
    exit_states = (repo.path / EXIT_STATES).read_bytes()
    damage_price(path)

    run = cli(*command)

    assert run.code == 0, run.err
    assert path.read_bytes() == committed
    [moved] = (repo.path / "quarantine").glob(f"*/{METRICS}")
    assert re.fullmatch(r"\d{8}T\d{6}Z", moved.relative_to(repo.path).parts[1])
    assert f"price: {BAD_PRICE}" in moved.read_text()  # kept for the operator, not deleted
    assert f"quarantined {METRICS}" in run.err
    # Never committed, never pushed; the working copy is clean again.
    assert repo.git.ls_files("quarantine") == ""
    assert repo.git.status("--porcelain") == ""
    assert BAD_PRICE not in repo.remote_history()
    assert Repo(repo.remote).git.show(f"main:{METRICS}").encode() + b"\n" == committed
    # The hour was evaluated again from the restored file: nothing new, nothing sent.
    assert (repo.path / EXIT_STATES).read_bytes() == exit_states
    assert alerts.requests == []


# -- (c) what a file says must agree with where it is -------------------------------------------


@pytest.fixture
def files(prepared: Path, tmp_path: Path) -> Callable[..., Path]:
    """Place a file of the prepared repository (or its text, edited) at ``target`` (default: its
    own path) in a folder laid out as a data repository."""

    def place(
        source: str, target: str | None = None, *, edit: Callable[[str], str] | None = None
    ) -> Path:
        text = (prepared / "data-repo" / source).read_text()
        path = tmp_path / "repo" / (target or source)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(edit(text) if edit else text)
        return path

    return place


def test_the_untouched_files_read_back(files: Callable[..., Path]) -> None:
    assert metrics_files.read(files(METRICS)).price > 0
    assert read_day_file(files(EXIT_STATES)).evaluations
    assert DecisionStore(files(DECISION).parents[2]).read(files(DECISION)).id


def test_a_metrics_file_whose_symbol_disagrees_with_its_path_is_refused(
    files: Callable[..., Path],
) -> None:
    path = files(METRICS, edit=lambda t: t.replace("symbol: ETH-USDT", "symbol: BTC-USDT", 1))
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}: holds BTC-USDT"):
        metrics_files.read(path)


def test_a_metrics_file_whose_hour_disagrees_with_its_path_is_refused(
    files: Callable[..., Path],
) -> None:
    path = files(METRICS, "metrics/ETH-USDT/2023-08-17-05.yaml")
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}: holds ETH-USDT 2023-08-17T06"):
        metrics_files.read(path)


def test_a_nan_metric_value_is_refused_naming_the_file_and_the_metric(
    files: Callable[..., Path],
) -> None:
    path = files(METRICS, edit=lambda t: re.sub(r"(  adx: \{value: )[^,]+", r"\1.nan", t, count=1))
    assert "adx: {value: .nan," in path.read_text()
    with pytest.raises(DataError) as raised:
        metrics_files.read(path)
    assert str(path) in str(raised.value) and "metrics.adx" in str(raised.value)


def test_an_exit_state_file_whose_date_disagrees_with_its_path_is_refused(
    files: Callable[..., Path],
) -> None:
    path = files(EXIT_STATES, "exit_states/ETH-USDT/2023-08-16.yaml")
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}: holds ETH-USDT 2023-08-17"):
        read_day_file(path)


def test_a_decision_record_at_the_wrong_path_is_refused(files: Callable[..., Path]) -> None:
    path = files(DECISION, "decisions/2023-08-17/dec-ETH-USDT-080000.yaml")
    store = DecisionStore(path.parents[2])
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}: decision .* belongs at"):
        store.read(path)


def test_a_decision_whose_id_does_not_match_its_symbol_and_issue_time_is_refused(
    files: Callable[..., Path],
) -> None:
    path = files(
        DECISION,
        edit=lambda t: t.replace(
            "id: dec-ETH-USDT-20230817-070000", "id: dec-ETH-USDT-20230817-090000"
        ),
    )
    with pytest.raises(DataError) as raised:
        DecisionStore(path.parents[2]).read(path)
    assert str(path) in str(raised.value) and "does not match" in str(raised.value)


# -- (d) a newer schema is never overwritten ----------------------------------------------------


def test_backfill_over_a_committed_snapshot_of_a_newer_schema_fails_and_leaves_it(
    repo: Copy, cli: Callable[..., Run]
) -> None:
    path = repo.path / SNAPSHOT
    text, count = re.subn(r'"schema_version": "[^"]+"', '"schema_version": "9.0"', path.read_text())
    assert count == 1
    path.write_text(text)
    repo.commit_by_hand(SNAPSHOT, "a snapshot written by a newer market-maker")
    newer = path.read_bytes()

    run = cli("backfill", "--symbol", SYMBOL, "--start", HOUR, "--end", HOUR)

    line = assert_one_line_failure(run, "backfill")
    assert SNAPSHOT in line and "newer" in line
    assert path.read_bytes() == newer


def test_analyze_never_replaces_a_committed_metrics_file_of_a_newer_schema(
    repo: Copy, cli: Callable[..., Run]
) -> None:
    path = repo.path / METRICS
    path.write_text(path.read_text().replace("schema_version: '1.0'", "schema_version: '9.0'", 1))
    repo.commit_by_hand(METRICS, "a metrics file written by a newer market-maker")
    newer = path.read_bytes()

    for recompute in ([], ["--recompute"]):
        run = cli("analyze", "--symbol", SYMBOL, "--hour", HOUR, *recompute)

        line = assert_one_line_failure(run, "analyze")
        assert METRICS in line and "newer" in line
        assert path.read_bytes() == newer


# -- (e) a past hour's recorded evaluation is never rewritten ------------------------------------


def evaluation_blocks(text: str) -> list[str]:
    """The YAML text of each entry of the day file's ``evaluations``, as written."""
    lines = text.splitlines(keepends=True)
    blocks: list[str] = []
    for line in lines[lines.index("evaluations:\n") + 1 :]:
        if line.startswith("- "):
            blocks.append(line)
        elif line.startswith("  ") and blocks:
            blocks[-1] += line
        else:
            break
    return blocks


def of_hour(blocks: list[str]) -> list[str]:
    return [b for b in blocks if b.startswith(f"- hour: '{HOUR}'")]


def test_a_past_hour_evaluated_again_under_other_inputs_keeps_revision_1_and_appends_2(
    repo: Copy, tmp_path: Path, cli: Callable[..., Run]
) -> None:
    day = repo.path / EXIT_STATES
    before = day.read_text()
    [first] = of_hour(evaluation_blocks(before))
    assert "revision: 1" in first
    # Another ADX threshold: the hour's metrics file is recomputed under another configuration.
    overlay = tmp_path / "adx.yaml"
    overlay.write_text(
        yaml.safe_dump({"regime": {"timeframes": {"1h": {"adx": {"trend_above": 24.0}}}}})
    )
    metrics_before = (repo.path / METRICS).read_bytes()
    analyzed = cli(
        "--config", str(overlay), "analyze", "--symbol", SYMBOL, "--hour", HOUR, "--recompute"
    )
    assert analyzed.code == 0, analyzed.err
    assert (repo.path / METRICS).read_bytes() != metrics_before

    assert evaluate(cli, "--config", str(overlay)).code == 0

    after = day.read_text()
    blocks = evaluation_blocks(after)
    revisions = of_hour(blocks)
    assert len(revisions) == 2
    assert revisions[0] == first  # byte for byte, where it was
    assert [b for b in blocks if b not in revisions] == [
        b for b in evaluation_blocks(before) if b != first
    ]
    second = yaml.safe_load(revisions[1])[0]
    assert second["revision"] == 2
    assert second["note"].startswith("re-evaluated under different inputs")
    assert second["inputs"] != yaml.safe_load(first)[0]["inputs"]
    assert read_day_file(day).latest()[-1].revision == 2

    # The same inputs again: nothing is added, not a byte changes, nothing is committed.
    head = repo.git.rev_parse("HEAD")
    assert evaluate(cli, "--config", str(overlay)).code == 0
    assert day.read_text() == after
    assert repo.git.rev_parse("HEAD") == head
