"""The exit-state file: ``exit_states/{SYMBOL}/{YYYY-MM-DD}.yaml``."""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from market_maker.base.identifiers import GridId, symbol_part
from market_maker.base.types import FrozenModel, UtcDatetime, UtcPeriodStart
from market_maker.config.models import Symbol
from market_maker.decisions.states import ExitState

# 1.1 added revisions of evaluations and the record of every delivery attempt; 1.2 the
# priority and Pushover receipt of each delivery and the receipts' outcomes (the operator's
# acknowledgements); 1.3 keeps the deliveries as the one record of what was notified (the
# evaluations' ``notified`` and the file's ``last_notification`` are derived from them).
# Older files read as 1.3 files (a 1.1 delivery's receipt is read back from its detail; a
# 1.0 file's notified hours become deliveries on an unknown channel).
SCHEMA_VERSION = "1.3"
KNOWN_VERSIONS = ("1.0", "1.1", "1.2", "1.3")
EXIT_STATES_DIR = "exit_states"
NOTIFIED_STATES = ("WARNING", "LATEST_ACCEPTABLE_EXIT", "MANDATORY_EXIT")
# The regime analysis refused (too few metrics): alerted like a WARNING, rate limited apart.
REFUSAL_KEY = "ANALYSIS_REFUSED"
NOTIFICATION_KEYS = (*NOTIFIED_STATES, REFUSAL_KEY)


Record = FrozenModel


class ChannelName(StrEnum):
    """The channels a delivery can be recorded on."""

    PUSHOVER = "pushover"
    LOG = "log"  # stands in for Pushover when no keys are configured
    WEBHOOK = "webhook"
    ANY = "*"  # schema 1.0 recorded that an hour was notified, not on which channel

    @property
    def reaches_operator(self) -> bool:
        """Pushover, or the log that stands in for it; not the webhook."""
        return self is not ChannelName.WEBHOOK


class TransitionRecord(Record):
    timestamp: UtcPeriodStart = Field(description="The evaluated hour.")
    grid_id: GridId
    from_state: ExitState
    to_state: ExitState
    reasons: list[str]
    metrics: dict[str, float | str | None]
    revision: int = Field(1, ge=1, description="The evaluation revision that made it.")


class EvaluationRecord(Record):
    """One hourly evaluation: the state after it and what fired (persistence reads these).

    Never rewritten: a rerun under different inputs appends a higher ``revision`` with a
    ``note`` saying what changed; readers use the latest revision of each hour.
    """

    hour: UtcPeriodStart
    grid_id: GridId
    state: ExitState
    target: ExitState = Field(description="The highest state whose triggers fired.")
    warning: bool = Field(description="The WARNING conditions were met.")
    conditions: list[str] = Field(description="Names of the conditions met, all levels.")
    revision: int = Field(1, ge=1, description="1 for the first evaluation of the hour.")
    inputs: str | None = Field(
        None, description="Fingerprint of what was evaluated (metrics, grid, prior state)."
    )
    note: str | None = Field(None, description="Why this revision was appended.")


class DeliveryRecord(Record):
    """One attempt to deliver an alert on one channel, with its outcome."""

    hour: UtcPeriodStart = Field(description="The evaluated hour the alert is about.")
    grid_id: GridId
    key: str = Field(description="The state alerted (or ANALYSIS_REFUSED).")
    channel: str = Field(description="pushover, log (no keys configured) or webhook.")
    attempted_at: UtcDatetime
    ok: bool
    detail: str = Field(description="Request id and receipt, or why it failed.")
    priority: int | None = Field(None, ge=-2, le=2, description="The priority it was sent at.")
    receipt: str | None = Field(
        None, description="Pushover's receipt of an emergency (priority 2), polled until final."
    )

    @property
    def reached_operator(self) -> bool:
        """Delivered to the operator's phone (or the log standing in for it)."""
        return self.ok and ChannelName(self.channel).reaches_operator

    @model_validator(mode="before")
    @classmethod
    def _receipt_from_detail(cls, data: Any) -> Any:
        # 1.1 files carried the receipt in the detail text only.
        if isinstance(data, dict) and data.get("receipt") is None and data.get("ok"):
            found = _LEGACY_RECEIPT.search(str(data.get("detail", "")))
            if found:
                data = {**data, "receipt": found.group(1)}
        return data


_LEGACY_RECEIPT = re.compile(r"receipt ([A-Za-z0-9]{30})\b")


class ReceiptRecord(Record):
    """The final word on an emergency alert's receipt: acknowledged (by whom, when), expired
    unacknowledged, or cancelled because the state it alerted no longer holds."""

    hour: UtcPeriodStart = Field(description="The evaluated hour of the run that learned it.")
    grid_id: GridId
    receipt: str
    alert_hour: UtcPeriodStart = Field(description="The hour of the alert the receipt belongs to.")
    key: str = Field(description="The state the alert was about.")
    sent_at: UtcDatetime
    outcome: Literal["acknowledged", "expired", "cancelled"]
    acknowledged_at: UtcDatetime | None = None
    acknowledged_by: str | None = Field(
        None,
        description="Who acknowledged: 'user-' and the first 8 hex digits of the SHA-256 of "
        "the Pushover user key (a key is a credential and never stored).",
    )
    acknowledged_by_device: str | None = None
    response_seconds: int | None = Field(
        None, ge=0, description="From sending to the acknowledgement: the operator's response."
    )


class ExitStateFile(Record):
    schema_version: Literal["1.3"] = SCHEMA_VERSION
    symbol: Symbol
    grid_id: GridId = Field(description="Grid of the day's last evaluation.")
    date: date
    state: ExitState = Field(description="State at the end of the day's last evaluation.")
    transitions: list[TransitionRecord] = Field(default_factory=list)
    evaluations: list[EvaluationRecord] = Field(default_factory=list)
    deliveries: list[DeliveryRecord] = Field(default_factory=list)
    receipts: list[ReceiptRecord] = Field(default_factory=list)

    @field_validator("schema_version", mode="before")
    @classmethod
    def _migrate(cls, value: object) -> object:
        return SCHEMA_VERSION if value in KNOWN_VERSIONS else value

    @model_validator(mode="before")
    @classmethod
    def _deliveries_only(cls, data: Any) -> Any:
        """Files before 1.3 also noted what was notified beside the deliveries; a 1.0 file
        noted it only there, so its notified hours become deliveries (channel unknown)."""
        if not isinstance(data, dict) or "last_notification" not in data:
            return data
        data = {k: v for k, v in data.items() if k != "last_notification"}
        deliveries = list(data.get("deliveries") or [])
        attempted = {(str(d["hour"]), d["grid_id"]) for d in deliveries if isinstance(d, dict)}
        evaluations = []
        for e in data.get("evaluations") or []:
            if not isinstance(e, dict):
                evaluations.append(e)
                continue
            e = dict(e)
            refused = e.pop("refusal_notified", False)
            keys = [e.pop("notified", None), REFUSAL_KEY if refused else None]
            if (str(e.get("hour")), e.get("grid_id")) not in attempted:
                deliveries += [_legacy_delivery(e, key) for key in keys if key]
            evaluations.append(e)
        return {**data, "evaluations": evaluations, "deliveries": deliveries}

    @model_validator(mode="after")
    def _one_day(self) -> ExitStateFile:
        for when in (
            *(e.hour for e in self.evaluations),
            *(t.timestamp for t in self.transitions),
            *(d.hour for d in self.deliveries),
            *(r.hour for r in self.receipts),
        ):
            if when.date() != self.date:
                raise ValueError(f"{when:%Y-%m-%dT%H:%MZ} does not belong to the day {self.date}")
        revisions: dict[tuple[datetime, str], int] = {}
        for e in self.evaluations:
            key = (e.hour, e.grid_id)
            if e.revision != revisions.get(key, 0) + 1:
                raise ValueError(
                    f"evaluation {e.hour:%Y-%m-%dT%H:%MZ} of {e.grid_id}: revision {e.revision} "
                    "out of order"
                )
            revisions[key] = e.revision
        return self

    def latest(self) -> list[EvaluationRecord]:
        """The latest revision of each hour's evaluation, in time order."""
        latest: dict[tuple[datetime, str], EvaluationRecord] = {}
        for e in self.evaluations:
            latest[(e.hour, e.grid_id)] = e
        return sorted(latest.values(), key=lambda e: e.hour)

    def notified(self) -> list[DeliveryRecord]:
        """The exit-state alerts the operator's channel took, once per hour, grid and state."""
        seen: set[tuple[datetime, str, str]] = set()
        out = []
        for d in sorted(self.deliveries, key=lambda d: (d.hour, d.attempted_at)):
            mark = (d.hour, d.grid_id, d.key)
            if d.reached_operator and d.key != REFUSAL_KEY and mark not in seen:
                seen.add(mark)
                out.append(d)
        return out

    def last_notified(self, key: str) -> datetime | None:
        """The last hour of the day an alert of ``key`` reached the operator's channel."""
        hours = [d.hour for d in self.deliveries if d.reached_operator and d.key == key]
        return max(hours, default=None)

    def effective_transitions(self) -> list[TransitionRecord]:
        """Transitions made by the latest revision of each hour."""
        current = {(e.hour, e.grid_id): e.revision for e in self.latest()}
        return [t for t in self.transitions if current.get((t.timestamp, t.grid_id)) == t.revision]


def _legacy_delivery(evaluation: dict[str, Any], key: str) -> dict[str, Any]:
    return {
        "hour": evaluation["hour"],
        "grid_id": evaluation["grid_id"],
        "key": key,
        "channel": ChannelName.ANY.value,
        "attempted_at": evaluation["hour"],
        "ok": True,
        "detail": "recorded as notified",
    }


def exit_state_relpath(symbol: str, day: date | datetime) -> Path:
    return Path(EXIT_STATES_DIR, symbol_part(symbol), f"{day:%Y-%m-%d}.yaml")
