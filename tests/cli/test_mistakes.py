"""A new user's mistakes, each answered in one line with exit code 2 before any flow run
starts: checked against a real local Prefect server that no run was created for them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from cli.main import main
from market_maker.config import load_settings
from market_maker.context import RunContext
from market_maker.pipeline.collection import collect_hours, written_paths
from tests.conftest import PROJECT_ROOT, SAMPLE_FILE
from tests.server_cli import ServerCli

HOUR = "2023-08-01T02:00Z"
# One local Prefect server for the module's commands: its tests run on one worker, in order.
pytestmark = pytest.mark.xdist_group("local-server-mistakes")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerCli]:
    server = ServerCli(tmp_path_factory.mktemp("mistakes"))
    started = server("server", "start")
    assert started.returncode == 0, started.stderr
    try:
        yield server
    finally:
        server("server", "stop")


NOT_CONFIGURED = (
    "symbol BTC-USDT is not configured (symbols: ETH-USDT); add it to `symbols` in the "
    "configuration"
)


# Each command, and the line it answers with.
MISTAKES = [
    (
        "analyze --symbol ETH-USDT --start 2023-08-02T00:00:00Z --end 2023-08-01T00:00:00Z",
        "market-maker analyze: end 2023-08-01T00:00:00Z is before start 2023-08-02T00:00:00Z",
    ),
    (
        f"analyze --symbol ETH-USDT --start {HOUR}",
        "market-maker analyze: end is missing: a range needs both start and end",
    ),
    (
        "collect --symbol ETH-USDT --hour 2023-08-01T02:30Z",
        "market-maker collect: hour 2023-08-01T02:30:00Z is not on the hour "
        "(snapshots.period_minutes: 60)",
    ),
    (f"analyze --symbol BTC-USDT --hour {HOUR}", f"market-maker analyze: {NOT_CONFIGURED}"),
    (f"collect --symbol BTC-USDT --hour {HOUR}", f"market-maker collect: {NOT_CONFIGURED}"),
    ("validate --symbol BTC-USDT", f"market-maker validate: {NOT_CONFIGURED}"),
    (
        f"backfill --symbol BTC-USDT --start {HOUR} --end {HOUR}",
        f"market-maker backfill: {NOT_CONFIGURED}",
    ),
    (
        f"run-hourly --symbol BTC-USDT --hour {HOUR}",
        f"market-maker run-hourly: {NOT_CONFIGURED}",
    ),
    (
        f"evaluate-exit --symbol BTC-USDT --hour {HOUR}",
        f"market-maker evaluate-exit: {NOT_CONFIGURED}",
    ),
    (
        "backtest --data-file nope.csv.gz --start 2023-08-01T00:00Z --end 2023-08-10T00:00Z",
        f"market-maker backtest: data_file: {PROJECT_ROOT / 'nope.csv.gz'} does not exist",
    ),
    (
        f"backtest --data-file {SAMPLE_FILE} --start 2023-06-20T00:00Z --end 2023-07-10T00:00Z",
        "market-maker backtest: start 2023-06-20T00Z: the metrics need 400 h of warm-up and "
        "the recording starts at 2023-06-14T00:00Z; start at 2023-06-30T16Z or later",
    ),
    (
        f"backtest --data-file {SAMPLE_FILE} --start 2023-08-20T00:00Z --end 2023-09-10T00:00Z",
        "market-maker backtest: end 2023-09-10T00Z: the recording ends at 2023-09-01T00:00Z; "
        "end at 2023-09-01T00Z or earlier",
    ),
    (
        "backtest-sweep --start 2023-07-10T00:00Z --end 2023-07-13T00:00Z "
        "--split 2023-07-14T00:00Z --vary half_width_pct=3,5",
        "market-maker backtest-sweep: split 2023-07-14T00Z must fall strictly between start "
        "2023-07-10T00Z and end 2023-07-13T00Z",
    ),
    (
        "maintenance --unpack eth:2023",
        "market-maker maintenance: --unpack: 'eth:2023' is not SYMBOL:YYYY-MM, e.g. "
        "ETH-USDT:2023-01",
    ),
]


@pytest.mark.parametrize(("command", "line"), MISTAKES, ids=[c for c, _ in MISTAKES])
def test_a_mistake_is_one_line_exit_2_and_no_flow_run(
    server: ServerCli, command: str, line: str
) -> None:
    before = server.flow_run_names()

    run = server(*command.split())

    assert (run.returncode, run.stderr, run.stdout) == (2, f"{line}\n", "")
    assert server.flow_run_names() == before == []


def test_a_failure_inside_a_flow_ends_in_its_one_line_without_prefects_error_lines(
    server: ServerCli,
) -> None:
    """An hour never collected cannot be known to be missing before the run: the run fails,
    and the terminal shows the command's line, not Prefect's account of the failure nor the
    failure hook's (they are in the run's logs)."""
    run = server("evaluate-exit", "--symbol", "ETH-USDT", "--hour", HOUR)

    assert run.returncode == 1
    lines = run.stderr.splitlines()
    assert lines[-1].startswith("market-maker evaluate-exit: ")
    assert not [line for line in lines if "| ERROR" in line or "hook" in line.lower()], lines
    assert server.flow_run_names() == [f"exit-evaluation ETH-USDT {HOUR[:13]}Z"]


def test_a_mistyped_command_names_the_closest_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["regims", "--symbol", "ETH-USDT"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        "market-maker: no command 'regims'; did you mean 'regimes'? "
        "(market-maker --help lists them)\n"
    )


def test_kpi_of_a_day_without_data_says_so_and_where_the_data_is(
    data_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = RunContext.open(load_settings())
    day = datetime(2023, 8, 1, tzinfo=UTC)
    outcomes = collect_hours(
        ctx,
        "ETH-USDT",
        [day + timedelta(hours=h) for h in range(3)],
        collected_at=day + timedelta(hours=4),
    )
    ctx.store.commit("three hours\n", written_paths(outcomes))

    assert main(["kpi", "--date", "2023-01-01"]) == 2
    assert capsys.readouterr().err == (
        "market-maker kpi: no data for 2023-01-01: the data starts on 2023-08-01 and ends on "
        "2023-08-01\n"
    )
    assert main(["kpi", "--date", "2023-08-01"]) == 0
    assert capsys.readouterr().out.startswith("KPIs of 2023-08-01")
