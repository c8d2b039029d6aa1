"""The command line starts one local Prefect server, reuses it, names its runs, stops it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from git import Repo

from local_prefect.server import server_is_healthy

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cli:
    def __init__(self, base: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        (base / "remote.git").mkdir()
        Repo.init(base / "remote.git", bare=True, initial_branch="main")
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("MARKET_MAKER_", "PREFECT_"))
        }
        self.env |= {
            "PREFECT_HOME": str(base / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "MARKET_MAKER_PREFECT_SERVER": "local",
            "MARKET_MAKER_PREFECT_SERVER_PORT": str(self.port),
            "MARKET_MAKER_DATA_REPOSITORY__BASE_PATH": str(base / "data-repo"),
            "MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL": str(base / "remote.git"),
        }

    def __call__(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", *argv],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def flow_run_names(self) -> list[str]:
        request = urllib.request.Request(
            f"{self.url}/flow_runs/filter",
            data=json.dumps({"limit": 50}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return sorted(run["name"] for run in json.load(response))


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    cli = Cli(tmp_path)
    yield cli
    cli("server", "stop")


def test_commands_share_one_background_server_that_keeps_their_named_runs(cli: Cli) -> None:
    first = cli(
        "backfill",
        "--symbol",
        "ETH-USDT",
        "--start",
        "2023-08-01T00:00Z",
        "--end",
        "2023-08-01T02:00Z",
    )
    assert first.returncode == 0, first.stderr
    assert "started a local Prefect server" in first.stderr
    assert server_is_healthy(cli.url)

    second = cli("analyze", "--symbol", "ETH-USDT", "--hour", "2023-08-01T02:00Z")
    assert second.returncode == 0, second.stderr
    assert "started a local Prefect server" not in second.stderr
    assert "Starting temporary server" not in second.stderr

    # Both runs are on the one server, named by what they did.
    assert cli.flow_run_names() == [
        "backfill ETH-USDT 2023-08-01T00Z..2023-08-01T02Z",
        "snapshot-analysis ETH-USDT 2023-08-01T02Z",
    ]
    # ... and so are the data repository's commits.
    log = Repo(cli.env["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"]).git.log("--format=%B")
    assert "Flow-Run: backfill ETH-USDT 2023-08-01T00Z..2023-08-01T02Z (" in log

    status = cli("server", "status")
    assert status.returncode == 0 and "local Prefect server at" in status.stdout

    stopped = cli("server", "stop")
    assert stopped.returncode == 0 and "stopped the local Prefect server" in stopped.stdout
    assert not server_is_healthy(cli.url)
    assert "no local Prefect server" in cli("server", "stop").stdout


def test_ephemeral_mode_leaves_no_server_behind(cli: Cli) -> None:
    cli.env["MARKET_MAKER_PREFECT_SERVER"] = "ephemeral"
    run = cli(
        "backfill",
        "--symbol",
        "ETH-USDT",
        "--start",
        "2023-08-01T00:00Z",
        "--end",
        "2023-08-01T00:00Z",
    )
    assert run.returncode == 0, run.stderr
    assert not server_is_healthy(cli.url)


def test_an_unknown_server_mode_is_one_line(cli: Cli) -> None:
    cli.env["MARKET_MAKER_PREFECT_SERVER"] = "remote"
    run = cli("analyze", "--symbol", "ETH-USDT", "--hour", "2023-08-01T02:00Z")
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "market-maker analyze: MARKET_MAKER_PREFECT_SERVER must be one of local, ephemeral, "
        "not 'remote'"
    )
