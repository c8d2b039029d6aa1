"""``make worker`` for a test: the project's server, the local process pool with every
deployment of prefect.yaml, and a worker, all in a temporary home on a port of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from git import Repo
from prefect import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.conftest import PROJECT_ROOT
from tests.server_cli import ServerCli

POOL = "market-maker-local"
PREFECT = str(Path(sys.executable).with_name("prefect"))
RUN_DEPLOYMENT = PROJECT_ROOT / "deployments/ci/run-deployment.sh"


class LocalPool(ServerCli):
    """The worker's process and what it runs against; ``env`` is its environment (the flow
    runs inherit it), ``api_url`` the server's; calling it runs the command line there."""

    def __init__(self, base: Path, env: dict[str, str]) -> None:
        super().__init__(
            base,
            repo="repo",
            # The schedules are registered, but no scheduled run may land in the middle of
            # a test: the test's server does not create them.
            PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
            PREFECT_WORKER_QUERY_SECONDS="1",
            MARKET_MAKER_DATA_REPOSITORY__LOCK_TIMEOUT_SECONDS="120",
            **env,
        )
        self.api_url = self.url
        self.log = base / "worker.log"
        self.process: subprocess.Popen | None = None

    @property
    def remote(self) -> Repo:
        return Repo(self.base / "remote.git")

    def start(self, timeout: float = 240.0) -> None:
        """``python -m local_prefect.worker``, as ``make worker`` runs it; returns once the
        worker polls the pool."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "local_prefect.worker"],
                cwd=self.base,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while "Worker 'ProcessWorker" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.5)

    def stop_worker(self) -> None:
        """SIGTERM, as Ctrl-C or a pod's end: the worker stops, the server stays."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    cli = ServerCli.__call__

    def run_deployment(
        self, deployment: str, *params: str, timeout: int = 300
    ) -> subprocess.CompletedProcess[str]:
        """CI's trigger, deployments/ci/run-deployment.sh, against the pool's server."""
        env = self.env | {
            "PREFECT_API_URL": self.api_url,
            "PREFECT": PREFECT,
            "RUN_TIMEOUT_SECONDS": str(timeout),
        }
        return subprocess.run(
            [str(RUN_DEPLOYMENT), deployment, *params],
            cwd=self.base,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout + 120,
        )

    @contextmanager
    def client(self) -> Iterator[Any]:
        with (
            temporary_settings(updates={PREFECT_API_URL: self.api_url}),
            get_client(sync_client=True) as client,
        ):
            yield client


@contextmanager
def local_pool(base: Path, env: dict[str, str]) -> Iterator[LocalPool]:
    pool = LocalPool(base, env)
    try:
        pool.start()
        yield pool
    finally:
        pool.stop_worker()
        pool.cli("server", "stop")
