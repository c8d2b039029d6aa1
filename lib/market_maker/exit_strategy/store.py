"""Exit-state files: the history persistence and rate limits are read from.

Day files are read once per run and cached; writing an evaluation updates
its day's file (the state at the end of the day, the transitions, the
evaluations and ``last_notification``). Re-evaluating an hour replaces that
hour's entries with identical ones, so reruns change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from market_maker.errors import DataError
from market_maker.exit_strategy.engine import Evaluation
from market_maker.exit_strategy.model import (
    NOTIFICATION_KEYS,
    REFUSAL_KEY,
    EvaluationRecord,
    ExitStateFile,
    exit_state_relpath,
)
from market_maker.exit_strategy.states import ExitState
from market_maker.store.atomic import write_atomic
from market_maker.yaml_files import dump, load_model

LOOKBACK_DAYS = 7  # how far back a run looks for the state a grid was left in


@dataclass
class Prior:
    """What earlier evaluations of a grid left behind."""

    state: ExitState = ExitState.NORMAL
    records: list[EvaluationRecord] = field(default_factory=list)  # most recent first
    last_notification: dict[str, datetime | None] = field(
        default_factory=lambda: dict.fromkeys(NOTIFICATION_KEYS)
    )
    existing: EvaluationRecord | None = None  # this hour's record from an earlier run


class ExitStateStore:
    def __init__(self, root: Path):
        self.root = root
        self._days: dict[tuple[str, date], ExitStateFile | None] = {}

    def path(self, symbol: str, day: date) -> Path:
        return self.root / exit_state_relpath(symbol, day)

    def day(self, symbol: str, day: date) -> ExitStateFile | None:
        key = (symbol, day)
        if key not in self._days:
            path = self.path(symbol, day)
            self._days[key] = _read(path) if path.exists() else None
        return self._days[key]

    def prior(self, symbol: str, grid_id: str, hour: datetime) -> Prior:
        """State, evaluations and last notifications of ``grid_id`` before ``hour``."""
        out = Prior()
        records: list[EvaluationRecord] = []
        notified: dict[str, datetime | None] = dict.fromkeys(NOTIFICATION_KEYS)
        for back in range(LOOKBACK_DAYS, -1, -1):
            file = self.day(symbol, (hour - timedelta(days=back)).date())
            if file is None:
                continue
            for record in file.evaluations:
                if record.grid_id != grid_id:
                    continue
                if record.hour < hour:
                    records.append(record)
                elif record.hour == hour:
                    out.existing = record
            # The day's map holds only its latest time per state: when an evaluation later in
            # the day notified again (a rerun of an earlier hour), the times before ``hour``
            # are read from the evaluations that notified.
            moments = [
                *file.last_notification.items(),
                *((r.notified.value, r.hour) for r in file.evaluations if r.notified is not None),
                *((REFUSAL_KEY, r.hour) for r in file.evaluations if r.refusal_notified),
            ]
            for state, when in moments:
                if when is not None and when < hour and state in notified:
                    previous = notified.get(state)
                    notified[state] = max(when, previous) if previous else when
        records.sort(key=lambda r: r.hour, reverse=True)
        out.records = records
        out.state = records[0].state if records else ExitState.NORMAL
        out.last_notification = notified
        return out

    def record(
        self,
        symbol: str,
        evaluation: Evaluation,
        notified: ExitState | None,
        *,
        refusal_notified: bool = False,
    ) -> Path:
        """Write the evaluation (and transition, and notification time) into its day's file."""
        day = evaluation.hour.date()
        current = self.day(symbol, day)
        carried = self._carried_notifications(symbol, day)
        evaluations = [
            e
            for e in (current.evaluations if current else [])
            if not (e.hour == evaluation.hour and e.grid_id == evaluation.grid_id)
        ]
        evaluations.append(evaluation.record(notified, refusal_notified=refusal_notified))
        evaluations.sort(key=lambda e: e.hour)
        transitions = [
            t
            for t in (current.transitions if current else [])
            if not (t.timestamp == evaluation.hour and t.grid_id == evaluation.grid_id)
        ]
        if evaluation.transition is not None:
            transitions.append(evaluation.transition)
        transitions.sort(key=lambda t: t.timestamp)
        last = dict(current.last_notification) if current else carried
        for key in NOTIFICATION_KEYS:
            last.setdefault(key, carried.get(key))
        sent = [notified.value] if notified is not None else []
        sent += [REFUSAL_KEY] if refusal_notified else []
        for key in sent:
            if key in NOTIFICATION_KEYS:
                previous = last.get(key)
                if previous is None or previous < evaluation.hour:
                    last[key] = evaluation.hour
        final = evaluations[-1]
        updated = ExitStateFile(
            symbol=symbol,
            grid_id=final.grid_id,
            date=day,
            state=final.state,
            transitions=transitions,
            last_notification=last,
            evaluations=evaluations,
        )
        path = self.path(symbol, day)
        data = dumps(updated)
        if not path.exists() or path.read_bytes() != data:
            write_atomic(path, data, lambda tmp: _check(tmp, updated))
        self._days[(symbol, day)] = updated
        return path

    def _carried_notifications(self, symbol: str, day: date) -> dict[str, datetime | None]:
        """``last_notification`` as the most recent earlier day file left it."""
        for back in range(1, LOOKBACK_DAYS + 1):
            file = self.day(symbol, day - timedelta(days=back))
            if file is not None:
                return dict(file.last_notification)
        return dict.fromkeys(NOTIFICATION_KEYS)


def dumps(file: ExitStateFile) -> bytes:
    return dump(file.model_dump(mode="json"))


def _read(path: Path) -> ExitStateFile:
    return load_model(path.read_bytes(), ExitStateFile, str(path))


def _check(tmp: Path, expected: ExitStateFile) -> None:
    if _read(tmp) != expected:
        raise DataError(f"{tmp}: exit-state file does not read back equal")
