"""A sweep's worker processes report to the run's own Prefect server, also in Prefect's
ephemeral mode, where each would otherwise start a temporary server of its own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.conftest import SAMPLE_FILE
from tests.server_cli import ServerCli


def test_an_ephemeral_sweep_runs_its_batches_on_the_one_temporary_server(
    tmp_path: Path,
) -> None:
    cli = ServerCli(tmp_path, MARKET_MAKER_PREFECT_SERVER="ephemeral")

    run = cli(
        "backtest-sweep",
        "--data-file",
        str(SAMPLE_FILE),
        "--start",
        "2023-07-01T00:00Z",
        "--end",
        "2023-08-28T00:00Z",
        "--split",
        "2023-07-16T00:00Z",
        "--vary",
        "half_width_pct=3,5,7",
    )

    assert run.returncode == 0, run.stderr
    assert run.stderr.count("Starting temporary server") == 1, run.stderr
    # The temporary server kept its runs in the Prefect home's database: the sweep's batches
    # are there, each named by its points, under the sweep's flow run.
    with sqlite3.connect(Path(cli.env["PREFECT_HOME"]) / "prefect.db") as db:
        rows = db.execute(
            "SELECT t.name, t.state_type, f.name FROM task_run t JOIN flow_run f"
            " ON t.flow_run_id = f.id WHERE t.name LIKE 'points %' ORDER BY t.name"
        ).fetchall()
    assert [(name, state) for name, state, _ in rows] == [
        ("points 1", "COMPLETED"),
        ("points 2", "COMPLETED"),
        ("points 3", "COMPLETED"),
    ]
    assert {flow for *_, flow in rows} == {
        "backtest-sweep ETH-USDT 2023-07-01T00Z..2023-08-27T23Z 1 parameter(s) varied"
    }
