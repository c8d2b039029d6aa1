"""The command line starts one local Prefect server, reuses it, names its runs, stops it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from git import Repo

from local_prefect.server import server_is_healthy
from tests.conftest import PROJECT_ROOT
from tests.loopback import LoopbackServer
from tests.server_cli import ServerCli


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[ServerCli]:
    cli = ServerCli(tmp_path)
    yield cli
    cli("server", "stop")


def test_commands_share_one_background_server_that_keeps_their_named_runs(cli: ServerCli) -> None:
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

    # The UI it serves calls this port's API, not 4200's.
    with urllib.request.urlopen(f"{cli.url.removesuffix('/api')}/ui-settings") as response:
        assert json.load(response)["api_url"] == cli.url
    # Its home records it: status and stop find it from anywhere, whatever the port setting.
    record = json.loads((Path(cli.env["PREFECT_HOME"]) / "local-server.json").read_text())
    assert record["port"] == cli.port and record["home"] == cli.env["PREFECT_HOME"]
    del cli.env["MARKET_MAKER_PREFECT_SERVER_PORT"]
    status = cli("server", "status", cwd=Path("/"))
    assert status.returncode == 0 and f"local Prefect server at {cli.url[:-4]}" in status.stdout

    stopped = cli("server", "stop", cwd=Path("/"))
    assert stopped.returncode == 0 and "stopped the local Prefect server" in stopped.stdout
    assert not server_is_healthy(cli.url)
    assert "no local Prefect server" in cli("server", "stop").stdout


def test_ephemeral_mode_leaves_no_server_behind(cli: ServerCli) -> None:
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


def test_an_unknown_server_mode_is_one_line(cli: ServerCli) -> None:
    cli.env["MARKET_MAKER_PREFECT_SERVER"] = "remote"
    run = cli("analyze", "--symbol", "ETH-USDT", "--hour", "2023-08-01T02:00Z")
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "market-maker analyze: MARKET_MAKER_PREFECT_SERVER must be one of local, ephemeral, "
        "not 'remote'"
    )


class ForeignServer(LoopbackServer):
    """Another program on the port, healthy as any Prefect server looks."""

    def __init__(self) -> None:
        self._httpd = None
        self._stopping = threading.Event()

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200 if handler.path == "/api/health" else 404)
        handler.send_header("Content-Length", "4")
        handler.end_headers()
        handler.wfile.write(b"true")


def test_a_server_that_is_not_its_own_on_the_port_is_refused_in_one_line(cli: ServerCli) -> None:
    with ForeignServer() as foreign:
        port = foreign.url.rsplit(":", 1)[1]
        cli.env["MARKET_MAKER_PREFECT_SERVER_PORT"] = port
        run = cli("analyze", "--symbol", "ETH-USDT", "--hour", "2023-08-01T02:00Z")
        status = cli("server", "status")
    assert run.returncode == 2
    [line] = run.stderr.strip().splitlines()
    # It names the holder: this test's process, by its pid and command line.
    assert line.startswith(f"market-maker analyze: port {port} is taken by pid {os.getpid()} (")
    assert line.endswith(
        f"), not by the local Prefect server of {cli.env['PREFECT_HOME']}; stop it, or set "
        "MARKET_MAKER_PREFECT_SERVER_PORT to a free port (or PREFECT_API_URL to use that server)"
    )
    assert f"port {port} is taken by pid {os.getpid()}" in status.stdout
    assert not (Path(cli.env["PREFECT_HOME"]) / "local-server.json").exists()


def test_without_prefect_home_the_home_is_the_checkouts_var_prefect_from_anywhere() -> None:
    """make exports PREFECT_HOME=$(CURDIR)/var/prefect; by hand it is unset: the same home."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_HOME"}
    code = "from local_prefect.server import prefect_home; print(prefect_home())"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd="/", env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == str(PROJECT_ROOT / "var" / "prefect")
    assert "export PREFECT_HOME ?= $(CURDIR)/var/prefect" in (PROJECT_ROOT / "Makefile").read_text()
