"""Prefect state hooks: a failed or crashed run alerts the operator by Pushover.

Hooks run inside the flow's process, so they cannot fire when a pod is
killed outright; the automations under deployments/automations/ cover that
from the server's side. Only runs of a deployment alert: a command run by hand
reports its failure on the terminal that ran it.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from market_maker.alerts.message import failure_notification
from market_maker.alerts.notifier import Notifier
from market_maker.base import redaction
from market_maker.base.errors import ConfigurationError
from market_maker.config import load_settings
from market_maker.config.models import NotificationSettings, PushoverSettings

log = logging.getLogger("market_maker.hooks")

FAILED_TYPES = ("FAILED", "CRASHED")


def _notification_settings() -> NotificationSettings:
    """From the configuration; from the environment alone when the configuration is what broke."""
    try:
        return load_settings().notifications
    except ConfigurationError:
        token = os.environ.get("MARKET_MAKER_NOTIFICATIONS__PUSHOVER__TOKEN")
        user = os.environ.get("MARKET_MAKER_NOTIFICATIONS__PUSHOVER__USER_KEY")
        url = os.environ.get("MARKET_MAKER_NOTIFICATIONS__PUSHOVER__API_URL")
        pushover = PushoverSettings(
            token=SecretStr(token) if token and user else None,
            user_key=SecretStr(user) if token and user else None,
            **({"api_url": url} if url else {}),
        )
        return NotificationSettings(pushover=pushover)


def run_url(flow_run: Any, settings: NotificationSettings | None = None) -> str | None:
    """Link to the run in the Prefect UI (notifications.ui_url, else PREFECT_UI_URL)."""
    from prefect.settings import PREFECT_UI_URL

    base = (settings.ui_url if settings else None) or PREFECT_UI_URL.value()
    if not base or flow_run is None:
        return None
    return f"{base.rstrip('/')}/runs/flow-run/{flow_run.id}"


def consecutive_failures(flow_run: Any) -> int:
    """This run plus the earlier runs of the same flow (and deployment) that failed in a row."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowFilter,
        FlowFilterId,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(id=FlowFilterId(any_=[flow_run.flow_id])),
                deployment_filter=(
                    DeploymentFilter(id=DeploymentFilterId(any_=[flow_run.deployment_id]))
                    if flow_run.deployment_id
                    else None
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                limit=20,
            )
    except Exception as exc:  # the alert matters more than the count
        log.warning("could not count earlier failed runs: %s", exc)
        return 1
    count = 1
    for run in runs:
        if run.id == flow_run.id or run.state_type is None:
            continue
        if run.state_type.value not in FAILED_TYPES and run.state_type.value != "RUNNING":
            break
        if run.state_type.value in FAILED_TYPES:
            count += 1
    return count


def is_production_run(flow_run: Any) -> bool:
    """A run created from a deployment: the scheduler, the UI, ``prefect deployment run``, an
    automation, CI. A flow called in-process (the ``market-maker`` command by hand, a test)
    has no deployment: its failure is on the operator's screen already.
    """
    return getattr(flow_run, "deployment_id", None) is not None


def alert_on_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """``on_failure`` / ``on_crashed``: send the flow, the run, the error and the UI link.

    Only for production runs (see ``is_production_run``); a failed command run by hand is
    logged, not alerted.
    """
    if not is_production_run(flow_run):
        log.info(
            "%s: not alerting, a run by hand (no deployment) is not a production incident",
            getattr(flow_run, "name", "?"),
        )
        return
    try:
        settings = _notification_settings()
        n = failure_notification(
            flow_name=getattr(flow, "name", "flow"),
            run_name=getattr(flow_run, "name", "?"),
            state_name=getattr(state, "name", "Failed"),
            error=redaction.redact(getattr(state, "message", "") or "")[:600],
            url=run_url(flow_run, settings),
            consecutive_failures=consecutive_failures(flow_run),
            when=datetime.now(UTC),
        )
        for delivery in Notifier(settings).send(n):
            log.info("failure alert via %s: %s", delivery.channel, delivery.detail)
    except Exception:  # a hook must never raise; Prefect would only log it anyway
        log.exception("failure alert for %s could not be sent", getattr(flow_run, "name", "?"))


FAILURE_HOOKS: dict[str, list[Any]] = {
    "on_failure": [alert_on_failure],
    "on_crashed": [alert_on_failure],
}
