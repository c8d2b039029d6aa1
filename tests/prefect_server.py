"""Prefect's test harness as the suites use it: a temporary local server with its own SQLite
database, heartbeats and telemetry off, its URL in PREFECT_API_URL for subprocesses too."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_SERVER_ANALYTICS_ENABLED,
    temporary_settings,
)
from prefect.testing.utilities import prefect_test_harness


@contextmanager
def harness() -> Iterator[str]:
    # Heartbeats cost about a second per synchronous flow run; tests do not need them. No
    # telemetry either: offline, it only fails (and holds the database while it does).
    updates = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None, PREFECT_SERVER_ANALYTICS_ENABLED: False}
    with temporary_settings(updates=updates), prefect_test_harness(server_startup_timeout=120):
        # A harness started while another suite's is up (one pytest worker runs both) must
        # not inherit the process's events and log workers: they keep the server they were
        # started for, and this server's task runs would be recorded there.
        _restart_workers()
        yield str(PREFECT_API_URL.value())


def _restart_workers() -> None:
    """Stop the events and log workers; the next event or log line starts them afresh, for
    the API URL in force."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (EventsWorker, APILogWorker):
        drained = worker.drain_all()
        if inspect.isawaitable(drained):  # only inside an event loop; the fixtures are sync
            raise RuntimeError("the harness must be entered outside an event loop")


def run_as_deployment(flow: Any, parameters: dict[str, Any], name: str = "tests") -> Any:
    """Run ``flow`` as a worker runs a deployment's flow run: created by the server from a
    deployment (so hooks see a production run), then executed by Prefect's flow engine in
    this process. Returns the final state."""
    from prefect import get_client
    from prefect.flow_engine import run_flow

    deployment_id = flow.to_deployment(name=name).apply()
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run_from_deployment(deployment_id, parameters=parameters)
    return run_flow(flow, flow_run=flow_run, parameters=parameters, return_type="state")
