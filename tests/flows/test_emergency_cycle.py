"""The emergency receipt cycle end to end: the hourly pipeline over the 17 August 2023 break,
alerts to a real HTTP server speaking Pushover's messages and receipts API.

The emergency's receipt is recorded; later runs poll it; once the operator acknowledges no
other emergency goes out for that state, only reminders at a lower priority and a slower
cadence; the acknowledgement (who, when, after how long) is in the exit-state file; a failed
poll is logged and retried; nothing is sent twice; the token appears in no log or file.
"""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.hourly_pipeline import hourly_pipeline
from market_maker.alerts.emergency import who
from market_maker.exit_strategy.store import ExitStateStore
from tests.alerts.pushover_server import (
    RECEIPTS_PREFIX,
    TOKEN,
    USER_KEY,
    FakePushover,
    Fault,
)
from tests.flows.conftest import repo_with_grid

SYMBOL = "ETH-USDT"
HISTORY = (datetime(2023, 8, 14, tzinfo=UTC), datetime(2023, 8, 16, 23, tzinfo=UTC))
LAST = datetime(2023, 8, 17, 23, tzinfo=UTC)  # the break is on 17 August
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def repo(tmp_path: Path, alerts: FakePushover, monkeypatch: pytest.MonkeyPatch) -> Path:
    return repo_with_grid(tmp_path, alerts, monkeypatch, symbol=SYMBOL, history=HISTORY)


def state_at(repo: Path, hour: datetime) -> str:
    day = ExitStateStore(repo).day(SYMBOL, hour.date())
    assert day is not None
    return next(e.state for e in reversed(day.latest()) if e.hour == hour)


def hour_of(form: dict[str, str]) -> datetime:
    return datetime.fromtimestamp(int(form["timestamp"]), UTC)


def test_an_acknowledged_emergency_is_not_repeated_only_reminded(
    repo: Path, alerts: FakePushover, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # Hour by hour into the break until the first emergency.
    hour = HISTORY[1]
    while not alerts.emergencies():
        hour += timedelta(hours=1)
        assert hour <= LAST, "no MANDATORY_EXIT on the day of the break"
        hourly_pipeline(symbols=[SYMBOL], hour=hour)
    first = hour
    [emergency] = alerts.emergencies()
    assert "STOP THE GRID NOW" in emergency["message"]
    attachment = alerts.attachment_of(emergency)
    assert attachment is not None and attachment.data.startswith(PNG)
    assert attachment.content_type == "image/png"
    [receipt] = alerts.receipts
    day = ExitStateStore(repo).day(SYMBOL, first.date())
    [sent] = [d for d in day.deliveries if d.hour == first and d.key == "MANDATORY_EXIT"]
    assert (sent.receipt, sent.priority, sent.ok) == (receipt, 2, True)

    # An hour later nobody has acknowledged: the receipt is polled, and while Pushover still
    # repeats the emergency no second one is sent.
    hour += timedelta(hours=1)
    hourly_pipeline(symbols=[SYMBOL], hour=hour)
    polls = [r for r in alerts.requests if r.path.startswith(RECEIPTS_PREFIX)]
    assert polls and polls[-1].method == "GET" and polls[-1].form == {"token": TOKEN}
    assert len(alerts.emergencies()) == 1

    # The operator acknowledges on the phone; the next poll fails (Pushover is down): it is
    # logged, the evaluation goes on, and the run after that learns of the acknowledgement.
    acknowledged_at = datetime.now(UTC).replace(microsecond=0)
    alerts.acknowledge(receipt, device="pixel-7", at=acknowledged_at)
    alerts.inject(Fault.server_error(503), path=RECEIPTS_PREFIX)
    hour += timedelta(hours=1)
    result = hourly_pipeline(symbols=[SYMBOL], hour=hour)
    assert result.lines[SYMBOL]
    assert f"receipt {receipt} not polled" in caplog.text
    hour += timedelta(hours=1)
    hourly_pipeline(symbols=[SYMBOL], hour=hour)
    day = ExitStateStore(repo).day(SYMBOL, hour.date())
    [ack] = [r for r in day.receipts if r.receipt == receipt]
    assert ack.outcome == "acknowledged" and ack.hour == hour and ack.alert_hour == first
    assert ack.acknowledged_by == who(USER_KEY) and ack.acknowledged_by_device == "pixel-7"
    assert ack.acknowledged_at == acknowledged_at and ack.response_seconds is not None

    # On through the day: no more emergencies for the state, reminders every 4 hours (the
    # default) at priority 0 while it holds.
    while hour < LAST:
        hour += timedelta(hours=1)
        hourly_pipeline(symbols=[SYMBOL], hour=hour)
    held = [h for h in (first + timedelta(hours=i) for i in range(24)) if h <= LAST]
    held = held[
        : next((i for i, h in enumerate(held) if state_at(repo, h) != "MANDATORY_EXIT"), len(held))
    ]
    assert len(alerts.emergencies()) == 1
    reminders = [m for m in alerts.accepted if hour_of(m) in held and m["priority"] != "2"]
    assert reminders, "MANDATORY_EXIT held for hours after the acknowledgement, unreminded"
    times = [first] + [hour_of(m) for m in reminders]
    assert all(b - a >= timedelta(hours=4) for a, b in itertools.pairwise(times))
    for m in reminders:
        assert m["priority"] == "0" and "reminder" in m["title"]
        assert f"acknowledged by {who(USER_KEY)} on pixel-7" in m["message"]
        assert alerts.attachment_of(m) is not None
    # The receipt is final: it is not polled again.
    polls_before = len([r for r in alerts.requests if r.path.startswith(RECEIPTS_PREFIX)])
    sent_before = len(alerts.accepted)

    # Rerunning an hour sends nothing and polls nothing.
    hourly_pipeline(symbols=[SYMBOL], hour=LAST)
    assert len(alerts.accepted) == sent_before
    assert len([r for r in alerts.requests if r.path.startswith(RECEIPTS_PREFIX)]) == polls_before

    # The token is in no log line and in no file of the data repository.
    assert TOKEN not in caplog.text and USER_KEY not in caplog.text
    for path in repo.rglob("*.yaml"):
        text = path.read_text()
        assert TOKEN not in text and USER_KEY not in text, path


def test_an_emergency_nobody_acknowledges_is_sent_again_once_it_expired(
    repo: Path, alerts: FakePushover
) -> None:
    hour = HISTORY[1]
    while not alerts.emergencies():
        hour += timedelta(hours=1)
        assert hour <= LAST
        hourly_pipeline(symbols=[SYMBOL], hour=hour)
    [receipt] = alerts.receipts
    alerts.expire(receipt)

    hour += timedelta(hours=1)
    hourly_pipeline(symbols=[SYMBOL], hour=hour)

    if state_at(repo, hour) == "MANDATORY_EXIT":
        assert len(alerts.emergencies()) == 2
    day = ExitStateStore(repo).day(SYMBOL, hour.date())
    [outcome] = [r for r in day.receipts if r.receipt == receipt]
    assert outcome.outcome == "expired" and outcome.acknowledged_at is None
