"""Runs of a deployment started by a flow run as its subflow runs, then awaited: a sweep's
points, the hourly pipeline's symbol groups.

Each run is picked up by a worker of the deployment's work pool (on Kubernetes a pod of its
own, locally a subprocess of ``make worker``'s worker); how many run at once is the
deployment's concurrency limit (prefect.yaml). The runs are linked to the flow run that
started them (the UI shows them under it), and keyed by it: a rerun of that flow run
(Retry in the UI) finds the runs its first attempt started instead of starting new ones,
and schedules again those that did not complete.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import ArtifactSort
from prefect.deployments import run_deployment
from prefect.runtime import flow_run
from prefect.states import Scheduled

from flows._common import logger

POLL_SECONDS = 2.0


def start_runs(deployment: str, runs: dict[str, dict[str, Any]]) -> dict[str, UUID]:
    """One run of ``deployment`` ("flow/deployment") per key, with its parameters; the
    flow run id of each key."""
    parent = flow_run.get_id()
    ids = {}
    with get_client(sync_client=True) as client:
        for key, parameters in runs.items():
            run = run_deployment(
                deployment,
                parameters=parameters,
                timeout=0,
                as_subflow=True,
                idempotency_key=f"{parent}:{key}" if parent else None,
            )
            if run.state is not None and run.state.is_final() and not run.state.is_completed():
                logger().info("%s: %s was %s, scheduled again", key, run.name, run.state.name)
                client.set_flow_run_state(run.id, Scheduled(), force=True)
            ids[key] = run.id
    return ids


def wait_for(
    ids: dict[str, UUID], progress: Callable[[int, int], None] | None = None
) -> dict[str, FlowRun]:
    """The runs once every one has ended (the flow's own time limit bounds the wait)."""
    keys = {run_id: key for key, run_id in ids.items()}
    done: dict[str, FlowRun] = {}
    with get_client(sync_client=True) as client:
        while len(done) < len(ids):
            pending = [run_id for run_id, key in keys.items() if key not in done]
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=pending))
            )
            for run in runs:
                if run.state is not None and run.state.is_final():
                    done[keys[run.id]] = run
            if progress is not None:
                progress(len(done), len(ids))
            if len(done) < len(ids):
                time.sleep(POLL_SECONDS)
    return done


def failures(runs: dict[str, FlowRun]) -> dict[str, str]:
    """Why each run that did not complete ended: its state and message."""
    return {
        key: f"{run.name} ended {run.state.name}: {run.state.message or 'no message'}"
        for key, run in runs.items()
        if run.state is not None and not run.state.is_completed()
    }


def table(run_id: UUID, key: str) -> list[dict[str, Any]]:
    """The rows of the run's table artifact ``key``."""
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]),
            ),
            sort=ArtifactSort.CREATED_DESC,  # a run scheduled again: its last attempt's
        )
    if not artifacts:
        raise LookupError(f"flow run {run_id} has no {key} artifact")
    data = artifacts[0].data
    return json.loads(data) if isinstance(data, str) else data
