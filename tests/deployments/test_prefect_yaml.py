"""prefect.yaml, offline: it parses, its entrypoints load, its parameters and schedules fit."""

from __future__ import annotations

import asyncio
import re
import typing
from typing import Any

import pytest
from prefect import Flow
from prefect.cli.deploy._models import PrefectYamlModel
from prefect.client.schemas.schedules import CronSchedule
from prefect.deployments.steps.utility import run_shell_script
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools import validate
from prefect.utilities.templating import apply_values
from pydantic import TypeAdapter

from tests.deployments.files import (
    PROJECT_ROOT,
    TEST_IMAGE,
    WORK_POOL,
    base_job_template,
    deployment_config,
    deployment_configs,
    deployment_names,
    dockerfile_final_stage,
    prefect_yaml,
)

SHARED_JOB_VARIABLES = prefect_yaml()["definitions"]["job_variables"]
RUN_SHELL_SCRIPT = "prefect.deployments.steps.run_shell_script"
# The cron of each scheduled deployment (UTC); every other deployment runs on demand.
SCHEDULED = {"hourly-pipeline": "5 * * * *", "daily-kpi": "15 0 * * *", "maintenance": "30 3 2 * *"}


def load_flow(name: str) -> Flow[..., Any]:
    entrypoint = deployment_config(name)["entrypoint"]
    return load_flow_from_entrypoint(str(PROJECT_ROOT / entrypoint), use_placeholder_flow=False)


def test_prefect_yaml_parses_as_prefect_deploy_reads_it() -> None:
    model = PrefectYamlModel.model_validate(prefect_yaml())
    assert [d.name for d in model.deployments] == deployment_names()
    assert len(set(deployment_names())) == len(deployment_names())


def test_the_deployments_of_the_current_flows_are_all_there() -> None:
    assert {
        "hourly-pipeline",
        "hourly-collection",
        "backfill",
        "validate-snapshots",
        "snapshot-analysis",
        "exit-evaluation",
        "daily-kpi",
    } <= set(deployment_names())


@pytest.mark.parametrize("name", deployment_names())
def test_every_entrypoint_loads_the_real_flow(name: str) -> None:
    flow = load_flow(name)
    assert isinstance(flow, Flow)
    assert flow.fn.__module__ != "prefect.flows"  # not Prefect's placeholder


@pytest.mark.parametrize("name", deployment_names())
def test_every_deployment_has_a_description_tags_and_the_kubernetes_pool(name: str) -> None:
    config = deployment_config(name)
    assert len(config["description"]) > 40
    assert "market-maker" in config["tags"]
    assert config["work_pool"]["name"] == WORK_POOL


@pytest.mark.parametrize("name", deployment_names())
def test_every_parameter_default_validates_against_the_flow_signature(name: str) -> None:
    flow = load_flow(name)
    hints = typing.get_type_hints(flow.fn, include_extras=True)
    parameters = deployment_config(name).get("parameters") or {}
    for key, value in parameters.items():
        assert key in hints, f"{name}: {key} is not a parameter of {flow.name}"
        TypeAdapter(hints[key]).validate_python(value)  # pydantic types and validators
    # What the server checks when a run is created (enforce_parameter_schema).
    schema = parameter_schema(flow).model_dump_for_openapi()
    validate(parameters, schema, raise_on_error=True, ignore_required=True)


@pytest.mark.parametrize("name", deployment_names())
def test_scheduled_deployments_supply_every_required_parameter(name: str) -> None:
    config = deployment_config(name)
    if not config.get("schedules"):
        pytest.skip(f"{name} has no schedule: runs name their parameters")
    flow = load_flow(name)
    flow.validate_parameters(config.get("parameters") or {})


@pytest.mark.parametrize("name", deployment_names())
def test_every_schedule_is_a_valid_cron_in_utc(name: str) -> None:
    for schedule in deployment_config(name).get("schedules") or []:
        assert schedule["timezone"] == "UTC"
        CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])


def test_only_the_scheduled_flows_have_a_schedule() -> None:
    for config in deployment_configs():
        crons = [s["cron"] for s in config.get("schedules") or []]
        expected = [SCHEDULED[config["name"]]] if config["name"] in SCHEDULED else []
        assert crons == expected, config["name"]


def test_scheduled_deployments_run_one_at_a_time() -> None:
    for config in deployment_configs():
        if config.get("schedules"):
            assert config["concurrency_limit"] == 1, config["name"]


@pytest.mark.parametrize("name", deployment_names())
def test_every_deployment_keeps_all_shared_job_variables(name: str) -> None:
    """A per-deployment override repeats the shared mapping (YAML merges are shallow)."""
    job_variables = deployment_config(name)["work_pool"]["job_variables"]
    assert set(SHARED_JOB_VARIABLES) <= set(job_variables)
    assert job_variables["image"] == "{{ $MARKET_MAKER_IMAGE }}"
    assert job_variables["env"]["MARKET_MAKER_CONFIG"] == "config/production.yaml"
    assert job_variables["env"]["PREFECT_LOGGING_EXTRA_LOGGERS"] == "market_maker"


@pytest.mark.parametrize("name", deployment_names())
def test_job_variables_fit_the_work_pool_variables(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKET_MAKER_IMAGE", TEST_IMAGE)
    job_variables = apply_values(deployment_config(name)["work_pool"]["job_variables"], {})
    assert job_variables["image"] == TEST_IMAGE
    schema = base_job_template()["variables"]
    assert set(job_variables) <= set(schema["properties"])
    validate(job_variables, schema, raise_on_error=True, ignore_required=True)


def test_pull_step_enters_the_project_directory_of_the_image() -> None:
    (step,) = prefect_yaml()["pull"]
    directory = step["prefect.deployments.steps.set_working_directory"]["directory"]
    final_stage = dockerfile_final_stage()
    assert f"WORKDIR {directory}\n" in final_stage
    for needed in ("flows/", "config/", "data/"):
        assert re.search(rf"^COPY {needed} {needed}$", final_stage, re.MULTILINE), needed


def test_deploy_refuses_to_register_without_an_image(monkeypatch: pytest.MonkeyPatch) -> None:
    """The build step `prefect deploy` runs first (called directly: no server, no events)."""
    (step,) = prefect_yaml()["build"]
    arguments = {k: v for k, v in step[RUN_SHELL_SCRIPT].items() if k != "id"}
    monkeypatch.delenv("MARKET_MAKER_IMAGE", raising=False)
    with pytest.raises(RuntimeError, match="set MARKET_MAKER_IMAGE"):
        asyncio.run(run_shell_script(**arguments))
    monkeypatch.setenv("MARKET_MAKER_IMAGE", TEST_IMAGE)
    asyncio.run(run_shell_script(**arguments))


def test_every_flow_in_a_deployment_is_served_locally_the_same_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from local_prefect.serve import build_deployments

    monkeypatch.chdir(PROJECT_ROOT)  # entrypoints are relative to the working directory
    served = {d.name: d for d in build_deployments()}
    assert list(served) == deployment_names()
    for config in deployment_configs():
        deployment = served[config["name"]]
        assert deployment.entrypoint == config["entrypoint"]
        assert deployment.parameters == (config.get("parameters") or {})
        assert deployment.description == config["description"]
        assert deployment.tags == config["tags"]
        assert deployment.concurrency_limit == config.get("concurrency_limit")
        assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in deployment.schedules] == [
            (s["cron"], s["timezone"], s.get("active", True)) for s in config.get("schedules") or []
        ]
