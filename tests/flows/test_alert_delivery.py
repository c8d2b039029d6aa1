"""A failed alert is not a sent alert: every attempt is recorded, retried while it holds.

The hourly pipeline over recorded hours of 2023-08-16: a WARNING escalates at 22:00 and
persists at 23:00, when the 4 h rate limit would keep a delivered alert from repeating.
Alerts go to a real HTTP server that speaks Pushover's format (and takes the webhook).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.hourly_pipeline import hourly_pipeline
from market_maker.exit_strategy.store import read_day_file
from tests.alerts.pushover_server import FakePushover, Fault
from tests.flows.conftest import repo_with_grid

SYMBOL = "ETH-USDT"
HISTORY = (datetime(2023, 8, 16, 12, tzinfo=UTC), datetime(2023, 8, 16, 21, tzinfo=UTC))
ESCALATION = datetime(2023, 8, 16, 22, tzinfo=UTC)  # NORMAL -> WARNING
PERSISTS = datetime(2023, 8, 16, 23, tzinfo=UTC)  # still WARNING, 1 h later


@pytest.fixture
def repo(tmp_path: Path, alerts: FakePushover, monkeypatch: pytest.MonkeyPatch) -> Path:
    return repo_with_grid(
        tmp_path, alerts, monkeypatch, symbol=SYMBOL, webhook=True, history=HISTORY
    )


def run(hour: datetime, *, delivered: bool = True) -> str:
    """The hour's line; the run fails (its notify step failed) exactly when a message was
    not delivered."""
    state = hourly_pipeline(symbols=[SYMBOL], hour=hour, return_state=True)
    assert state.is_completed() == delivered, state.message
    outcome = state.result(raise_on_failure=False)
    result = outcome if delivered else outcome.result
    if not delivered:
        assert list(result.failed) == [SYMBOL]
        assert result.failed[SYMBOL].startswith("notify: not delivered: exit alert on ")
    return result.lines[SYMBOL][0]


def day(repo: Path):
    return read_day_file(repo / "exit_states" / SYMBOL / "2023-08-16.yaml")


def test_an_alert_pushover_refused_is_recorded_as_undelivered_and_sent_at_the_next_run(
    repo: Path, alerts: FakePushover
) -> None:
    alerts.inject(Fault.server_error(503))

    line = run(ESCALATION, delivered=False)

    assert "NORMAL -> WARNING" in line
    assert "NOT delivered (pushover: Pushover server error (HTTP 503)" in line
    assert "notified (webhook" in line  # the other channel took it
    file = day(repo)
    assert [e.hour for e in file.evaluations].count(ESCALATION) == 1
    assert not [d for d in file.notified() if d.hour == ESCALATION and d.channel != "webhook"]
    assert file.last_notified("WARNING") != ESCALATION
    attempts = {(d.channel, d.ok) for d in file.deliveries if d.hour == ESCALATION}
    assert attempts == {("pushover", False), ("webhook", True)}
    assert alerts.accepted == [] and len(alerts.webhook) == 1

    # An hour later the state holds: the rate limit would keep a delivered WARNING quiet,
    # but this one never reached the phone, so it goes now, saying it is late. The webhook
    # had it: it is not sent again.
    line = run(PERSISTS)

    (sent,) = alerts.accepted
    assert "WARNING" in sent["title"]
    assert "Sent late: the alert for 2023-08-16 22:00 UTC could not be delivered" in sent["message"]
    assert len(alerts.webhook) == 1
    assert "notified (pushover" in line
    file = day(repo)
    assert file.last_notified("WARNING") == PERSISTS
    assert {(d.channel, d.ok) for d in file.deliveries if d.hour == PERSISTS} == {
        ("pushover", True)
    }

    # Rerunning the hour sends nothing more and changes no file.
    before = (repo / "exit_states" / SYMBOL / "2023-08-16.yaml").read_bytes()
    line = run(PERSISTS)
    assert len(alerts.accepted) == 1 and len(alerts.webhook) == 1
    assert "notified" not in line
    assert (repo / "exit_states" / SYMBOL / "2023-08-16.yaml").read_bytes() == before


def test_only_the_channel_that_failed_is_retried(repo: Path, alerts: FakePushover) -> None:
    alerts.inject(Fault(status=502, body=b"bad gateway"), path="/webhook")

    line = run(ESCALATION, delivered=False)

    assert "notified (pushover" in line and "NOT delivered (webhook: HTTP 502" in line
    assert len(alerts.accepted) == 1 and alerts.webhook == []

    run(PERSISTS)

    assert len(alerts.accepted) == 1  # the phone is not woken twice for one WARNING
    (late,) = alerts.webhook
    assert late["state"] == "WARNING"
    assert "Sent late" in late["message"]


def test_an_alert_delivered_is_never_sent_twice_by_a_rerun(
    repo: Path, alerts: FakePushover
) -> None:
    run(ESCALATION)
    assert len(alerts.accepted) == 1 and len(alerts.webhook) == 1

    line = run(ESCALATION)

    assert len(alerts.accepted) == 1 and len(alerts.webhook) == 1
    assert "notified" not in line
