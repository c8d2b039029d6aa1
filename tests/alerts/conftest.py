"""A Pushover test server per test, and settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from market_maker.config.models import NotificationSettings, PushoverSettings
from tests.alerts.pushover_server import TOKEN, USER_KEY, FakePushover


@pytest.fixture
def pushover() -> Iterator[FakePushover]:
    with FakePushover() as server:
        yield server


@pytest.fixture
def pushover_settings(pushover: FakePushover) -> PushoverSettings:
    return PushoverSettings(
        api_url=pushover.messages_url,
        token=SecretStr(TOKEN),
        user_key=SecretStr(USER_KEY),
        timeout_seconds=2,
    )


@pytest.fixture
def notification_settings(pushover_settings: PushoverSettings) -> NotificationSettings:
    return NotificationSettings(pushover=pushover_settings)
