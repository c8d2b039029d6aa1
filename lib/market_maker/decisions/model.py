"""A decision record: what was recommended, when, why, and until when it is actionable."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from market_maker.base.errors import DataError
from market_maker.base.identifiers import DecisionId, GridId, decision_id_part, symbol_part
from market_maker.base.types import FrozenModel, UtcDatetime, UtcPeriodStart
from market_maker.config.models import Symbol
from market_maker.decisions.states import ExitState, Recommendation
from market_maker.grids.position import PositionRisk
from market_maker.regime.model import Verdict

SCHEMA_VERSION = "1.0"
# 1.1: a GRID_MANAGE decision with the grid's position risk, and a probationary grid's
# promotion when one is due (1.0 records, without either, are still read).
SCHEMA_WITH_POSITION = "1.1"
DECISIONS_DIR = "decisions"


Record = FrozenModel


SetupRecommendation = Literal["CREATE_GRID", "NO_SETUP"]


SetupMode = Literal["full", "probationary"]


class CapitalRecord(FrozenModel):
    """SINGLE_GRID capital at the hour: unlocked = total - reserve - allocated."""

    total: float = Field(ge=0)
    reserve: float = Field(ge=0)
    allocated: float = Field(ge=0, description="Capital of the grids running.")
    unlocked: float
    used: float | None = Field(None, ge=0, description="What the proposed grid takes.")
    source: str = Field(description="Where the balance came from.")


class ProposedGrid(FrozenModel):
    lower_price: float = Field(gt=0)
    upper_price: float = Field(gt=0)
    levels: int = Field(ge=2)
    spacing: Literal["arithmetic", "geometric"]
    spacing_pct: float = Field(description="Smallest step between levels, percent of price.")
    amount_per_grid: float = Field(gt=0, description="Base bought or sold per level.")
    profit_per_grid: float = Field(gt=0, description="Smallest step as a fraction (gross).")
    profit_per_grid_net: float = Field(description="Less the maker fee on both fills.")


class Check(FrozenModel):
    name: str
    passed: bool
    detail: str


class GridRef(Record):
    grid_id: GridId
    lower_price: float = Field(gt=0, allow_inf_nan=False)
    upper_price: float = Field(gt=0, allow_inf_nan=False)
    levels: int = Field(ge=2)
    grid_version: str | None = None


class Decision(Record):
    schema_version: Literal["1.0", "1.1"] = SCHEMA_VERSION
    id: DecisionId = Field(description="dec-{SYMBOL}-{YYYYMMDD}-{HHMMSS} of the issue time.")
    type: Literal["GRID_MANAGE"] = "GRID_MANAGE"
    symbol: Symbol
    hour: UtcPeriodStart = Field(description="The evaluated hour.")
    issued_at: UtcDatetime = Field(description="When the hour's data was complete (hour + 1 h).")
    expires_at: UtcDatetime | None = Field(
        description="Act before this, or wait for the next one; null: no deadline (a range)."
    )
    recommendation: Recommendation
    exit_state: ExitState
    previous_exit_state: ExitState
    verdict: Verdict | None
    confidence: float | None
    reasons: list[str]
    metrics: dict[str, float | str | None]
    grid: GridRef
    metrics_file: str
    position: PositionRisk | None = Field(
        None, description="What the grid holds and risks at the hour (schema 1.1)."
    )
    promotion: ProposedGrid | None = Field(
        None,
        description="A full grid to replace this probationary one (schema 1.1): approving "
        "the decision places it.",
    )
    config_version: str
    code_version: str

    @model_validator(mode="after")
    def _consistent(self) -> Decision:
        extended = self.promotion is not None or self.position is not None
        if extended != (self.schema_version == SCHEMA_WITH_POSITION):
            raise ValueError(f"position and promotion need schema_version {SCHEMA_WITH_POSITION}")
        if self.id != decision_id(self.symbol, self.issued_at):
            raise ValueError(
                f"id {self.id} does not match the symbol and issue time "
                f"({decision_id(self.symbol, self.issued_at)})"
            )
        if self.expires_at is not None and self.expires_at < self.issued_at:
            raise ValueError("expires_at is before issued_at")
        if self.grid.lower_price >= self.grid.upper_price:
            raise ValueError("grid.lower_price must be below grid.upper_price")
        return self


class SetupDecision(Record):
    """GRID_SETUP: whether to place a grid for a symbol with none running, and how."""

    schema_version: Literal["1.0"] = SCHEMA_VERSION
    id: DecisionId = Field(description="dec-{SYMBOL}-{YYYYMMDD}-{HHMMSS} of the issue time.")
    type: Literal["GRID_SETUP"] = "GRID_SETUP"
    symbol: Symbol
    hour: UtcPeriodStart = Field(description="The evaluated hour.")
    issued_at: UtcDatetime = Field(description="When the hour's data was complete (hour + 1 h).")
    expires_at: UtcDatetime | None = Field(description="Approve before this; null: NO_SETUP.")
    recommendation: SetupRecommendation
    mode: SetupMode | None = Field(description="full or probationary (CREATE_GRID only).")
    price: float = Field(gt=0, allow_inf_nan=False, description="Close of the evaluated hour.")
    grid: ProposedGrid | None
    capital: CapitalRecord | None
    gates: dict[str, str] | None = Field(description="Restart gates after the last stop.")
    verdict: Verdict | None
    confidence: float | None
    reasons: list[str] = Field(description="The failed conditions, or all of them when none did.")
    checks: list[Check]
    metrics_file: str
    config_version: str
    code_version: str

    @model_validator(mode="after")
    def _consistent(self) -> SetupDecision:
        if self.id != decision_id(self.symbol, self.issued_at):
            raise ValueError(
                f"id {self.id} does not match the symbol and issue time "
                f"({decision_id(self.symbol, self.issued_at)})"
            )
        creates = self.recommendation == "CREATE_GRID"
        if creates != (self.grid is not None) or creates != (self.mode is not None):
            raise ValueError("a CREATE_GRID has a grid and a mode; a NO_SETUP has neither")
        if creates and (self.expires_at is None or self.expires_at < self.issued_at):
            raise ValueError("a CREATE_GRID expires after it is issued")
        if self.grid is not None and self.grid.lower_price >= self.grid.upper_price:
            raise ValueError("grid.lower_price must be below grid.upper_price")
        return self


ActionKind = Literal["executed", "declined", "ignored"]


class ActionData(Record):
    """The data of a ``kind: action`` entry: what the operator did about a decision, when."""

    action: ActionKind
    at: UtcDatetime = Field(description="When the operator acted.")
    late: bool = Field(description="After the decision's expires_at: it may no longer hold.")
    note: str | None = None
    source: str = Field("decision act", description="The command that recorded it.")
    grid_id: str | None = None


class Excursion(Record):
    price: float = Field(description="The worst hourly low against the grid.")
    pct: float = Field(description="How far below the decision's price, in percent.")
    usd: float = Field(description="The grid's value lost at that low.")


class EvaluationData(Record):
    """``kind: evaluation`` entry: the outcome of a recommendation at one horizon."""

    horizon: str = Field(description="24h, 72h or 7d after issue.")
    window_start: UtcDatetime = Field(description="issued_at")
    window_end: UtcDatetime = Field(description="issued_at + horizon")
    price: float = Field(description="Close of the decision's hour.")
    stop_price: float = Field(description="Price one operator delay after issue.")
    close_at_end: float
    broke: bool = Field(description="An hourly close outside the grid in the window.")
    break_at: UtcDatetime | None = None
    max_adverse_excursion: Excursion
    usd_if_kept: float = Field(description="The grid's P&L had it kept running.")
    usd_if_stopped: float = Field(description="Its P&L stopped at stop_price.")
    usd_if_followed: float
    usd_if_ignored: float
    recommendation_quality: Literal["right", "wrong"]
    quality_reason: str
    action: ActionKind | None = None
    action_at: UtcDatetime | None = None
    usd_as_acted: float | None = Field(None, description="P&L with the action as taken.")
    action_quality: Literal["helped", "hurt", "no_action"]


class DecisionEntry(Record):
    """A later fact about a decision (operator action, outcome evaluation); never an edit."""

    schema_version: Literal["1.0"] = SCHEMA_VERSION
    decision_id: DecisionId
    sequence: int = Field(ge=1)
    kind: Literal["action", "evaluation"]
    recorded_at: UtcDatetime
    data: dict[str, Any]

    @model_validator(mode="after")
    def _data_of_its_kind(self) -> DecisionEntry:
        # Entries recorded by `grid disable --decision` before actions were typed are read as
        # they were written (see :meth:`action_taken`).
        if self.kind == "action" and self.data.get("action") not in ("grid disable", "grid enable"):
            ActionData.model_validate(self.data)
        elif self.kind == "evaluation":
            EvaluationData.model_validate(self.data)
        return self

    def action_taken(self) -> tuple[str, datetime]:
        """What an action entry says the operator did, and when; entries recorded by ``grid
        disable --decision`` before actions were typed read as executed when recorded."""
        if self.data.get("action") in ("grid disable", "grid enable"):
            return "executed", self.recorded_at
        action = ActionData.model_validate(self.data)
        return action.action, action.at


def decision_relpath(symbol: str, issued_at: datetime) -> Path:
    """``decisions/{YYYY-MM-DD}/dec-{SYMBOL}-{HHMMSS}.yaml``."""
    name = f"dec-{symbol_part(symbol)}-{issued_at:%H%M%S}.yaml"
    return Path(DECISIONS_DIR, f"{issued_at:%Y-%m-%d}", name)


# A backtest asks for the id of every grid-hour under every policy: the same few thousand.
@lru_cache(maxsize=65536)
def decision_id(symbol: str, issued_at: datetime) -> str:
    return f"dec-{symbol}-{issued_at:%Y%m%d-%H%M%S}"


def decision_id_relpath(value: str) -> Path:
    """Where the decision with this id lives; a DataError for anything but a decision id."""
    decision_id_part(value)
    symbol, day, time = value.removeprefix("dec-").rsplit("-", 2)
    try:
        issued = datetime.strptime(day + time, "%Y%m%d%H%M%S")
    except ValueError:
        raise DataError(f"decision id {value!r} holds no valid date and time") from None
    return decision_relpath(symbol, issued)
