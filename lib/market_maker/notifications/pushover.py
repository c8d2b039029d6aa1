"""The Pushover client: a form POST to the messages endpoint, as Pushover documents it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from market_maker.config.models import PushoverSettings
from market_maker.config.settings import secret_value
from market_maker.errors import MarketMakerError
from market_maker.notifications.message import Notification

log = logging.getLogger(__name__)


class NotificationError(MarketMakerError):
    """A notification could not be delivered (logged by the notifier, never raised further)."""


class NotificationRejected(NotificationError):
    """Pushover refused the request (4xx): resending it unchanged cannot help."""

    def __init__(self, status: int, errors: list[str]):
        self.status = status
        self.errors = errors
        super().__init__(f"Pushover rejected the message (HTTP {status}): {'; '.join(errors)}")

    def __reduce__(self):
        return (type(self), (self.status, self.errors))


class _ServerError(NotificationError):
    """A 5xx or a connection failure: worth one more try after a pause."""


class PushoverClient:
    def __init__(
        self,
        settings: PushoverSettings,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not settings.configured:
            raise NotificationError("Pushover token and user key are not configured")
        self.settings = settings
        self.session = session or requests.Session()
        self._sleep = sleep

    def form(self, n: Notification) -> dict[str, Any]:
        """The documented form fields; priority 2 carries retry and expire."""
        data: dict[str, Any] = {
            "token": secret_value(self.settings.token),
            "user": secret_value(self.settings.user_key),
            "title": n.title,
            "message": n.message,
            "priority": n.priority,
            "timestamp": n.timestamp,
        }
        if n.url:
            data["url"] = n.url
            data["url_title"] = n.url_title or "Details"
        if n.priority == 2:
            data["retry"] = self.settings.emergency_retry_seconds
            data["expire"] = self.settings.emergency_expire_seconds
        return data

    def send(self, n: Notification) -> dict[str, Any]:
        """Deliver; returns Pushover's reply (``request``, and ``receipt`` for priority 2)."""
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.attempts),
            wait=wait_fixed(self.settings.retry_pause_seconds),
            retry=retry_if_exception_type(_ServerError),
            sleep=self._sleep,
            reraise=True,
        )
        return retrying(self._post, self.form(n))

    def _post(self, data: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.session.post(
                self.settings.api_url, data=data, timeout=self.settings.timeout_seconds
            )
        except requests.RequestException as exc:
            raise _ServerError(f"Pushover unreachable: {type(exc).__name__}") from None
        if response.status_code >= 500:
            raise _ServerError(f"Pushover server error (HTTP {response.status_code})")
        try:
            body = response.json()
        except ValueError:
            body = {}
        if 400 <= response.status_code < 500 or body.get("status") != 1:
            errors = body.get("errors") or [response.text[:200] or "no reason given"]
            raise NotificationRejected(response.status_code, [str(e) for e in errors])
        if remaining := response.headers.get("X-Limit-App-Remaining"):
            log.debug("Pushover messages left this month: %s", remaining)
        return body
