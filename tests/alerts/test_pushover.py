"""The Pushover client and the notifier, against a real HTTP server that validates like Pushover."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from market_maker.alerts.message import MAX_MESSAGE, Notification, exit_notification, trim
from market_maker.alerts.notifier import Notifier
from market_maker.alerts.pushover import (
    NotificationError,
    NotificationRejected,
    PushoverClient,
)
from market_maker.config.models import NotificationSettings, PushoverSettings
from market_maker.decisions.states import RECOMMENDATION, ExitState
from tests.alerts.pushover_server import TOKEN, USER_KEY, FakePushover, Fault

HOUR = datetime(2023, 8, 17, 21, tzinfo=UTC)
RUN_URL = "http://prefect.local/runs/flow-run/1234"


def notification(
    state: ExitState = ExitState.WARNING,
    previous: ExitState = ExitState.NORMAL,
    reasons: list[str] | None = None,
    url: str | None = RUN_URL,
) -> Notification:
    return exit_notification(
        symbol="ETH-USDT",
        grid_id="eth-grid-1",
        hour=HOUR,
        state=state,
        previous=previous,
        recommendation=RECOMMENDATION[state],
        price=1620.5,
        lower=1780.0,
        upper=1900.0,
        verdict="TREND",
        confidence=0.82,
        reasons=reasons if reasons is not None else ["price 1620.5 below the grid [1780, 1900]"],
        decision_id="dec-ETH-USDT-20230817-220000",
        expires_at=HOUR + timedelta(hours=1, minutes=15),
        url=url,
    )


class Sleeps(list[float]):
    """Records the pauses the client asks for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(pushover_settings: PushoverSettings, sleeps: Sleeps) -> PushoverClient:
    return PushoverClient(pushover_settings, sleep=sleeps)


def test_the_client_posts_the_documented_form_fields(
    client: PushoverClient, pushover: FakePushover
) -> None:
    n = notification()
    reply = client.send(n)

    assert reply["status"] == 1 and reply["request"]
    [form] = pushover.accepted
    assert form["token"] == TOKEN and form["user"] == USER_KEY
    assert form["title"] == n.title and "WARNING" in form["title"]
    assert form["message"] == n.message and "1,620.50" in form["message"]
    assert form["priority"] == "0"
    assert form["timestamp"] == str(int(HOUR.timestamp()))
    assert form["url"] == RUN_URL and form["url_title"] == "Flow run in Prefect"
    assert "retry" not in form and "expire" not in form


def test_without_a_run_link_no_url_fields_are_sent(
    client: PushoverClient, pushover: FakePushover
) -> None:
    client.send(notification(url=None))
    assert "url" not in pushover.accepted[0] and "url_title" not in pushover.accepted[0]


@pytest.mark.parametrize(
    ("state", "previous", "priority"),
    [
        (ExitState.NORMAL, ExitState.WARNING, -1),
        (ExitState.WARNING, ExitState.NORMAL, 0),
        (ExitState.LATEST_ACCEPTABLE_EXIT, ExitState.WARNING, 1),
        (ExitState.MANDATORY_EXIT, ExitState.NORMAL, 2),
    ],
)
def test_the_priority_follows_the_exit_state(
    client: PushoverClient,
    pushover: FakePushover,
    state: ExitState,
    previous: ExitState,
    priority: int,
) -> None:
    reply = client.send(notification(state, previous))

    [form] = pushover.accepted
    assert int(form["priority"]) == priority
    if priority == 2:
        assert int(form["retry"]) >= 30 and int(form["expire"]) <= 10800
        assert reply["receipt"]
    else:
        assert "retry" not in form and "receipt" not in reply


def test_an_overlong_message_is_cut_at_a_word_boundary_with_an_ellipsis(
    client: PushoverClient, pushover: FakePushover
) -> None:
    reasons = [f"condition number {i} held with a rather long explanation" for i in range(40)]
    n = notification(ExitState.MANDATORY_EXIT, reasons=reasons)
    full = "Why: " + "; ".join(reasons)

    assert len(n.message) <= MAX_MESSAGE
    assert n.message.endswith("…")
    kept = n.message[:-1].split("Why: ", 1)[1]
    assert full.startswith("Why: " + kept)
    assert full[len("Why: " + kept)] in " ;,"  # cut between words, not inside one
    client.send(n)
    assert pushover.accepted[0]["message"] == n.message


def test_trim_cuts_between_words_where_a_hard_cut_would_split_one() -> None:
    text = "alpha beta gamma " * 100  # a cut at 1,023 characters would fall inside a word
    cut = trim(text)
    assert len(cut) <= MAX_MESSAGE and cut.endswith("…")
    assert cut[:-1].split(" ")[-1] in ("alpha", "beta", "gamma")
    assert text.startswith(cut[:-1])


def test_trim_leaves_short_text_alone_and_cuts_one_long_word_hard() -> None:
    assert trim("  all fine  ") == "all fine"
    cut = trim("x" * 2000, 250)
    assert len(cut) == 250 and cut.endswith("…")


def test_a_rejected_request_is_not_retried_and_carries_the_servers_errors(
    pushover_settings: PushoverSettings, pushover: FakePushover, sleeps: Sleeps
) -> None:
    # Bypass the settings' own check (retry >= 30) so that the server is the one to refuse.
    bad = pushover_settings.model_copy(update={"emergency_retry_seconds": 10})
    client = PushoverClient(bad, sleep=sleeps)

    with pytest.raises(NotificationRejected) as raised:
        client.send(notification(ExitState.MANDATORY_EXIT))

    assert raised.value.status == 400
    assert raised.value.errors == ["retry must be at least 30 seconds"]
    assert len(pushover.requests) == 1 and pushover.accepted == []
    assert sleeps == []


def test_a_blank_message_is_rejected_by_the_server(
    client: PushoverClient, pushover: FakePushover
) -> None:
    blank = notification().model_copy(update={"message": "   "})  # skips the model's validation
    with pytest.raises(NotificationRejected, match="message cannot be blank"):
        client.send(blank)
    assert len(pushover.requests) == 1


def test_a_server_error_is_retried_after_a_pause_of_at_least_five_seconds(
    client: PushoverClient, pushover: FakePushover, sleeps: Sleeps
) -> None:
    pushover.inject(Fault.server_error(503))

    reply = client.send(notification())

    assert reply["status"] == 1
    assert [r.status for r in pushover.requests] == [503, 200]
    assert len(sleeps) == 1 and all(s >= 5 for s in sleeps)
    assert len(pushover.accepted) == 1


def test_a_slow_answer_times_out_and_the_next_attempt_delivers(
    pushover_settings: PushoverSettings, pushover: FakePushover, sleeps: Sleeps
) -> None:
    impatient = pushover_settings.model_copy(update={"timeout_seconds": 0.3})
    pushover.inject(Fault.slow(2.0))

    PushoverClient(impatient, sleep=sleeps).send(notification())

    assert len(sleeps) == 1 and sleeps[0] >= 5
    assert len(pushover.accepted) >= 1


def test_a_server_that_keeps_failing_is_given_up_after_the_configured_attempts(
    client: PushoverClient, pushover: FakePushover, sleeps: Sleeps
) -> None:
    pushover.inject(Fault.server_error(502), times=5)
    with pytest.raises(NotificationError, match="HTTP 502"):
        client.send(notification())
    assert len(pushover.requests) == 3
    assert len(sleeps) == 2 and all(s >= 5 for s in sleeps)


def test_the_remaining_monthly_quota_is_read_from_the_headers(
    client: PushoverClient, pushover: FakePushover, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="market_maker.alerts"):
        client.send(notification())
    assert "messages left this month: 9999" in caplog.text


def test_the_notifier_never_raises_when_pushover_is_down(
    pushover_settings: PushoverSettings, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    with FakePushover() as gone:
        down_url = gone.messages_url  # a port nobody listens on once the server stops
    down = pushover_settings.model_copy(update={"api_url": down_url})
    notifier = Notifier(
        NotificationSettings(pushover=down), pushover=PushoverClient(down, sleep=sleeps)
    )
    n = notification(ExitState.MANDATORY_EXIT)

    with caplog.at_level(logging.INFO):
        [delivery] = notifier.send(n)

    assert delivery.channel == "pushover" and not delivery.ok
    assert "unreachable" in delivery.detail
    assert len(sleeps) == 2
    assert n.title in caplog.text and "priority 2" in caplog.text and "not delivered" in caplog.text
    assert TOKEN not in caplog.text and USER_KEY not in caplog.text


def test_the_notifier_logs_a_rejection_with_its_reason_and_without_secrets(
    pushover_settings: PushoverSettings,
    pushover: FakePushover,
    sleeps: Sleeps,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = pushover_settings.model_copy(update={"emergency_retry_seconds": 5})
    notifier = Notifier(
        NotificationSettings(pushover=bad), pushover=PushoverClient(bad, sleep=sleeps)
    )
    with caplog.at_level(logging.INFO):
        [delivery] = notifier.send(notification(ExitState.MANDATORY_EXIT))

    assert not delivery.ok and "retry must be at least 30 seconds" in delivery.detail
    assert "retry must be at least 30 seconds" in caplog.text
    assert TOKEN not in caplog.text and USER_KEY not in caplog.text
    assert len(pushover.requests) == 1


def test_the_webhook_receives_the_same_payload_as_json(
    notification_settings: NotificationSettings, pushover: FakePushover
) -> None:
    settings = notification_settings.model_copy(
        update={"webhook_url": SecretStr(pushover.webhook_url + "?key=s3cret")}
    )
    n = notification(ExitState.LATEST_ACCEPTABLE_EXIT, ExitState.WARNING)

    deliveries = Notifier(settings).send(n)

    assert [(d.channel, d.ok) for d in deliveries] == [("pushover", True), ("webhook", True)]
    assert pushover.webhook == [n.model_dump(mode="json")]
    assert pushover.webhook[0]["priority"] == 1
    assert pushover.webhook[0]["title"] == pushover.accepted[0]["title"]
    assert pushover.webhook[0]["message"] == pushover.accepted[0]["message"]


def test_a_failing_webhook_does_not_stop_pushover_and_its_secret_url_is_not_logged(
    notification_settings: NotificationSettings,
    pushover: FakePushover,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hook = pushover.webhook_url + "?key=s3cret"
    settings = notification_settings.model_copy(update={"webhook_url": SecretStr(hook)})
    pushover.inject(Fault(500, b"boom"), path="/webhook")

    with caplog.at_level(logging.INFO):
        deliveries = Notifier(settings).send(notification())

    assert [(d.channel, d.ok) for d in deliveries] == [("pushover", True), ("webhook", False)]
    assert "HTTP 500" in caplog.text
    assert "s3cret" not in caplog.text


def test_without_pushover_keys_the_message_is_logged_and_nothing_is_posted(
    pushover: FakePushover, caplog: pytest.LogCaptureFixture
) -> None:
    unconfigured = NotificationSettings(pushover=PushoverSettings(api_url=pushover.messages_url))
    n = notification()

    with caplog.at_level(logging.INFO):
        [delivery] = Notifier(unconfigured).send(n)

    assert delivery.channel == "log" and delivery.ok
    assert "would send" in caplog.text and n.title in caplog.text
    assert pushover.requests == []


def test_a_client_without_keys_refuses_to_start() -> None:
    with pytest.raises(NotificationError, match="not configured"):
        PushoverClient(PushoverSettings())
