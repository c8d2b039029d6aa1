"""The automations under deployments/automations/: valid, and applied with the Prefect CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from prefect import get_client
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

from tests.deployments.files import PROJECT_ROOT

AUTOMATIONS = PROJECT_ROOT / "deployments/automations"
APPLY = AUTOMATIONS / "apply.py"
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
