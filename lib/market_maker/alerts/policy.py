"""When an exit state is worth a message, and how loud: escalations at once, repeats after
the rate limit, and a state that comes back within its rate limit after an ease is a repeat,
not news (a grid flapping WARNING -> NORMAL -> WARNING alerts once a window)."""

from __future__ import annotations

from datetime import datetime, timedelta

from market_maker.alerts.message import PRIORITY
from market_maker.config.models import NotificationSettings, RateLimits
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
    if after == ExitState.NORMAL:
        if before != ExitState.NORMAL:
            return True, f"eased from {before} back to NORMAL"
        return False, "NORMAL: nothing to report"
    limit = timedelta(hours=getattr(limits, after.value))
    last = last_notification.get(after.value)
    recent = last is not None and hour - last < limit
    if after.rank > before.rank:
        if recent:
            return False, (
                f"{after} again {hour - last} after its last alert, within the {limit} rate "
                f"limit: a repeat after an ease, not news"
            )
        return True, f"escalation {before} -> {after} notifies at once"
    if not recent:
        since = "never notified" if last is None else f"last notified {hour - last} ago"
        return True, f"{after}: {since} (limit {limit})"
    return False, f"{after}: notified {hour - last} ago, within the {limit} rate limit"


def priority(before: ExitState, after: ExitState, settings: NotificationSettings) -> int:
    """The state's Pushover priority; a WARNING that was already the state (a repeat after
    its rate limit) goes quietly, at ``warning_repeat_priority``."""
    if after == before == ExitState.WARNING:
        return settings.warning_repeat_priority
    return PRIORITY[after]
