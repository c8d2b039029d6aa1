"""The pipeline's schedule follows the collection period (snapshots.period_minutes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_prefect.serve import PERIOD_DEPLOYMENT, check_cadence, read_deployment_configs
from market_maker.base.timeutil import cron_period, period_cron
from market_maker.config import load_settings
from tests.deployments.files import PROJECT_ROOT, deployment_config


@pytest.mark.parametrize("overlay", [None, "config/production.yaml"])
def test_the_pipeline_cron_runs_once_per_configured_period(overlay: str | None) -> None:
    """Changing snapshots.period_minutes without the cron in prefect.yaml fails here."""
    period = load_settings(PROJECT_ROOT / overlay if overlay else None).snapshots.period_minutes
    crons = [s["cron"] for s in deployment_config(PERIOD_DEPLOYMENT)["schedules"]]
    assert crons, "the pipeline has a schedule"
    for cron in crons:
        cadence = cron_period(cron)
        assert cadence is not None and cadence[0] == period, (
            f"prefect.yaml: {PERIOD_DEPLOYMENT} cron {cron!r} does not run once per "
            f"{period}-minute period: use {period_cron(period, 5 % period)!r}"
        )
    check_cadence(read_deployment_configs(PROJECT_ROOT / "prefect.yaml"), period)


def test_serve_refuses_a_cron_that_does_not_follow_the_period(tmp_path: Path) -> None:
    configs = read_deployment_configs(PROJECT_ROOT / "prefect.yaml")
    with pytest.raises(
        ValueError, match=r"snapshots.period_minutes is 15.*'5,20,35,50 \* \* \* \*'"
    ):
        check_cadence(configs, 15)
    quarter = [
        {**c, "schedules": [{"cron": period_cron(15, 5), "timezone": "UTC"}]}
        if c["name"] == PERIOD_DEPLOYMENT
        else c
        for c in configs
    ]
    check_cadence(quarter, 15)
    with pytest.raises(ValueError, match="period_minutes is 60"):
        check_cadence(quarter, 60)
