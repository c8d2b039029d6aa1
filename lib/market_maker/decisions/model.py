"""A decision record: what was recommended, when, why, and until when it is actionable."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from market_maker.config.models import Symbol
from market_maker.exit_strategy.states import ExitState, Recommendation
from market_maker.regime.model import Verdict
from market_maker.types import FrozenModel, UtcDatetime, UtcHour

SCHEMA_VERSION = "1.0"
DECISIONS_DIR = "decisions"


Record = FrozenModel


class GridRef(Record):
    grid_id: str
    lower_price: float
    upper_price: float
    levels: int
    grid_version: str | None = None


class Decision(Record):
    schema_version: Literal["1.0"] = SCHEMA_VERSION
    id: str = Field(description="dec-{SYMBOL}-{YYYYMMDD}-{HHMMSS} of the issue time.")
    type: Literal["GRID_MANAGE"] = "GRID_MANAGE"
    symbol: Symbol
    hour: UtcHour = Field(description="The evaluated hour.")
    issued_at: UtcDatetime = Field(description="When the hour's data was complete (hour + 1 h).")
    expires_at: UtcDatetime = Field(description="Act before this, or wait for the next one.")
    recommendation: Recommendation
    exit_state: ExitState
    previous_exit_state: ExitState
    verdict: Verdict | None
    confidence: float | None
    reasons: list[str]
    metrics: dict[str, float | str | None]
    grid: GridRef
    metrics_file: str
    config_version: str
    code_version: str


class DecisionEntry(Record):
    """A later fact about a decision (operator action, outcome evaluation); never an edit."""

    schema_version: Literal["1.0"] = SCHEMA_VERSION
    decision_id: str
    sequence: int = Field(ge=1)
    kind: Literal["action", "evaluation"]
    recorded_at: UtcDatetime
    data: dict[str, Any]


def decision_relpath(symbol: str, issued_at: datetime) -> Path:
    """``decisions/{YYYY-MM-DD}/dec-{SYMBOL}-{HHMMSS}.yaml``."""
    return Path(DECISIONS_DIR, f"{issued_at:%Y-%m-%d}", f"dec-{symbol}-{issued_at:%H%M%S}.yaml")


def decision_id(symbol: str, issued_at: datetime) -> str:
    return f"dec-{symbol}-{issued_at:%Y%m%d-%H%M%S}"
