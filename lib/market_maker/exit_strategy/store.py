"""Exit-state files: the history persistence and rate limits are read from.

Day files are read once per run and cached; writing an evaluation updates
its day's file (the state at the end of the day, the transitions, the
evaluations and the delivery attempts, the one record of what was notified). An hour's
recorded evaluation is never rewritten: a rerun with the same inputs and
outcome changes nothing, a rerun under different inputs appends a new
revision that says what changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from market_maker.base.atomic import write_atomic
from market_maker.base.errors import DataError
from market_maker.base.identifiers import inside
from market_maker.base.yaml_files import dump, load_model
from market_maker.decisions.states import ExitState
from market_maker.exit_strategy.engine import Evaluation
from market_maker.exit_strategy.model import (
    EXIT_STATES_DIR,
    NOTIFICATION_KEYS,
    ChannelName,
    DeliveryRecord,
    EvaluationRecord,
    ExitStateFile,
    ReceiptRecord,
    exit_state_relpath,
)
from market_maker.store.file_kinds import FileKind, under

LOOKBACK_DAYS = 7  # how far back a run looks for the state a grid was left in
# Legacy (1.0) files recorded only that an hour was notified, not on which channel.
ANY_CHANNEL = ChannelName.ANY


@dataclass
class Prior:
    """What earlier evaluations of a grid left behind."""

    state: ExitState = ExitState.NORMAL
    records: list[EvaluationRecord] = field(default_factory=list)  # most recent first
    existing: EvaluationRecord | None = None  # this hour's latest record from an earlier run
    # channel -> key -> hour of the last alert delivered on it before this hour
    delivered: dict[str, dict[str, datetime]] = field(default_factory=dict)
    # channel -> keys already delivered for this very hour (a rerun never sends them again)
    delivered_now: dict[str, set[str]] = field(default_factory=dict)
    # channel -> key -> hour of the first failed attempt since the last delivery on it
    failed_since: dict[str, dict[str, datetime]] = field(default_factory=dict)
    # Emergencies delivered with a Pushover receipt (this hour's included), oldest first.
    sent_receipts: list[DeliveryRecord] = field(default_factory=list)
    # receipt -> its final outcome, as recorded up to this hour
    receipt_outcomes: dict[str, ReceiptRecord] = field(default_factory=dict)
    # Evaluations of later hours (a rerun of an earlier hour), oldest first, and the alerts
    # delivered for them: a state one of them delivered is not delivered again.
    later: list[EvaluationRecord] = field(default_factory=list)
    later_delivered: list[DeliveryRecord] = field(default_factory=list)

    def last_delivered(self, channel: str) -> dict[str, datetime | None]:
        """Per key, the last hour an alert reached ``channel`` (legacy records count for all)."""
        out: dict[str, datetime | None] = dict.fromkeys(NOTIFICATION_KEYS)
        for source in (self.delivered.get(ANY_CHANNEL, {}), self.delivered.get(channel, {})):
            for key, when in source.items():
                previous = out.get(key)
                out[key] = when if previous is None else max(previous, when)
        return out

    def already_delivered(self, channel: str, key: str) -> bool:
        return key in self.delivered_now.get(channel, set()) or key in self.delivered_now.get(
            ANY_CHANNEL, set()
        )

    def delivered_later(self, channel: str, key: str) -> datetime | None:
        """The first later hour of this episode of the state ``key`` (the later hours in that
        state without a break) whose alert of ``key`` reached ``channel``; None when none
        did. A rerun of an earlier hour never sends that state again."""
        if key not in ExitState.__members__:
            return None
        end = next((r.hour for r in self.later if r.state != key), None)
        for d in self.later_delivered:
            if end is not None and d.hour >= end:
                break
            if d.key == key and d.channel in (channel, ANY_CHANNEL):
                return d.hour
        return None


class ExitStateStore:
    def __init__(self, root: Path):
        self.root = root
        self._days: dict[tuple[str, date], ExitStateFile | None] = {}

    def path(self, symbol: str, day: date) -> Path:
        return inside(self.root, exit_state_relpath(symbol, day))

    def day(self, symbol: str, day: date) -> ExitStateFile | None:
        key = (symbol, day)
        if key not in self._days:
            path = self.path(symbol, day)
            self._days[key] = _read(path) if path.exists() else None
        return self._days[key]

    def prior(self, symbol: str, grid_id: str, hour: datetime) -> Prior:
        """State, evaluations and deliveries of ``grid_id`` before ``hour``."""
        out = Prior()
        records: list[EvaluationRecord] = []
        attempts: list[DeliveryRecord] = []
        for back in range(LOOKBACK_DAYS, -1, -1):
            file = self.day(symbol, (hour - timedelta(days=back)).date())
            if file is None:
                continue
            for record in file.latest():
                if record.grid_id == grid_id and record.hour < hour:
                    records.append(record)
                elif record.grid_id == grid_id and record.hour == hour:
                    out.existing = record
            attempts += [d for d in file.deliveries if d.grid_id == grid_id and d.hour <= hour]
            for r in file.receipts:
                if r.grid_id == grid_id and r.hour <= hour:
                    out.receipt_outcomes.setdefault(r.receipt, r)
        _read_attempts(out, attempts, hour)
        self._read_later(out, symbol, grid_id, hour)
        out.sent_receipts = sorted(
            (d for d in attempts if d.ok and d.receipt), key=lambda d: (d.hour, d.attempted_at)
        )
        records.sort(key=lambda r: r.hour, reverse=True)
        out.records = records
        out.state = records[0].state if records else ExitState.NORMAL
        return out

    def _read_later(self, out: Prior, symbol: str, grid_id: str, hour: datetime) -> None:
        """The grid's evaluations and delivered alerts after ``hour`` (a rerun of an earlier
        hour), up to ``LOOKBACK_DAYS`` ahead."""
        for ahead in range(LOOKBACK_DAYS + 1):
            file = self.day(symbol, (hour + timedelta(days=ahead)).date())
            if file is None:
                continue
            out.later += [r for r in file.latest() if r.grid_id == grid_id and r.hour > hour]
            out.later_delivered += [
                d for d in file.deliveries if d.grid_id == grid_id and d.hour > hour and d.ok
            ]
        out.later_delivered.sort(key=lambda d: (d.hour, d.attempted_at))

    def record(
        self,
        symbol: str,
        evaluation: Evaluation,
        *,
        inputs: str | None = None,
        deliveries: list[DeliveryRecord] | None = None,
        receipts: list[ReceiptRecord] | None = None,
    ) -> Path:
        """Add the hour's evaluation (a new revision only when it differs), the deliveries and
        the receipts' outcomes learned (each receipt's final outcome is recorded once)."""
        day = evaluation.hour.date()
        current = self.day(symbol, day)
        evaluations = list(current.evaluations) if current else []
        transitions = list(current.transitions) if current else []
        latest = {(e.hour, e.grid_id): e for e in evaluations}
        existing = latest.get((evaluation.hour, evaluation.grid_id))
        record = evaluation.record().model_copy(update={"inputs": inputs})
        if existing is None:
            evaluations.append(record)
            if evaluation.transition is not None:
                transitions.append(evaluation.transition)
        elif _differs(existing, record):
            revision = existing.revision + 1
            evaluations.append(
                record.model_copy(
                    update={"revision": revision, "note": _revision_note(existing, record)}
                )
            )
            if evaluation.transition is not None:
                transitions.append(evaluation.transition.model_copy(update={"revision": revision}))
        evaluations.sort(key=lambda e: (e.hour, e.revision))
        transitions.sort(key=lambda t: (t.timestamp, t.revision))
        all_deliveries = [*(current.deliveries if current else []), *(deliveries or [])]
        all_receipts = list(current.receipts) if current else []
        known = {r.receipt for r in all_receipts}
        all_receipts += [r for r in receipts or [] if r.receipt not in known]
        updated = ExitStateFile(
            symbol=symbol,
            grid_id=evaluation.grid_id,
            date=day,
            state=ExitState.NORMAL,
            transitions=transitions,
            evaluations=evaluations,
            deliveries=all_deliveries,
            receipts=all_receipts,
        )
        final = updated.latest()[-1]
        updated = updated.model_copy(update={"state": final.state, "grid_id": final.grid_id})
        path = self.path(symbol, day)
        data = dumps(updated)
        if not path.exists() or path.read_bytes() != data:
            write_atomic(path, data, lambda tmp: _check(tmp, updated))
        self._days[(symbol, day)] = updated
        return path


def dumps(file: ExitStateFile) -> bytes:
    return dump(file.model_dump(mode="json"))


def _read_attempts(out: Prior, attempts: list[DeliveryRecord], hour: datetime) -> None:
    """Fill the delivery fields of ``out`` from every attempt up to ``hour``, in order."""
    for d in sorted(attempts, key=lambda d: (d.hour, d.attempted_at)):
        if d.ok and d.hour == hour:
            out.delivered_now.setdefault(d.channel, set()).add(d.key)
        elif d.ok:
            out.delivered.setdefault(d.channel, {})[d.key] = d.hour
            out.failed_since.get(d.channel, {}).pop(d.key, None)
        else:
            out.failed_since.setdefault(d.channel, {}).setdefault(d.key, d.hour)


def _differs(existing: EvaluationRecord, new: EvaluationRecord) -> bool:
    """Another outcome, or the same outcome from other inputs (a fingerprint was recorded)."""
    keys = ("state", "target", "warning", "conditions")
    if any(getattr(existing, k) != getattr(new, k) for k in keys):
        return True
    return existing.inputs is not None and new.inputs is not None and existing.inputs != new.inputs


def _revision_note(existing: EvaluationRecord, new: EvaluationRecord) -> str:
    changes = []
    if existing.inputs != new.inputs:
        changes.append(f"inputs {existing.inputs} -> {new.inputs}")
    for key in ("state", "target", "warning", "conditions"):
        before, after = getattr(existing, key), getattr(new, key)
        if before != after:
            changes.append(f"{key} {before} -> {after}")
    return f"re-evaluated under different inputs; revision {existing.revision} is kept above: " + (
        "; ".join(changes) or "same outcome"
    )


def read_day_file(path: Path) -> ExitStateFile:
    """An exit-state file, checked against its path."""
    return _read(path)


def _read(path: Path) -> ExitStateFile:
    file = load_model(path.read_bytes(), ExitStateFile, str(path))
    expected = Path(*path.parts[-3:])
    if exit_state_relpath(file.symbol, file.date) != expected:
        raise DataError(
            f"{path}: holds {file.symbol} {file.date} but its path says {expected.as_posix()}"
        )
    return file


def _check(tmp: Path, expected: ExitStateFile) -> None:
    if load_model(tmp.read_bytes(), ExitStateFile, str(tmp)) != expected:
        raise DataError(f"{tmp}: exit-state file does not read back equal")


EXIT_STATE_FILES = FileKind(
    "exit states", under(EXIT_STATES_DIR, ".yaml"), lambda root, rel: read_day_file(root / rel)
)
