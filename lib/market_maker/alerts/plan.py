"""What an hour's exit evaluation should send, to whom, and why: a pure function of the
decision, what earlier runs delivered and the settings.

The plan names each alert by its key (the exit state, or ``ANALYSIS_REFUSED``), the
channels it is due on (each channel by its own record of deliveries), and what kind of
message it is (a reminder of an acknowledged emergency, the retry of an undelivered
one). Rendering the message and sending it is :mod:`market_maker.alerts.exit_alerts`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from market_maker.alerts.emergency import Cycle, episode_start
from market_maker.alerts.message import PRIORITY
from market_maker.alerts.policy import priority, should_notify
from market_maker.config.models import NotificationSettings
from market_maker.exit_strategy.evaluator import ExitDecided
from market_maker.exit_strategy.model import REFUSAL_KEY
from market_maker.exit_strategy.store import Prior

# Given the last delivery per key on a channel: (send?, why).
Decide = Callable[[dict[str, datetime | None]], tuple[bool, str]]


@dataclass(frozen=True)
class PlannedAlert:
    key: str  # the exit state alerted, or ANALYSIS_REFUSED
    channels: list[str]  # where it is due, the operator's channel first
    reminder: str | None = None  # the operator responded to the emergency: a reminder
    priority: int | None = None  # other than the state's (a quiet repeat)
    retry_of: datetime | None = None  # the hour an undelivered alert of this key was first due
    chart_since: datetime | None = None  # draw the chart from this hour (Pushover carries it)
    # Leave out the channels an alert before it in the plan reached (a refused analysis is
    # not alerted apart where the exit alert went out).
    except_reached: bool = False


@dataclass(frozen=True)
class AlertPlan:
    alerts: list[PlannedAlert] = field(default_factory=list)
    reason: str = ""  # why the exit alert is (or is not) sent


def plan(
    d: ExitDecided,
    *,
    channels: list[str],
    settings: NotificationSettings,
    cycle: Cycle | None = None,
    skip: frozenset[str] = frozenset(),
) -> AlertPlan:
    """The alerts due for the decided hour on ``channels`` (the operator's first).

    ``cycle``: where the emergency alerts of the current episode stand (for a state alerted
    at priority 2); ``skip``: ``channel:key`` an earlier attempt of this step delivered.
    """
    e, prior = d.evaluation, d.prior
    if e is None or d.decision is None:
        return AlertPlan()
    key = e.after.value
    ack = settings.acknowledged

    def decide(last: dict[str, datetime | None]) -> tuple[bool, str]:
        answer = should_notify(
            before=e.before,
            after=e.after,
            hour=e.hour,
            last_notification=last,
            limits=settings.rate_limit_hours,
        )
        if cycle is None:
            return answer
        return cycle.decide(
            key=key,
            hour=e.hour,
            last=last.get(key),
            reminder_hours=ack.reminder_hours,
            otherwise=answer,
        )

    due, why = due_channels(prior, channels, key, decide, skip)
    alerts = []
    if due and f"{channels[0]}:{key}" not in skip:
        failed = [prior.failed_since.get(c, {}).get(key) for c in due]
        chart = "pushover" in due
        state_priority = priority(e.before, e.after, settings)
        alerts.append(
            PlannedAlert(
                key,
                due,
                reminder=cycle.response if cycle is not None and cycle.response else None,
                priority=state_priority if state_priority != PRIORITY[e.after] else None,
                retry_of=min((f for f in failed if f is not None), default=None),
                chart_since=episode_start(prior.records, e.after, e.before, e.hour)
                if chart
                else None,
            )
        )
    refusal = _refusal(d, channels, settings, skip)
    if refusal is not None:
        alerts.append(refusal)
    return AlertPlan(alerts, why)


def _refusal(
    d: ExitDecided, channels: list[str], settings: NotificationSettings, skip: frozenset[str]
) -> PlannedAlert | None:
    """A refused analysis of a running grid, rate limited like WARNING."""
    if d.metrics.verdict is not None or d.grid_id is None:
        return None
    limit = timedelta(hours=settings.rate_limit_hours.WARNING)
    hour = d.metrics.hour

    def decide(last: dict[str, datetime | None]) -> tuple[bool, str]:
        when = last.get(REFUSAL_KEY)
        return when is None or hour - when >= limit, "analysis refusal"

    due, _ = due_channels(d.prior, channels, REFUSAL_KEY, decide, skip)
    return PlannedAlert(REFUSAL_KEY, due, except_reached=True) if due else None


def due_channels(
    prior: Prior, channels: list[str], key: str, decide: Decide, skip: frozenset[str]
) -> tuple[list[str], str]:
    """The channels an alert is due on, each by its own record; and why (or why not)."""
    due, why = [], "no channel"
    for channel in channels:
        if prior.already_delivered(channel, key) or f"{channel}:{key}" in skip:
            why = f"already notified {key} for this hour on {channel} by an earlier run"
            continue
        later = prior.delivered_later(channel, key)
        if later is not None:
            why = (
                f"already notified {key} on {channel} for {later:%Y-%m-%d %H:%M} UTC, a later "
                f"hour of the same {key}: a rerun of an earlier hour does not send it again"
            )
            continue
        send, why = decide(prior.last_delivered(channel))
        if send:
            due.append(channel)
    return due, why
