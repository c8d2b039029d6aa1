"""The daily digest task."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from market_maker.alerts.digest import send_digest
from market_maker.alerts.notifier import Notifier
from market_maker.context import RunContext


@task(name="daily-digest", cache_policy=NO_CACHE)
def digest_task(ctx: RunContext, day: date) -> tuple[Path | None, str]:
    """Send the digest of ``day`` once (a rerun sends nothing); the record file to commit."""
    return send_digest(ctx.store.path, ctx.settings, Notifier(ctx.settings.notifications), day)
