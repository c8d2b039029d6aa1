"""The exit-state file: ``exit_states/{SYMBOL}/{YYYY-MM-DD}.yaml``."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field

from market_maker.config.models import Symbol
from market_maker.exit_strategy.states import ExitState
from market_maker.types import FrozenModel, UtcDatetime, UtcHour

SCHEMA_VERSION = "1.0"
EXIT_STATES_DIR = "exit_states"
NOTIFIED_STATES = ("WARNING", "LATEST_ACCEPTABLE_EXIT", "MANDATORY_EXIT")
# The regime analysis refused (too few metrics): alerted like a WARNING, rate limited apart.
REFUSAL_KEY = "ANALYSIS_REFUSED"
NOTIFICATION_KEYS = (*NOTIFIED_STATES, REFUSAL_KEY)


Record = FrozenModel


class TransitionRecord(Record):
    timestamp: UtcHour = Field(description="The evaluated hour.")
    grid_id: str
    from_state: ExitState
    to_state: ExitState
    reasons: list[str]
    metrics: dict[str, float | str | None]


class EvaluationRecord(Record):
    """One hourly evaluation: the state after it and what fired (persistence reads these)."""

    hour: UtcHour
    grid_id: str
    state: ExitState
    target: ExitState = Field(description="The highest state whose triggers fired.")
    warning: bool = Field(description="The WARNING conditions were met.")
    conditions: list[str] = Field(description="Names of the conditions met, all levels.")
    notified: ExitState | None = Field(None, description="State notified for this hour, if any.")
    refusal_notified: bool = Field(False, description="The analysis refusal was alerted.")


class ExitStateFile(Record):
    schema_version: Literal["1.0"] = SCHEMA_VERSION
    symbol: Symbol
    grid_id: str = Field(description="Grid of the day's last evaluation.")
    date: date
    state: ExitState = Field(description="State at the end of the day's last evaluation.")
    transitions: list[TransitionRecord] = Field(default_factory=list)
    last_notification: dict[str, UtcDatetime | None] = Field(
        default_factory=lambda: dict.fromkeys(NOTIFICATION_KEYS)
    )
    evaluations: list[EvaluationRecord] = Field(default_factory=list)


def exit_state_relpath(symbol: str, day: date | datetime) -> Path:
    return Path(EXIT_STATES_DIR, symbol, f"{day:%Y-%m-%d}.yaml")
