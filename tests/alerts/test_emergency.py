"""The receipts API against the Pushover stand-in, and the emergency cycle's rules."""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_maker.alerts import emergency
from market_maker.alerts.message import exit_notification
from market_maker.alerts.notifier import Notifier
from market_maker.alerts.pushover import NotificationRejected, PushoverClient
from market_maker.base import redaction
from market_maker.config.models import NotificationSettings, PushoverSettings
from market_maker.decisions.states import RECOMMENDATION, ExitState
from market_maker.exit_strategy.model import DeliveryRecord, ExitStateFile, ReceiptRecord
from tests.alerts.pushover_server import (
    RECEIPTS_PREFIX,
    TOKEN,
    USER_KEY,
    FakePushover,
    Fault,
)

HOUR = datetime(2023, 8, 17, 1, tzinfo=UTC)
KEY = "MANDATORY_EXIT"


def mandatory():
    return exit_notification(
        symbol="ETH-USDT",
        grid_id="eth-grid-1",
        hour=HOUR,
        state=ExitState.MANDATORY_EXIT,
        previous=ExitState.LATEST_ACCEPTABLE_EXIT,
        recommendation=RECOMMENDATION[ExitState.MANDATORY_EXIT],
        price=1648.93,
        lower=1780.0,
        upper=1900.0,
        verdict="TREND",
        confidence=0.8,
        reasons=["price_outside_grid: price 1648.93 below the grid [1780, 1900]"],
        decision_id="dec-ETH-USDT-20230817-020000",
        expires_at=HOUR + timedelta(hours=1, minutes=15),
        url=None,
    )


class NoSleep:
    def __call__(self, seconds: float) -> None:
        pass


def test_an_emergency_returns_a_receipt_that_polls_until_acknowledged(
    pushover_settings: PushoverSettings, pushover: FakePushover
) -> None:
    client = PushoverClient(pushover_settings, sleep=NoSleep())
    receipt = client.send(mandatory())["receipt"]

    status = client.receipt(receipt)
    assert not status.acknowledged and not status.expired and status.expires_at is not None
    [poll] = [r for r in pushover.requests if r.path.startswith(RECEIPTS_PREFIX)]
    assert poll.method == "GET" and poll.path == f"/1/receipts/{receipt}.json"
    assert poll.form == {"token": TOKEN}

    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    pushover.acknowledge(receipt, device="pixel-7", at=at)
    status = client.receipt(receipt)
    assert status.acknowledged and status.acknowledged_at == at
    assert status.acknowledged_by == USER_KEY and status.acknowledged_by_device == "pixel-7"


def test_a_cancelled_emergency_reads_as_expired(
    pushover_settings: PushoverSettings, pushover: FakePushover
) -> None:
    client = PushoverClient(pushover_settings, sleep=NoSleep())
    receipt = client.send(mandatory())["receipt"]
    client.cancel(receipt)
    assert pushover.receipts[receipt].cancelled
    assert pushover.requests[-1].method == "POST"
    assert pushover.requests[-1].path == f"/1/receipts/{receipt}/cancel.json"
    assert client.receipt(receipt).expired


def test_something_that_is_not_a_receipt_never_reaches_a_url(
    pushover_settings: PushoverSettings, pushover: FakePushover
) -> None:
    client = PushoverClient(pushover_settings, sleep=NoSleep())
    with pytest.raises(NotificationRejected, match="not a Pushover receipt"):
        client.receipt("../messages")
    assert pushover.requests == []


def test_a_failed_poll_is_logged_without_the_token_and_answers_none(
    notification_settings: NotificationSettings,
    pushover: FakePushover,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = notification_settings.model_copy(
        update={"pushover": notification_settings.pushover.model_copy(update={"attempts": 1})}
    )
    notifier = Notifier(settings)
    [delivery] = notifier.send(mandatory())
    assert delivery.receipt and delivery.priority == 2
    pushover.inject(Fault.server_error(503), path=RECEIPTS_PREFIX)

    redaction.install_log_redaction()  # as every entry point (CLI, flows) does
    with caplog.at_level(logging.DEBUG):
        assert notifier.receipt(delivery.receipt) is None
        with FakePushover() as gone:
            url = gone.messages_url
        down = settings.pushover.model_copy(update={"api_url": url})
        assert Notifier(NotificationSettings(pushover=down)).receipt(delivery.receipt) is None

    assert f"receipt {delivery.receipt} not polled" in caplog.text
    assert "HTTP 503" in caplog.text and "unreachable" in caplog.text
    assert TOKEN not in caplog.text
    assert "token=***" in caplog.text  # urllib3's request line, masked


def test_without_pushover_keys_there_is_nothing_to_poll() -> None:
    assert Notifier(NotificationSettings()).receipt("a" * 30) is None


# -- the cycle -----------------------------------------------------------------------------

SENT_AT = datetime(2026, 1, 1, 10, 5, tzinfo=UTC)


def sent(hour: datetime = HOUR, receipt: str = "r" * 30, key: str = KEY) -> DeliveryRecord:
    return DeliveryRecord(
        hour=hour,
        grid_id="eth-grid-1",
        key=key,
        channel="pushover",
        attempted_at=SENT_AT,
        ok=True,
        detail=f"request x, receipt {receipt}",
        priority=2,
        receipt=receipt,
    )


def acked(d: DeliveryRecord, minutes: int = 7) -> ReceiptRecord:
    return ReceiptRecord(
        hour=d.hour + timedelta(hours=1),
        grid_id="eth-grid-1",
        receipt=d.receipt,
        alert_hour=d.hour,
        key=d.key,
        sent_at=d.attempted_at,
        outcome="acknowledged",
        acknowledged_at=d.attempted_at + timedelta(minutes=minutes),
        acknowledged_by=emergency.who(USER_KEY),
        acknowledged_by_device="pixel-7",
        response_seconds=minutes * 60,
    )


def cycle(**kw) -> emergency.Cycle:
    args = {
        "start": HOUR,
        "key": KEY,
        "sent": [],
        "outcomes": {},
        "now": SENT_AT + timedelta(minutes=30),
        "expire_seconds": 3600,
        "actions": [],
        **kw,
    }
    return emergency.cycle(**args)


RATE_LIMIT = (True, "rate limit says send")


def decide(c: emergency.Cycle, hours_after: int, last: datetime | None = HOUR) -> bool:
    send, why = c.decide(
        key=KEY,
        hour=HOUR + timedelta(hours=hours_after),
        last=last,
        reminder_hours=4,
        otherwise=RATE_LIMIT,
    )
    assert why
    return send


def test_while_an_emergency_rings_no_other_is_sent() -> None:
    d = sent()
    c = cycle(sent=[d])
    assert c.ringing == d and c.ringing_until == SENT_AT + timedelta(hours=1)
    assert not decide(c, 1)


def test_an_emergency_that_expired_unacknowledged_lets_the_rate_limit_decide() -> None:
    d = sent()
    assert decide(cycle(sent=[d], now=SENT_AT + timedelta(hours=2)), 2)
    expired = acked(d).model_copy(
        update={"outcome": "expired", "acknowledged_at": None, "response_seconds": None}
    )
    assert decide(cycle(sent=[d], outcomes={d.receipt: expired}), 2)


def test_after_an_acknowledgement_only_reminders_at_the_slower_cadence() -> None:
    d = sent()
    c = cycle(sent=[d], outcomes={d.receipt: acked(d)})
    assert c.response is not None and "pixel-7" in c.response and "7 min" in c.response
    assert not decide(c, 3) and decide(c, 4)


def test_an_acknowledgement_of_an_earlier_stretch_does_not_count() -> None:
    old = sent(HOUR - timedelta(hours=30))
    c = cycle(sent=[old], outcomes={old.receipt: acked(old)})
    assert c.response is None and decide(c, 0, last=None)


def test_a_recorded_action_stops_the_alerts_or_turns_them_into_reminders() -> None:
    at = HOUR + timedelta(hours=1, minutes=10)
    stopped = cycle(actions=[("executed", at, "dec-1")])
    assert stopped.stopped and not decide(stopped, 12, last=None)
    declined = cycle(actions=[("declined", at, "dec-1")])
    assert declined.response and "'declined' recorded on dec-1" in declined.response
    assert not decide(declined, 2) and decide(declined, 5)


def test_the_episode_starts_where_the_state_last_changed() -> None:
    from market_maker.exit_strategy.model import EvaluationRecord

    def record(h: int, state: str) -> EvaluationRecord:
        return EvaluationRecord(
            hour=HOUR + timedelta(hours=h),
            grid_id="g",
            state=state,
            target=state,
            warning=True,
            conditions=[],
        )

    records = [record(4, KEY), record(3, KEY), record(2, "LATEST_ACCEPTABLE_EXIT"), record(1, KEY)]
    now = HOUR + timedelta(hours=5)
    m, la = ExitState.MANDATORY_EXIT, ExitState.LATEST_ACCEPTABLE_EXIT
    assert emergency.episode_start(records, m, m, now) == HOUR + timedelta(hours=3)
    assert emergency.episode_start(records, m, la, now) == now


@given(
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        min_size=30,
        max_size=30,
    )
)
def test_who_names_a_user_without_its_key(key: str) -> None:
    name = emergency.who(key)
    assert name is not None and key not in name and name == emergency.who(key)


def test_older_exit_state_files_still_read_and_their_receipts_are_recovered() -> None:
    legacy = {
        "schema_version": "1.1",
        "symbol": "ETH-USDT",
        "grid_id": "eth-grid-1",
        "date": "2023-08-17",
        "state": "MANDATORY_EXIT",
        "deliveries": [
            {
                "hour": "2023-08-17T01:00:00Z",
                "grid_id": "eth-grid-1",
                "key": KEY,
                "channel": "pushover",
                "attempted_at": "2026-01-01T10:05:00Z",
                "ok": True,
                "detail": "request 1b2c, receipt " + "k" * 30,
            }
        ],
    }
    file = ExitStateFile.model_validate(legacy)
    assert file.schema_version == "1.3" and file.receipts == []
    assert file.deliveries[0].receipt == "k" * 30 and file.deliveries[0].priority is None
    one_oh = ExitStateFile.model_validate({**legacy, "schema_version": "1.0", "deliveries": []})
    assert one_oh.schema_version == "1.3"
    # A 1.0 file noted only that an hour was notified: that note reads as a delivery on an
    # unknown channel (so it is never sent again), and the note itself is not kept.
    noted = {
        "hour": "2023-08-17T01:00:00Z",
        "grid_id": "eth-grid-1",
        "state": KEY,
        "target": KEY,
        "warning": True,
        "conditions": [],
        "notified": KEY,
        "refusal_notified": True,
    }
    last = {"WARNING": None, "LATEST_ACCEPTABLE_EXIT": None, KEY: "2023-08-17T01:00:00Z"}
    one_oh = ExitStateFile.model_validate(
        {**legacy, "schema_version": "1.0", "deliveries": [], "evaluations": [noted]}
        | {"last_notification": last}
    )
    assert [(d.key, d.channel, d.ok) for d in one_oh.deliveries] == [
        (KEY, "*", True),
        ("ANALYSIS_REFUSED", "*", True),
    ]
    assert one_oh.last_notified(KEY) == datetime(2023, 8, 17, 1, tzinfo=UTC)
    assert "notified" not in one_oh.model_dump()["evaluations"][0]


@settings(max_examples=100, deadline=None)
@given(
    ack_after=st.one_of(st.none(), st.integers(0, 30)),
    expire_minutes=st.sampled_from([30, 60, 90, 180]),
    hours=st.integers(1, 48),
)
def test_once_acknowledged_an_episode_sends_no_other_emergency_only_spaced_reminders(
    ack_after: int | None, expire_minutes: int, hours: int
) -> None:
    """Hour by hour through one episode, the clock moving with the hours: emergencies only
    while nobody acknowledged and the last one expired; reminders 4 h apart after it."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    sent: list[DeliveryRecord] = []
    outcomes: dict[str, ReceiptRecord] = {}
    last: datetime | None = None
    log: list[tuple[datetime, int]] = []
    acked_at: datetime | None = None
    for h in range(hours):
        hour = start + timedelta(hours=h)
        now = hour + timedelta(hours=1, minutes=5)  # the run after the hour closed
        if ack_after is not None and sent and acked_at is None and h >= ack_after:
            first = sent[0]
            outcomes[first.receipt] = acked(first, minutes=1)
            acked_at = hour
        c = cycle(
            start=start,
            sent=sent,
            outcomes=outcomes,
            now=now,
            expire_seconds=expire_minutes * 60,
        )
        rate_limit = (last is None or hour - last >= timedelta(hours=1), "rate limit")
        send, _ = c.decide(key=KEY, hour=hour, last=last, reminder_hours=4, otherwise=rate_limit)
        if not send:
            continue
        priority = 0 if c.response else 2
        log.append((hour, priority))
        last = hour
        if priority == 2:
            receipt = f"{h:030d}"
            d = sent_at(hour, receipt, now)
            sent.append(d)
    emergencies = [h for h, p in log if p == 2]
    reminders = [h for h, p in log if p == 0]
    assert emergencies and emergencies[0] == start  # the episode opens with one
    if acked_at is not None:
        assert all(h < acked_at for h in emergencies)
        assert all(h >= acked_at for h in reminders)
        assert all(b - a >= timedelta(hours=4) for a, b in itertools.pairwise(reminders))
    else:
        assert reminders == []
    # A new emergency only once the previous one stopped repeating.
    for a, b in itertools.pairwise(emergencies):
        assert b - a >= timedelta(minutes=expire_minutes)


def sent_at(hour: datetime, receipt: str, when: datetime) -> DeliveryRecord:
    return sent(hour, receipt).model_copy(update={"attempted_at": when})


# -- the evaluator's poll ------------------------------------------------------------------


def poll(settings, notification_settings, pushover, tmp_path, after: ExitState, ack: bool):
    """An emergency sent for real, then the evaluator's poll at the next hour."""
    from types import SimpleNamespace

    from market_maker.alerts.exit_alerts import ExitAlerts
    from market_maker.exit_strategy.evaluator import ExitDecided
    from market_maker.exit_strategy.store import Prior

    notifier = Notifier(notification_settings)
    [delivery] = notifier.send(mandatory())
    if ack:
        pushover.acknowledge(delivery.receipt, device="pixel-7")
    record = sent(HOUR, delivery.receipt)
    evaluator = ExitAlerts(tmp_path, settings, notifier, lambda symbol, hour: None)
    later = HOUR + timedelta(hours=1)
    evaluation = SimpleNamespace(hour=later, grid_id="eth-grid-1", after=after)
    outcome = ExitDecided("ETH-USDT", later, "eth-grid-1", None, evaluation)  # type: ignore[arg-type]
    outcome.prior = Prior(sent_receipts=[record])
    learned = evaluator._poll_receipts(outcome)
    return delivery.receipt, learned, evaluator, outcome, record


def test_an_emergency_whose_state_eased_is_cancelled_and_recorded(
    settings, notification_settings, pushover, tmp_path
) -> None:
    receipt, learned, *_ = poll(
        settings, notification_settings, pushover, tmp_path, ExitState.LATEST_ACCEPTABLE_EXIT, False
    )
    [record] = learned
    assert record.outcome == "cancelled" and record.receipt == receipt
    assert pushover.receipts[receipt].cancelled


def test_the_evaluator_records_who_acknowledged_and_asks_again_only_after_5_s(
    settings, notification_settings, pushover, tmp_path
) -> None:
    receipt, learned, evaluator, outcome, record = poll(
        settings, notification_settings, pushover, tmp_path, ExitState.MANDATORY_EXIT, True
    )
    [ack] = learned
    assert ack.outcome == "acknowledged" and ack.acknowledged_by == emergency.who(USER_KEY)
    assert ack.acknowledged_by_device == "pixel-7" and not pushover.receipts[receipt].cancelled
    polls = len([r for r in pushover.requests if r.path.startswith(RECEIPTS_PREFIX)])
    from market_maker.exit_strategy.store import Prior

    outcome.prior = Prior(sent_receipts=[record])
    evaluator._poll_receipts(outcome)  # within 5 s: no request
    assert len([r for r in pushover.requests if r.path.startswith(RECEIPTS_PREFIX)]) == polls
