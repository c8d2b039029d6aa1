"""The command line as a user runs it, a subprocess, against a local Prefect server of its
own: a free port, a Prefect home, and a data repository with its bare remote, all under one
folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from git import Repo

from tests.conftest import PROJECT_ROOT
from tests.loopback import free_port


class ServerCli:
    """``market-maker`` in a clean environment (none of the caller's ``MARKET_MAKER_`` or
    ``PREFECT_`` settings) whose local server listens on ``port``; ``env`` on top."""

    def __init__(self, base: Path, repo: str = "data-repo", **env: str) -> None:
        self.base = base
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        Repo.init(base / "remote.git", bare=True, initial_branch="main")
        own = ("MARKET_MAKER_", "PREFECT_")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
        self.env |= {
            "PREFECT_HOME": str(base / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "MARKET_MAKER_PREFECT_SERVER": "local",
            "MARKET_MAKER_PREFECT_SERVER_PORT": str(self.port),
            "MARKET_MAKER_DATA_REPOSITORY__BASE_PATH": str(base / repo),
            "MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL": str(base / "remote.git"),
            **env,
        }

    def __call__(self, *argv: str, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", *argv],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def flow_run_names(self) -> list[str]:
        """The names of the server's flow runs (up to 50), sorted."""
        request = urllib.request.Request(
            f"{self.url}/flow_runs/filter",
            data=json.dumps({"limit": 50}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return sorted(run["name"] for run in json.load(response))
