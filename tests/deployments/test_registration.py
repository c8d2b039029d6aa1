"""Registration against a local Prefect server, with the operator's own commands.

`prefect work-pool create` from the base job template, then `prefect --no-prompt deploy
--all`, in subprocesses pointed at the test harness's server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect import get_client

from tests.deployments.files import (
    BASE_JOB_TEMPLATE,
    PROJECT_ROOT,
    TEST_IMAGE,
    WORK_POOL,
    base_job_template,
    deployment_configs,
    prefect_yaml,
)

PREFECT = str(Path(sys.executable).with_name("prefect"))


def run_prefect(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [PREFECT, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, f"prefect {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.xdist_group("prefect-server")
def test_deploy_all_registers_every_deployment_on_the_pool_made_from_the_template(
    prefect_api_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Tests needing the server share one xdist group, so one worker starts it."""
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_api_url,
        "PREFECT_HOME": str(tmp_path_factory.mktemp("prefect-home")),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "MARKET_MAKER_IMAGE": TEST_IMAGE,
    }
    run_prefect(
        [
            "work-pool",
            "create",
            WORK_POOL,
            "--type",
            "kubernetes",
            "--base-job-template",
            str(BASE_JOB_TEMPLATE),
        ],
        env,
    )
    started = time.monotonic()
    run_prefect(["--no-prompt", "deploy", "--all"], env)
    print(f"prefect --no-prompt deploy --all: {time.monotonic() - started:.1f} s")

    with get_client(sync_client=True) as client:
        pool = client.read_work_pool(WORK_POOL)
        deployments = {d.name: d for d in client.read_deployments()}

    assert pool.type == "kubernetes"
    assert pool.base_job_template == base_job_template()
    assert set(deployments) == {config["name"] for config in deployment_configs()}
    for config in deployment_configs():
        deployment = deployments[config["name"]]
        assert deployment.work_pool_name == WORK_POOL
        assert deployment.entrypoint == config["entrypoint"]
        assert deployment.parameters == (config.get("parameters") or {})
        assert set(deployment.tags) == set(config["tags"])
        assert deployment.job_variables["image"] == TEST_IMAGE
        assert deployment.pull_steps == prefect_yaml()["pull"]
        assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in deployment.schedules] == [
            (s["cron"], s["timezone"], s.get("active", True)) for s in config.get("schedules") or []
        ], config["name"]
        limit = deployment.global_concurrency_limit
        assert (limit.limit if limit else None) == config.get("concurrency_limit"), config["name"]
        assert deployment.enforce_parameter_schema is True
        assert deployment.paused is False
