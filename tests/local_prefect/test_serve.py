"""``make serve`` serves exactly the deployments of prefect.yaml."""

from __future__ import annotations

from local_prefect.serve import build_deployments
from tests.deployments.files import deployment_configs


def test_serve_builds_every_deployment_with_its_schedule_and_limit() -> None:
    served = {d.name: d for d in build_deployments()}
    configs = {c["name"]: c for c in deployment_configs()}
    assert set(served) == set(configs)
    for name, config in configs.items():
        deployment = served[name]
        crons = [s.schedule.cron for s in deployment.schedules or []]
        assert crons == [s["cron"] for s in config.get("schedules") or []], name
        assert all(s.schedule.timezone == "UTC" for s in deployment.schedules or [])
        assert deployment.concurrency_limit == config.get("concurrency_limit"), name
        assert deployment.parameters == (config.get("parameters") or {}), name
        assert set(deployment.tags) == set(config["tags"]), name
