"""The emergency receipt cycle: from an emergency alert to the operator's response.

A priority-2 alert returns a Pushover receipt. Later runs poll it until it is final:
acknowledged (who, when: the operator's response time), expired unacknowledged, or cancelled
because the state it alerted no longer holds. Per episode (an uninterrupted stretch of one
exit state of one grid) the alerts then go:

- no response yet, an emergency still ringing (Pushover repeats it until it expires): no new
  emergency;
- no response, the last one expired: another emergency, by the state's rate limit;
- acknowledged, or the operator recorded declining or ignoring a decision of the episode:
  reminders only, at a lower priority and a slower cadence;
- the operator recorded executing a decision of the episode (stopping the grid): nothing more.

A disabled grid is not evaluated at all; a new state starts a new episode.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from market_maker.alerts.pushover import ReceiptStatus
from market_maker.decisions.states import ExitState
from market_maker.exit_strategy.model import DeliveryRecord, EvaluationRecord, ReceiptRecord


def who(user_key: str | None) -> str | None:
    """A stable name for a Pushover user key that is not the key (a credential)."""
    if not user_key:
        return None
    return "user-" + hashlib.sha256(user_key.encode()).hexdigest()[:8]


def episode_start(
    records: list[EvaluationRecord], state: ExitState, before: ExitState, hour: datetime
) -> datetime:
    """The first hour of the current stretch of ``state`` (``records`` most recent first)."""
    if before != state:
        return hour
    start = hour
    for record in records:
        if record.state != state:
            break
        start = record.hour
    return start


def final_outcome(
    sent: DeliveryRecord, status: ReceiptStatus, *, hour: datetime, grid_id: str
) -> ReceiptRecord | None:
    """The record of a receipt Pushover says is final; None while it still rings."""
    if not (status.acknowledged or status.expired):
        return None
    base = {
        "hour": hour,
        "grid_id": grid_id,
        "receipt": sent.receipt,
        "alert_hour": sent.hour,
        "key": sent.key,
        "sent_at": sent.attempted_at,
    }
    if status.acknowledged:
        at = status.acknowledged_at
        return ReceiptRecord(
            **base,
            outcome="acknowledged",
            acknowledged_at=at,
            acknowledged_by=who(status.acknowledged_by),
            acknowledged_by_device=status.acknowledged_by_device,
            response_seconds=max(0, int((at - sent.attempted_at).total_seconds())) if at else None,
        )
    return ReceiptRecord(**base, outcome="expired")


def cancelled(sent: DeliveryRecord, *, hour: datetime, grid_id: str) -> ReceiptRecord:
    return ReceiptRecord(
        hour=hour,
        grid_id=grid_id,
        receipt=sent.receipt,
        alert_hour=sent.hour,
        key=sent.key,
        sent_at=sent.attempted_at,
        outcome="cancelled",
    )


@dataclass(frozen=True)
class Cycle:
    """Where the emergency alerts of one episode stand."""

    start: datetime
    ringing: DeliveryRecord | None = None  # an emergency not yet final nor past its expiry
    ringing_until: datetime | None = None
    response: str | None = None  # who acknowledged (or which action was recorded), and when
    stopped: str | None = None  # the operator recorded stopping the grid

    def decide(
        self,
        *,
        key: str,
        hour: datetime,
        last: datetime | None,
        reminder_hours: float,
        otherwise: tuple[bool, str],
    ) -> tuple[bool, str]:
        """(send?, why) for the state's alert on one channel; ``otherwise`` is the rate
        limit's answer, which holds when the operator has not responded."""
        if self.stopped:
            return False, f"{key}: {self.stopped}; no more alerts for this state"
        if self.response:
            limit = timedelta(hours=reminder_hours)
            if last is not None and hour - last < limit:
                return False, f"{key}: {self.response}; next reminder after {limit}"
            return True, f"{key}: {self.response}; a reminder (every {limit})"
        if self.ringing is not None and self.ringing_until is not None:
            return False, (
                f"{key}: the emergency of {self.ringing.hour:%Y-%m-%d %H:%M} UTC is not "
                f"acknowledged yet; Pushover repeats it until {self.ringing_until:%H:%M} UTC"
            )
        return otherwise


def cycle(
    *,
    start: datetime,
    key: str,
    sent: list[DeliveryRecord],
    outcomes: dict[str, ReceiptRecord],
    now: datetime,
    expire_seconds: int,
    actions: list[tuple[str, datetime, str]],
) -> Cycle:
    """The episode's cycle from the emergencies ``sent`` (with receipts), the receipts'
    recorded ``outcomes`` and the operator's ``actions`` on its decisions ((action, at,
    decision id), in time order)."""
    mine = [d for d in sent if d.key == key and d.hour >= start and d.receipt]
    stopped = _stopped(actions)
    if stopped:
        return Cycle(start, stopped=stopped)
    response = _acknowledged(mine, outcomes) or _recorded(actions)
    if response:
        return Cycle(start, response=response)
    return _ringing(start, mine, outcomes, now, expire_seconds)


def _stopped(actions: list[tuple[str, datetime, str]]) -> str | None:
    """The first recorded stop of the grid (an executed decision), if any."""
    for action, at, decision in actions:
        if action == "executed":
            return f"the operator stopped the grid ({decision}, {at:%H:%M} UTC)"
    return None


def _acknowledged(mine: list[DeliveryRecord], outcomes: dict[str, ReceiptRecord]) -> str | None:
    """The first acknowledgement of one of the episode's emergencies: by whom, when."""
    acks = [
        outcomes[d.receipt]
        for d in mine
        if d.receipt in outcomes and outcomes[d.receipt].outcome == "acknowledged"
    ]
    if not acks:
        return None
    return _acknowledgement(min(acks, key=lambda r: r.acknowledged_at or r.sent_at))


def _acknowledgement(receipt: ReceiptRecord) -> str:
    by = " on ".join(x for x in (receipt.acknowledged_by, receipt.acknowledged_by_device) if x)
    at = receipt.acknowledged_at or receipt.sent_at
    minutes = (
        f", {receipt.response_seconds // 60} min after the alert"
        if (receipt.response_seconds is not None)
        else ""
    )
    return f"acknowledged by {by or 'the operator'} at {at:%Y-%m-%d %H:%M} UTC{minutes}"


def _recorded(actions: list[tuple[str, datetime, str]]) -> str | None:
    """The operator's first recorded answer on the episode's decisions, if any."""
    if not actions:
        return None
    action, at, decision = actions[0]
    return f"'{action}' recorded on {decision} at {at:%Y-%m-%d %H:%M} UTC"


def _ringing(
    start: datetime,
    mine: list[DeliveryRecord],
    outcomes: dict[str, ReceiptRecord],
    now: datetime,
    expire_seconds: int,
) -> Cycle:
    """The latest emergency Pushover still repeats (no outcome yet, not expired), if any."""
    for d in reversed(mine):
        until = d.attempted_at + timedelta(seconds=expire_seconds)
        if d.receipt not in outcomes and now < until:
            return Cycle(start, ringing=d, ringing_until=until)
    return Cycle(start)
