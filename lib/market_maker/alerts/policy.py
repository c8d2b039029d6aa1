"""When an exit state is worth a message: escalations always, repeats after the rate limit."""

from __future__ import annotations

from datetime import datetime, timedelta

from market_maker.config.models import RateLimits
from market_maker.decisions.states import ExitState


def should_notify(
    *,
    before: ExitState,
    after: ExitState,
    hour: datetime,
    last_notification: dict[str, datetime | None],
    limits: RateLimits,
) -> tuple[bool, str]:
    """(send?, why). NORMAL is announced once, when the state eases back to it."""
    if after.rank > before.rank:
        return True, f"escalation {before} -> {after} always notifies"
    if after == ExitState.NORMAL:
        if before != ExitState.NORMAL:
            return True, f"eased from {before} back to NORMAL"
        return False, "NORMAL: nothing to report"
    limit = timedelta(hours=getattr(limits, after.value))
    last = last_notification.get(after.value)
    if last is None or hour - last >= limit:
        since = "never notified" if last is None else f"last notified {hour - last} ago"
        return True, f"{after}: {since} (limit {limit})"
    return False, f"{after}: notified {hour - last} ago, within the {limit} rate limit"
