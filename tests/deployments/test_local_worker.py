"""The deployments run as in production, on this machine: ``make worker``'s command starts
the project's Prefect server, registers every deployment of prefect.yaml on a local work
pool of Prefect's process type and starts a worker on it; CI's script triggers runs, which
the worker runs as subprocesses, against a KuCoin stand-in on 127.0.0.1 and a real Git
repository with a bare remote.

One worker for the module (it takes about half a minute to come up): the tests run in
order, the last one stops it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    DeploymentFilter,
    DeploymentFilterId,
)
from prefect.client.schemas.objects import FlowRun

from market_maker.base.candles import Interval
from tests.conftest import PROJECT_ROOT, SAMPLE_FILE
from tests.deployments.files import deployment_configs
from tests.deployments.local_pool import POOL, LocalPool, local_pool
from tests.exchange.kucoin_server import FakeKuCoin
from tests.reliability.test_symbol_groups import assert_both_cycles_landed

pytestmark = pytest.mark.xdist_group("local-pool")

KUCOIN_NOW = datetime(2023, 8, 20, 12, 30, 20, tzinfo=UTC)
GROUPS_HOUR = "2023-08-16T22:00:00Z"


@pytest.fixture(scope="module")
def kucoin() -> Iterator[FakeKuCoin]:
    with FakeKuCoin(now=KUCOIN_NOW) as server:
        server.add_symbol("BTC-USDT", server.series(Interval.MINUTE))
        yield server


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory, kucoin: FakeKuCoin) -> Iterator[LocalPool]:
    env = {
        "MARKET_MAKER_EXCHANGE__NAME": "kucoin",
        "MARKET_MAKER_EXCHANGE__BASE_URL": kucoin.url,
        # Two symbols, a group each: the scheduled pipeline fans out.
        "MARKET_MAKER_SYMBOLS": "ETH-USDT,BTC-USDT",
        "MARKET_MAKER_PIPELINE__GROUP_SIZE": "1",
    }
    with local_pool(tmp_path_factory.mktemp("local-pool"), env) as started:
        yield started


def runs_of(client: SyncPrefectClient, deployment: str) -> list[FlowRun]:
    """Every flow run of ``deployment`` ("flow/deployment")."""
    found = client.read_deployment_by_name(deployment)
    return client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[found.id]))
    )


def run_id(result) -> str:
    """The flow run the script created (its first line names it)."""
    return result.stdout.split("run-deployment: flow run ", 1)[1].split()[0]


def test_make_worker_registers_every_deployment_on_a_process_pool_pointed_at_the_checkout(
    pool: LocalPool,
) -> None:
    with pool.client() as client:
        work_pool = client.read_work_pool(POOL)
        deployments = {d.name: d for d in client.read_deployments()}
    assert work_pool.type == "process"
    configs = {c["name"]: c for c in deployment_configs()}
    assert set(deployments) == set(configs)
    for name, config in configs.items():
        deployment = deployments[name]
        assert deployment.work_pool_name == POOL, name
        assert deployment.entrypoint == config["entrypoint"], name
        assert deployment.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(PROJECT_ROOT)}}
        ], name
        assert deployment.parameters == (config.get("parameters") or {}), name
        assert set(deployment.tags) == set(config["tags"]), name
        assert [(s.schedule.cron, s.active) for s in deployment.schedules] == [
            (s["cron"], s.get("active", True)) for s in config.get("schedules") or []
        ], name
        limit = deployment.global_concurrency_limit
        assert (limit.limit if limit else None) == config.get("concurrency_limit"), name
        env = deployment.job_variables["env"]
        cluster_env = config["work_pool"]["job_variables"]["env"]
        # The flow's time limit and the rest, but the worker's configuration, not the cluster's.
        assert env == {k: v for k, v in cluster_env.items() if k != "MARKET_MAKER_CONFIG"}, name
    # The server is the project's own, found from anywhere by its home.
    status = pool.cli("server", "status", cwd=Path("/"))
    assert f"local Prefect server at http://127.0.0.1:{pool.port} " in status.stdout


def test_ci_runs_a_backfill_on_the_worker_and_it_lands_on_the_remote(pool: LocalPool) -> None:
    result = pool.run_deployment(
        "backfill/backfill", "symbol=ETH-USDT", "start=2023-08-01T00:00:00Z",
        "end=2023-08-01T05:00:00Z",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    with pool.client() as client:
        flow_run = client.read_flow_run(run_id(result))
        deployment = client.read_deployment_by_name("backfill/backfill")
    assert flow_run.state.is_completed()
    assert flow_run.name == "backfill ETH-USDT 2023-08-01T00Z..2023-08-01T05Z"
    # The UI shows it under its deployment.
    assert flow_run.deployment_id == deployment.id
    tree = pool.remote.commit("main").tree
    for hour in range(6):
        assert tree / f"snapshots/ETH-USDT/2023/08/01/{hour:02d}.json"
    message = pool.remote.commit("main").message
    assert f"Flow-Run: backfill ETH-USDT 2023-08-01T00Z..2023-08-01T05Z ({flow_run.id})" in message


def test_ci_refuses_invalid_parameters_in_one_line_and_exits_1(pool: LocalPool) -> None:
    result = pool.run_deployment(
        "backfill/backfill", "symbol=eth", "start=2023-08-01T00:00:00Z", "end=2023-08-01T05:00:00Z"
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "run-deployment: backfill/backfill: Error creating flow run: Validation failed for "
        "field 'symbol'. Failure reason: 'eth' does not match '^[A-Z0-9]{2,12}-[A-Z0-9]{2,12}$'"
    ]


def test_a_sweep_fans_its_points_out_as_backtest_runs_on_the_pool_and_ranks_them_as_before(
    pool: LocalPool,
) -> None:
    base = {"data_file": str(SAMPLE_FILE), "start": "2023-07-10T00:00:00Z",
            "end": "2023-07-24T00:00:00Z", "cadence_hours": 24}  # fmt: skip
    result = pool.run_deployment(
        "backtest-sweep/backtest-sweep",
        f"base={json.dumps(base)}",
        'values={"half_width_pct": [3.0, 6.0]}',
        "split=2023-07-17T00:00:00Z",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with pool.client() as client:
        sweep = client.read_flow_run(run_id(result))
        points = runs_of(client, "backtest/backtest")
        parents = {p.parent_task_run_id: client.read_task_run(p.parent_task_run_id) for p in points}
        [table] = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["backtest-sweep"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[sweep.id]),
            )
        )
    assert sweep.parameters["fan_out"] is True  # the deployment's default
    # Each point a run of the backtest deployment, shown under the sweep.
    assert sorted(p.name for p in points) == [
        f"backtest ETH-USDT 2023-07-10T00Z..2023-07-23T23Z point-{n} split 2023-07-17T00Z"
        for n in (1, 2)
    ]
    assert all(p.state.is_completed() for p in points)
    assert {task_run.flow_run_id for task_run in parents.values()} == {sweep.id}
    # Gathered and ranked as the sweep in one process ranks them.
    in_process = pool.cli(
        "backtest-sweep", "--data-file", str(SAMPLE_FILE), "--cadence-hours", "24",
        "--start", "2023-07-10T00:00Z", "--end", "2023-07-24T00:00Z",
        "--split", "2023-07-17T00:00Z", "--vary", "half_width_pct=3.0,6.0",
    )  # fmt: skip
    assert in_process.returncode == 0, in_process.stderr
    assert table.data == in_process.stdout
    assert "| 1 | 3.0 |" in table.data or "| 1 | 6.0 |" in table.data


def test_the_hourly_pipeline_runs_each_configured_group_of_symbols_as_a_run_on_the_pool(
    pool: LocalPool,
) -> None:
    """pipeline.group_size 1 splits the two symbols into two groups (the worker's settings)."""
    result = pool.run_deployment("hourly-pipeline/hourly-pipeline", f"hour={GROUPS_HOUR}")
    assert result.returncode == 0, result.stdout + result.stderr
    with pool.client() as client:
        parent = client.read_flow_run(run_id(result))
        groups = runs_of(client, "hourly-pipeline/hourly-pipeline-group")
        links = {client.read_task_run(g.parent_task_run_id).flow_run_id for g in groups}
    assert parent.name == "hourly-pipeline all symbols 2023-08-16T22Z"
    assert sorted(g.name for g in groups) == [
        "hourly-pipeline group-1 2023-08-16T22Z",
        "hourly-pipeline group-2 2023-08-16T22Z",
    ]
    assert all(g.state.is_completed() for g in groups) and links == {parent.id}
    # Each group in its own working copy, both cycles on the one remote.
    assert_both_cycles_landed(pool.base / "remote.git", GROUPS_HOUR)
    for group in ("group-1", "group-2"):
        assert (pool.base / "repo-groups" / group / ".git").is_dir()


def test_once_the_worker_stops_a_run_times_out_is_cancelled_and_exits_3(pool: LocalPool) -> None:
    """Last in the module: it stops the worker."""
    pool.stop_worker()
    result = pool.run_deployment("validate-snapshots/validate-snapshots", timeout=3)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"run-deployment: flow run {run_id(result)} of validate-snapshots/validate-snapshots "
        "still SCHEDULED after 3s: cancelling it"
    ]
    with pool.client() as client:
        state = client.read_flow_run(run_id(result)).state
    assert state.type.value in ("CANCELLED", "CANCELLING")
    # The server outlives the worker, and stops by the command's own means.
    stopped = pool.cli("server", "stop", cwd=Path("/"))
    assert f"stopped the local Prefect server at http://127.0.0.1:{pool.port}" in stopped.stdout
