"""Deliver a notification on every configured channel; a failing channel never stops the rest."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from market_maker.config.models import NotificationSettings
from market_maker.config.settings import secret_value
from market_maker.notifications.message import Notification
from market_maker.notifications.pushover import NotificationError, PushoverClient, ReceiptStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    channel: str
    ok: bool
    detail: str
    priority: int | None = None
    receipt: str | None = None  # Pushover's, for an emergency


class Notifier:
    """Pushover when its keys are set (else the message is logged: "would send"), plus the
    webhook when one is configured. Failures are logged with context and returned, never raised.
    """

    def __init__(
        self,
        settings: NotificationSettings,
        *,
        pushover: PushoverClient | None = None,
        session: requests.Session | None = None,
    ):
        self.settings = settings
        self.session = session or requests.Session()
        self.pushover = pushover
        if self.pushover is None and settings.pushover.configured:
            self.pushover = PushoverClient(settings.pushover, session=self.session)

    @property
    def channels(self) -> list[str]:
        """``pushover`` (``log`` without keys), then ``webhook`` when one is configured."""
        primary = "pushover" if self.pushover is not None else "log"
        return [primary, "webhook"] if self.settings.webhook_url else [primary]

    def send(self, n: Notification, channels: list[str] | None = None) -> list[Delivery]:
        """Deliver on ``channels`` (default: all); every attempt is returned, failed or not."""
        wanted = self.channels if channels is None else channels
        deliveries = []
        if "pushover" in wanted or "log" in wanted:
            deliveries.append(self._pushover(n))
        if "webhook" in wanted and self.settings.webhook_url:
            deliveries.append(self._webhook(n))
        return deliveries

    def _pushover(self, n: Notification) -> Delivery:
        if self.pushover is None:
            log.info(
                "Pushover not configured, would send (priority %d) %s | %s",
                n.priority,
                n.title,
                n.message.replace("\n", " / "),
            )
            return Delivery("log", True, "logged (no Pushover keys configured)", n.priority)
        try:
            reply = self.pushover.send(n)
        except NotificationError as exc:
            log.error(
                "notification %r (%s, priority %d) not delivered: %s",
                n.title,
                n.kind,
                n.priority,
                exc,
            )
            return Delivery("pushover", False, str(exc), n.priority)
        except Exception as exc:  # a notification must never fail the evaluation
            log.exception("notification %r failed unexpectedly", n.title)
            return Delivery("pushover", False, f"{type(exc).__name__}: {exc}", n.priority)
        receipt = reply.get("receipt") or None
        detail = f"request {reply.get('request', '?')}" + (
            f", receipt {receipt}" if receipt else ""
        )
        if n.attachment is not None:
            detail += f", chart {len(n.attachment):,} bytes"
        return Delivery("pushover", True, detail, n.priority, receipt)

    def receipt(self, receipt: str) -> ReceiptStatus | None:
        """Pushover's answer on an emergency's receipt; None (logged) when it cannot be had:
        the next run asks again."""
        if self.pushover is None:
            return None
        try:
            return self.pushover.receipt(receipt)
        except NotificationError as exc:
            log.warning("receipt %s not polled (the next run tries again): %s", receipt, exc)
        except Exception as exc:  # a poll must never fail the evaluation
            log.warning("receipt %s not polled: %s", receipt, type(exc).__name__)
        return None

    def cancel(self, receipt: str) -> bool:
        """Stop Pushover repeating an emergency; False (logged) when it cannot."""
        if self.pushover is None:
            return False
        try:
            self.pushover.cancel(receipt)
            return True
        except NotificationError as exc:
            log.warning("receipt %s not cancelled (the next run tries again): %s", receipt, exc)
        except Exception as exc:
            log.warning("receipt %s not cancelled: %s", receipt, type(exc).__name__)
        return False

    def _webhook(self, n: Notification) -> Delivery:
        url = secret_value(self.settings.webhook_url) or ""
        host = urlsplit(url).netloc  # the full URL usually carries a token: never log it
        try:
            response = self.session.post(
                url, json=n.model_dump(mode="json"), timeout=self.settings.webhook_timeout_seconds
            )
            response.raise_for_status()
        except requests.RequestException as exc:
            reason = type(exc).__name__
            if isinstance(exc, requests.HTTPError) and exc.response is not None:
                reason = f"HTTP {exc.response.status_code}"
            log.error("webhook notification %r to %s failed: %s", n.title, host, reason)
            return Delivery("webhook", False, reason, n.priority)
        return Delivery("webhook", True, f"HTTP {response.status_code}", n.priority)
