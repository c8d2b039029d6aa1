"""Where an alert can go: one ``Channel`` protocol, and its three adapters.

Pushover reaches the operator's phone; without Pushover keys the log stands in for it
(the message is logged as what would have been sent); a webhook, when configured, gets
the same payload as JSON for other systems. A channel's ``send`` reports its outcome as
a :class:`Delivery`; the notifier isolates any failure a channel raises.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import requests

from market_maker.alerts.message import Notification
from market_maker.alerts.pushover import NotificationError, PushoverClient, ReceiptStatus
from market_maker.exit_strategy.model import ChannelName

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    channel: str
    ok: bool
    detail: str
    priority: int | None = None
    receipt: str | None = None  # Pushover's, for an emergency


class Channel(Protocol):
    """A place alerts are delivered to."""

    @property
    def name(self) -> ChannelName: ...

    def send(self, n: Notification) -> Delivery:
        """Deliver ``n``; a failure is returned as a Delivery that is not ok."""
        ...


class LogChannel:
    """Stands in for the phone when no Pushover keys are configured: "would send"."""

    name = ChannelName.LOG

    def send(self, n: Notification) -> Delivery:
        log.info(
            "Pushover not configured, would send (priority %d) %s | %s",
            n.priority,
            n.title,
            n.message.replace("\n", " / "),
        )
        return Delivery(self.name, True, "logged (no Pushover keys configured)", n.priority)


class PushoverChannel:
    """The operator's phone; emergencies come back with a receipt to poll or cancel."""

    name = ChannelName.PUSHOVER

    def __init__(self, client: PushoverClient):
        self.client = client

    def send(self, n: Notification) -> Delivery:
        try:
            reply = self.client.send(n)
        except NotificationError as exc:
            log.error(
                "notification %r (%s, priority %d) not delivered: %s",
                n.title,
                n.kind,
                n.priority,
                exc,
            )
            return Delivery(self.name, False, str(exc), n.priority)
        receipt = reply.get("receipt") or None
        detail = f"request {reply.get('request', '?')}" + (
            f", receipt {receipt}" if receipt else ""
        )
        if n.attachment is not None:
            detail += f", chart {len(n.attachment):,} bytes"
        return Delivery(self.name, True, detail, n.priority, receipt)

    def receipt(self, receipt: str) -> ReceiptStatus | None:
        """Pushover's answer on an emergency's receipt; None (logged) when it cannot be had:
        the next run asks again."""
        try:
            return self.client.receipt(receipt)
        except NotificationError as exc:
            log.warning("receipt %s not polled (the next run tries again): %s", receipt, exc)
        except Exception as exc:  # a poll must never fail the evaluation
            log.warning("receipt %s not polled: %s", receipt, type(exc).__name__)
        return None

    def cancel(self, receipt: str) -> bool:
        """Stop Pushover repeating an emergency; False (logged) when it cannot."""
        try:
            self.client.cancel(receipt)
            return True
        except NotificationError as exc:
            log.warning("receipt %s not cancelled (the next run tries again): %s", receipt, exc)
        except Exception as exc:
            log.warning("receipt %s not cancelled: %s", receipt, type(exc).__name__)
        return False


class WebhookChannel:
    """The payload as JSON to a URL of the operator's (which usually carries a token)."""

    name = ChannelName.WEBHOOK

    def __init__(self, url: str, session: requests.Session, timeout: float):
        self.url = url
        self.session = session
        self.timeout = timeout

    def send(self, n: Notification) -> Delivery:
        host = urlsplit(self.url).netloc  # the full URL usually carries a token: never log it
        try:
            response = self.session.post(
                self.url, json=n.model_dump(mode="json"), timeout=self.timeout
            )
            response.raise_for_status()
        except requests.RequestException as exc:
            reason = type(exc).__name__
            if isinstance(exc, requests.HTTPError) and exc.response is not None:
                reason = f"HTTP {exc.response.status_code}"
            log.error("webhook notification %r to %s failed: %s", n.title, host, reason)
            return Delivery(self.name, False, reason, n.priority)
        return Delivery(self.name, True, f"HTTP {response.status_code}", n.priority)
