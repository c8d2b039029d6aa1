"""The automations under deployments/automations/: valid, and applied with the Prefect CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from prefect import get_client
from prefect.events import Event
from prefect.events.clients import get_events_client
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

from tests.alerts.pushover_server import TOKEN as PUSHOVER_TOKEN
from tests.alerts.pushover_server import USER_KEY as PUSHOVER_USER
from tests.alerts.pushover_server import FakePushover
from tests.deployments.files import PROJECT_ROOT

AUTOMATIONS = PROJECT_ROOT / "deployments/automations"
APPLY = AUTOMATIONS / "apply.py"
SILENT = AUTOMATIONS / "pipeline-silent.yaml"
PLACEHOLDERS = ("__PUSHOVER_BLOCK_ID__", "__PUSHOVER_EMERGENCY_BLOCK_ID__")
TOKEN = "a" * 30
USER = "u" * 30


def rendered(path: Path) -> AutomationCore:
    text = path.read_text()
    for placeholder in PLACEHOLDERS:
        text = text.replace(placeholder, str(uuid.uuid4()))
    return AutomationCore.model_validate(yaml.safe_load(text))


def test_every_automation_file_validates_as_prefect_reads_it() -> None:
    names = {path.name: rendered(path) for path in AUTOMATIONS.glob("*.yaml")}
    assert set(names) == {
        "failed-or-crashed.yaml",
        "zombie-runs.yaml",
        "pipeline-failing-repeatedly.yaml",
        "pipeline-silent.yaml",
    }


def test_failed_and_crashed_runs_of_the_project_alert() -> None:
    automation = rendered(AUTOMATIONS / "failed-or-crashed.yaml")
    trigger = automation.trigger
    assert isinstance(trigger, EventTrigger)
    assert trigger.expect == {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}
    assert [a.type for a in automation.actions] == ["send-notification"]


def test_runs_that_stop_sending_heartbeats_are_marked_crashed() -> None:
    automation = rendered(AUTOMATIONS / "zombie-runs.yaml")
    trigger = automation.trigger
    assert isinstance(trigger, EventTrigger)
    assert trigger.posture == Posture.Proactive
    assert trigger.after == {"prefect.flow-run.heartbeat"}
    # Three heartbeats of the 30 s the deployments send (prefect.yaml).
    assert trigger.within.total_seconds() == 90
    prefect_yaml = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    assert prefect_yaml["definitions"]["flow_env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"
    assert automation.actions[0].type == "change-flow-run-state"


def test_three_failed_pipeline_runs_raise_an_emergency() -> None:
    automation = rendered(AUTOMATIONS / "pipeline-failing-repeatedly.yaml")
    assert isinstance(automation.trigger, EventTrigger)
    assert automation.trigger.threshold == 3
    assert (
        "__PUSHOVER_EMERGENCY_BLOCK_ID__"
        in (AUTOMATIONS / "pipeline-failing-repeatedly.yaml").read_text()
    )


def test_a_silent_hourly_pipeline_is_noticed_by_a_proactive_trigger() -> None:
    automation = rendered(SILENT)
    trigger = automation.trigger
    assert isinstance(trigger, EventTrigger)
    assert trigger.posture == Posture.Proactive
    # No `after`: the window is always open, so silence from the start is noticed too.
    assert trigger.after == set() and trigger.for_each == set()
    assert trigger.expect == {"prefect.flow-run.Completed"}
    assert trigger.threshold == 1 and trigger.within.total_seconds() == 2 * 3600
    assert trigger.match_related.root == {  # type: ignore[union-attr]
        "prefect.resource.role": "deployment",
        "prefect.resource.name": "hourly-pipeline",
    }
    prefect_yaml = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    assert "hourly-pipeline" in [d["name"] for d in prefect_yaml["deployments"]]
    assert "__PUSHOVER_EMERGENCY_BLOCK_ID__" in SILENT.read_text()


def completed(deployment: str) -> Event:
    """The event a finished run of ``deployment`` sends."""
    return Event(
        occurred=datetime.now(UTC),
        event="prefect.flow-run.Completed",
        resource={"prefect.resource.id": f"prefect.flow-run.{uuid.uuid4()}"},
        related=[
            {
                "prefect.resource.id": f"prefect.deployment.{uuid.uuid4()}",
                "prefect.resource.role": "deployment",
                "prefect.resource.name": deployment,
            }
        ],
        id=uuid.uuid4(),
    )


@pytest.mark.xdist_group("prefect-server")
def test_the_dead_mans_switch_stays_quiet_while_runs_complete_and_alerts_when_they_stop(
    prefect_api_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The automation as applied, with a 10 s window instead of 2 h (Prefect's minimum for a
    proactive trigger), against the local server's trigger and action services; its alert
    goes through the Pushover block to a real HTTP stand-in."""
    monkeypatch.setenv("PREFECT_API_URL", prefect_api_url)
    sys.path.insert(0, str(AUTOMATIONS))
    try:
        import apply
    finally:
        sys.path.remove(str(AUTOMATIONS))
    with FakePushover() as pushover, get_client(sync_client=True) as client:
        ids = apply.save_blocks(PUSHOVER_TOKEN, PUSHOVER_USER, pushover.messages_url)
        data = yaml.safe_load(apply.render(SILENT, ids))
        data["name"] += f" (test {uuid.uuid4().hex[:6]})"
        data["trigger"]["within"] = 10
        automation_id = client.create_automation(AutomationCore.model_validate(data))
        try:

            async def runs_complete(deployment: str, seconds: float) -> None:
                async with get_events_client() as events:
                    until = time.monotonic() + seconds
                    while time.monotonic() < until:
                        await events.emit(completed(deployment))
                        await asyncio.sleep(2)

            # Runs of the pipeline complete every 2 s for 30 s: three windows, no alert.
            asyncio.run(runs_complete("hourly-pipeline", 30))
            assert pushover.accepted == []
            # Only another deployment's runs complete: the window closes empty and it fires.
            asyncio.run(runs_complete("daily-kpi", 25))
            deadline = time.monotonic() + 30
            while not pushover.accepted and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            client.delete_automation(automation_id)
    alert = pushover.accepted[0]
    assert alert["title"] == "market-maker: no hourly pipeline run completed for 2 hours"
    assert alert["priority"] == "2" and alert["token"] == PUSHOVER_TOKEN


def test_automation_files_reference_blocks_and_hold_no_credentials() -> None:
    def keys(node: object) -> set[str]:
        if isinstance(node, dict):
            return set(node) | {k for v in node.values() for k in keys(v)}
        if isinstance(node, list):
            return {k for v in node for k in keys(v)}
        return set()

    for path in AUTOMATIONS.glob("*.yaml"):
        found = keys(yaml.safe_load(path.read_text())) & {"token", "user", "secrets", "url"}
        assert not found, f"{path.name} holds {found}: credentials belong in the blocks"


@pytest.mark.xdist_group("prefect-server")
def test_apply_saves_the_blocks_and_creates_each_automation_once(
    prefect_api_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_api_url,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__TOKEN": TOKEN,
        "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__USER_KEY": USER,
        "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__API_URL": "http://127.0.0.1:9/1/messages.json",
    }
    for _ in range(2):  # applying again replaces, never duplicates
        result = subprocess.run(
            [sys.executable, str(APPLY)], env=env, capture_output=True, text=True, timeout=180
        )
        assert result.returncode == 0, result.stdout + result.stderr
    with get_client(sync_client=True) as client:
        automations = client.read_automations()
        names = [a.name for a in automations]
        for path in AUTOMATIONS.glob("*.yaml"):
            assert names.count(yaml.safe_load(path.read_text())["name"]) == 1
        block = client.read_block_document_by_name(
            "market-maker-pushover", "custom-webhook", include_secrets=False
        )
    assert block.data["form_data"]["priority"] == "1"
    for automation in automations:
        assert TOKEN not in automation.model_dump_json()
