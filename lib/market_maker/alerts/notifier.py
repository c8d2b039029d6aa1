"""Deliver a notification on every configured channel; a failing channel never stops the rest."""

from __future__ import annotations

import logging

import requests

from market_maker.alerts.channels import (
    Channel,
    Delivery,
    LogChannel,
    PushoverChannel,
    WebhookChannel,
)
from market_maker.alerts.message import Notification
from market_maker.alerts.pushover import PushoverClient, ReceiptStatus
from market_maker.config.models import NotificationSettings
from market_maker.config.settings import secret_value

log = logging.getLogger(__name__)

__all__ = ["Delivery", "Notifier"]


class Notifier:
    """Pushover when its keys are set (else the log: "would send"), plus the webhook when one
    is configured. Failures are logged with context and returned, never raised."""

    def __init__(
        self,
        settings: NotificationSettings,
        *,
        pushover: PushoverClient | None = None,
        session: requests.Session | None = None,
    ):
        self.settings = settings
        self.session = session or requests.Session()
        if pushover is None and settings.pushover.configured:
            pushover = PushoverClient(settings.pushover, session=self.session)
        self._pushover = PushoverChannel(pushover) if pushover is not None else None
        primary: Channel = self._pushover or LogChannel()
        self._channels: list[Channel] = [primary]
        if settings.webhook_url:
            url = secret_value(settings.webhook_url) or ""
            self._channels.append(
                WebhookChannel(url, self.session, settings.webhook_timeout_seconds)
            )

    @property
    def pushover(self) -> PushoverClient | None:
        return self._pushover.client if self._pushover is not None else None

    @property
    def channels(self) -> list[str]:
        """The channels' names, the operator's first: ``pushover`` (``log`` without keys),
        then ``webhook`` when one is configured."""
        return [str(c.name) for c in self._channels]

    @property
    def primary(self) -> str:
        """The channel that reaches the operator."""
        return self.channels[0]

    def send(self, n: Notification, channels: list[str] | None = None) -> list[Delivery]:
        """Deliver on ``channels`` (default: all); every attempt is returned, failed or not."""
        wanted = self.channels if channels is None else channels
        deliveries = []
        for channel in self._channels:
            if channel.name not in wanted:
                continue
            try:
                deliveries.append(channel.send(n))
            except Exception as exc:  # one broken channel never stops the others
                log.exception("notification %r failed unexpectedly on %s", n.title, channel.name)
                deliveries.append(
                    Delivery(channel.name, False, f"{type(exc).__name__}: {exc}", n.priority)
                )
        return deliveries

    def receipt(self, receipt: str) -> ReceiptStatus | None:
        """Pushover's answer on an emergency's receipt (None without Pushover)."""
        return self._pushover.receipt(receipt) if self._pushover is not None else None

    def cancel(self, receipt: str) -> bool:
        """Stop Pushover repeating an emergency; False without Pushover or when it cannot."""
        return self._pushover.cancel(receipt) if self._pushover is not None else False
