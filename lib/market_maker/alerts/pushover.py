"""The Pushover client: a form POST to the messages endpoint (multipart when an image is
attached), and the receipts API of emergency messages, as Pushover documents them."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import requests
from pydantic import BaseModel, ConfigDict
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from market_maker.alerts.message import Notification
from market_maker.base import redaction
from market_maker.base.errors import MarketMakerError
from market_maker.config.models import PushoverSettings
from market_maker.config.settings import secret_value

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


# Pushover's documented limit for an attached image.
MAX_ATTACHMENT = 5_242_880
RECEIPT = re.compile(r"[A-Za-z0-9]{30}")


class ReceiptStatus(BaseModel):
    """A receipt poll's answer (``GET /1/receipts/{receipt}.json``); times in UTC."""

    model_config = ConfigDict(frozen=True)

    receipt: str
    acknowledged: bool
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledged_by_device: str | None
    expired: bool
    expires_at: datetime | None
    last_delivered_at: datetime | None

    @classmethod
    def from_reply(cls, receipt: str, body: dict[str, Any]) -> ReceiptStatus:
        def when(name: str) -> datetime | None:
            value = int(body.get(name) or 0)
            return datetime.fromtimestamp(value, UTC) if value > 0 else None

        return cls(
            receipt=receipt,
            acknowledged=bool(int(body.get("acknowledged") or 0)),
            acknowledged_at=when("acknowledged_at"),
            acknowledged_by=body.get("acknowledged_by") or None,
            acknowledged_by_device=body.get("acknowledged_by_device") or None,
            expired=bool(int(body.get("expired") or 0)),
            expires_at=when("expires_at"),
            last_delivered_at=when("last_delivered_at"),
        )


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
        # A receipt poll carries the token in its query string, which urllib3 logs at DEBUG:
        # registered, it is masked in every log record (the entry points install that).
        redaction.register([secret_value(settings.token), secret_value(settings.user_key)])

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
        """Deliver; returns Pushover's reply (``request``, and ``receipt`` for priority 2).

        An attached image goes as the ``attachment`` part of a multipart form; one over
        Pushover's limit is left off (logged) rather than losing the message."""
        files = None
        if n.attachment is not None:
            if len(n.attachment) <= MAX_ATTACHMENT:
                files = {"attachment": ("chart.png", n.attachment, "image/png")}
            else:
                log.warning(
                    "chart of %r left off: %d bytes, over Pushover's %d",
                    n.title,
                    len(n.attachment),
                    MAX_ATTACHMENT,
                )
        return self._retrying()(self._post, self.form(n), files)

    def receipt(self, receipt: str) -> ReceiptStatus:
        """Poll an emergency's receipt; raises :class:`NotificationError` when it cannot."""
        body = self._retrying()(self._call, "GET", self._receipt_url(receipt, ".json"))
        return ReceiptStatus.from_reply(receipt, body)

    def cancel(self, receipt: str) -> None:
        """Stop Pushover repeating an emergency nobody needs to acknowledge any more."""
        self._retrying()(self._call, "POST", self._receipt_url(receipt, "/cancel.json"))

    def _receipt_url(self, receipt: str, suffix: str) -> str:
        if not RECEIPT.fullmatch(receipt):
            raise NotificationRejected(0, [f"not a Pushover receipt: {receipt[:40]!r}"])
        # api_url is .../1/messages.json: the receipts live beside it.
        return urljoin(self.settings.api_url, f"receipts/{receipt}{suffix}")

    def _retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.settings.attempts),
            wait=wait_fixed(self.settings.retry_pause_seconds),
            retry=retry_if_exception_type(_ServerError),
            sleep=self._sleep,
            reraise=True,
        )

    def _call(self, method: str, url: str) -> dict[str, Any]:
        token = {"token": secret_value(self.settings.token)}
        try:
            # The token goes as a query parameter (GET) or form field (POST): it is in the
            # request, never in what is logged or raised (only the exception's type is).
            if method == "GET":
                response = self.session.get(
                    url, params=token, timeout=self.settings.timeout_seconds
                )
            else:
                response = self.session.post(url, data=token, timeout=self.settings.timeout_seconds)
        except requests.RequestException as exc:
            raise _ServerError(f"Pushover unreachable: {type(exc).__name__}") from None
        return self._reply(response)

    def _post(self, data: dict[str, Any], files: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self.session.post(
                self.settings.api_url,
                data=data,
                files=files,
                timeout=self.settings.timeout_seconds,
            )
        except requests.RequestException as exc:
            raise _ServerError(f"Pushover unreachable: {type(exc).__name__}") from None
        return self._reply(response)

    @staticmethod
    def _reply(response: requests.Response) -> dict[str, Any]:
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
