"""The exit-state timeline of a symbol, read back from the stored exit-state files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from market_maker.exit_strategy.model import DeliveryRecord, TransitionRecord
from market_maker.exit_strategy.store import ExitStateStore


@dataclass
class Timeline:
    transitions: list[TransitionRecord]
    notified: list[DeliveryRecord]  # the exit-state alerts the operator's channel took
    hours_in_state: dict[str, int]


def read_timeline(store: ExitStateStore, symbol: str, start: datetime, end: datetime) -> Timeline:
    transitions: list[TransitionRecord] = []
    notified: list[DeliveryRecord] = []
    hours: dict[str, int] = {}
    day = start.date()
    while day <= end.date():
        file = store.day(symbol, day)
        day += timedelta(days=1)
        if file is None:
            continue
        transitions += [t for t in file.transitions if start <= t.timestamp <= end]
        for e in file.evaluations:
            if start <= e.hour <= end:
                hours[e.state.value] = hours.get(e.state.value, 0) + 1
        notified += [d for d in file.notified() if start <= d.hour <= end]
    return Timeline(transitions, notified, hours)
