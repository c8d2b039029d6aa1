"""The backtest and sweep flows end to end: CLI, report in the data repository, bad input.
(Parity with the live hourly pipeline: tests/flows/test_lifecycle_parity.py.)"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest
from git import Repo

from cli.main import main
from flows.backtest import backtest_sweep
from market_maker.backtest.page import read_report, write_report
from market_maker.backtest.parameters import parse_parameters
from market_maker.backtest.runner import backtest as backtest_service
from market_maker.backtest.runner import load
from market_maker.config import load_settings
from tests.conftest import SAMPLE_FILE

START, END = "2023-07-01T00:00:00Z", "2023-08-01T00:00:00Z"


@pytest.fixture
def repo_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    Repo.init(tmp_path / "remote.git", bare=True, initial_branch="main")
    monkeypatch.setenv("MARKET_MAKER_DATA_REPOSITORY__BASE_PATH", str(tmp_path / "repo"))
    monkeypatch.setenv("MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL", str(tmp_path / "remote.git"))
    return tmp_path / "repo"


def commits(repo: Path) -> int:
    if not (repo / ".git").exists():
        return 0
    r = Repo(repo)
    return sum(1 for _ in r.iter_commits()) if r.head.is_valid() else 0


def test_the_cli_writes_a_report_and_a_rerun_writes_nothing(
    repo_env: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["backtest", "--start", START, "--end", END, "--data-file", str(SAMPLE_FILE)]
    assert main(args) == 0
    out = capsys.readouterr().out
    for baseline in ("no_exit", "static_stop", "adx_rule", "system_stop_order", "no_trading"):
        assert f"vs {baseline}" in out
    report_path = Path(out.split("report: ")[1].split()[0])
    report = read_report(report_path)
    assert report_path.parent.parent == repo_env / "backtests"
    assert (report_path.parent / "report.html").exists()
    assert set(report.variants) == {
        "system",
        "system_stop_order",
        "no_exit",
        "static_stop",
        "adx_rule",
    }
    assert report.hours and report.grids and report.preflight.ok
    # Every figure is traceable: the KPI counts are the events behind them.
    fer = report.kpi("system", "FER")
    assert fer.denominator >= (fer.numerator or 0)
    remote = Repo(repo_env.parent / "remote.git")
    assert f"backtests/{report.name}/report.yaml" in [
        b.path for b in remote.head.commit.tree.traverse()
    ]
    message = remote.head.commit.message  # the commit names its run, as every run's does
    assert message.startswith(f"backtest: {report.name}\n") and "\nFlow-Run: backtest " in message
    before = commits(repo_env)
    assert main(args) == 0
    assert commits(repo_env) == before  # same parameters, data and settings: nothing new


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data-file", "no/such/file.csv.gz"], "file.csv.gz does not exist"),
        (["--fee-rate", "-0.001"], "fee_rate"),
        (["--start", "2023-08-01T00:00:00Z", "--end", "2023-07-01T00:00:00Z"], "end"),
        (["--start", "2021-01-01T00:00:00Z", "--end", "2021-02-01T00:00:00Z"], "warm-up"),
        (["--start", "2023-08-20T00:00:00Z", "--end", "2023-09-20T00:00:00Z"], "ends at"),
        (["--symbol", "BTC-USDT"], "BTC-USDT"),
        (["--set", "exit_strategy.nonsense=3"], "overrides"),
    ],
)
def test_bad_input_is_one_line_naming_it_and_writes_nothing(
    repo_env: Path, capsys: pytest.CaptureFixture, extra: list[str], message: str
) -> None:
    args = ["backtest", "--start", START, "--end", END, "--data-file", str(SAMPLE_FILE)]
    assert main([*args, *extra]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("market-maker backtest: "), err
    assert message in err[0]
    assert not (repo_env / "backtests").exists()


def test_a_file_with_the_wrong_columns_is_named(
    repo_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(gzip.compress(b"time,o,h,l,c\n1,2,3,4,5\n"))
    assert main(["backtest", "--start", START, "--end", END, "--data-file", str(bad)]) != 0
    err = capsys.readouterr().err.strip()
    assert "bad.csv.gz" in err and "timestamp_ms,open,high,low,close,volume" in err
    assert len(err.splitlines()) == 1
    assert not (repo_env / "backtests").exists()


def test_a_sweep_ranks_its_points_on_the_later_period(repo_env: Path) -> None:
    base = parse_parameters(
        {"data_file": str(SAMPLE_FILE), "start": "2023-07-01T00:00:00Z", "end": END}
    )
    result = backtest_sweep(
        base=base,
        values={"half_width_pct": [3.0, 6.0], "exit_strategy.deescalation.WARNING": [2, 4]},
        split=datetime(2023, 7, 16, tzinfo=UTC),
        rank_by="pnl",
    )
    assert result.points == 4
    table = result.table
    assert "train pnl" in table and "test pnl" in table
    rows = [line for line in table.splitlines() if line.startswith("| ") and "rank" not in line]
    assert len(rows) == 4
    pnl = [float(r.split("|")[-6].strip().replace(",", "")) for r in rows]
    assert pnl == sorted(pnl, reverse=True)  # ranked by the test period's PnL


def test_report_files_a_killed_backtest_left_are_committed_by_the_next_run_when_complete(
    repo_env: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    args = ["backtest", "--start", START, "--end", END, "--data-file", str(SAMPLE_FILE)]
    assert main(args) == 0
    capsys.readouterr()
    # A run killed after writing its report, before its commit; one killed between its page
    # and its report (the page alone); one whose page has a damaged report beside it; and a
    # damaged leftover.
    settings = load_settings()
    written = {}
    for name in ("killed-run", "orphan-run", "half-run"):
        params = parse_parameters(
            {"data_file": str(SAMPLE_FILE), "start": START, "end": END, "name": name}
        )
        outcome = backtest_service(params, settings, load(params, settings), code_version="test")
        written[name] = write_report(repo_env, outcome.report, outcome.series())
    (repo_env / "backtests" / "orphan-run" / "report.yaml").unlink()
    (repo_env / "backtests" / "half-run" / "report.yaml").write_text("schema_version: '1.0'\n")
    damaged = repo_env / "backtests" / "damaged-run" / "report.yaml"
    damaged.parent.mkdir(parents=True)
    damaged.write_text("schema_version: '1.0'\nname: damaged-run\nsym")

    assert main(args) == 0  # the same backtest again: nothing of its own to write

    remote = Repo(repo_env.parent / "remote.git")
    pushed = {b.path for b in remote.head.commit.tree.traverse()}
    assert {p.relative_to(repo_env).as_posix() for p in written["killed-run"]} <= pushed
    quarantined = [
        "backtests/orphan-run/report.html",
        "backtests/half-run/report.html",
        "backtests/half-run/report.yaml",
        "backtests/damaged-run/report.yaml",
    ]
    for relative in quarantined:
        assert relative not in pushed
        assert list((repo_env / "quarantine").glob(f"*/{relative}")), relative
    assert (
        "quarantined backtests/orphan-run/report.html: backtests/orphan-run/report.html: a "
        "report page without its report.yaml (a backtest stopped before it finished)"
    ) in caplog.text
    assert Repo(repo_env).git.status("--porcelain", "--untracked-files=all") == ""


def test_without_a_recording_the_backtest_reads_the_backfilled_snapshots_as_the_csv_reads(
    repo_env: Path, capsys: pytest.CaptureFixture
) -> None:
    """Backfilled from the exchange (here the replay of the sample), the month packed: the
    backtest of the stored minutes is the backtest of the recording they came from."""
    period = ["--start", "2023-07-22T00:00Z", "--end", "2023-07-25T00:00Z", "--cadence-hours", "24"]
    # Nothing stored yet: the preflight says what to backfill.
    assert main(["backtest", *period]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"market-maker backtest: snapshots {repo_env}/snapshots/ETH-USDT fails")
    assert "from 2023-07-05T08Z (400 h of warm-up) to 2023-07-25T00Z, so backfill them" in line

    backfill = [
        "--symbol",
        "ETH-USDT",
        "--start",
        "2023-07-05T08:00Z",
        "--end",
        "2023-07-24T23:00Z",
    ]
    assert main(["backfill", *backfill]) == 0
    assert main(["maintenance", "--pack-after-months", "1", "--no-gc"]) == 0
    assert list((repo_env / "snapshots" / "ETH-USDT" / "2023").glob("07*.zip"))
    assert not (repo_env / "snapshots" / "ETH-USDT" / "2023" / "07").exists()
    assert main(["backtest", *period, "--name", "from-snapshots"]) == 0
    assert main(["backtest", *period, "--data-file", str(SAMPLE_FILE), "--name", "from-csv"]) == 0
    capsys.readouterr()

    stored = read_report(repo_env / "backtests" / "from-snapshots" / "report.yaml")
    recorded = read_report(repo_env / "backtests" / "from-csv" / "report.yaml")
    assert stored.preflight.data_file == str(repo_env / "snapshots" / "ETH-USDT")
    assert stored.preflight.ok and stored.preflight.findings == recorded.preflight.findings
    source = {"name": True, "parameters": {"name", "data_file"}, "preflight": True}
    assert stored.hours and stored.grids
    assert stored.model_dump(exclude=source) == recorded.model_dump(exclude=source)
