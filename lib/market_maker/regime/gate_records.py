"""The restart gates' record in an hour's metrics file (``gate_evaluation``).

The gates themselves (how each passes) are the lifecycle's
(:mod:`market_maker.lifecycle.restart_gates`); the metrics file only carries their state.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from market_maker.base.types import FrozenModel, UtcDatetime, UtcPeriodStart


class Gate(StrEnum):
    ENERGY_DECAY = "energy_decay"
    MEAN_REVERSION = "mean_reversion"
    TRADABLE_VOLATILITY = "tradable_volatility"


GATES: tuple[Gate, ...] = tuple(Gate)
GateStatus = Literal["passed", "pending", "not_evaluated"]


class GateRecord(FrozenModel):
    status: GateStatus = "not_evaluated"
    at: UtcPeriodStart | None = Field(None, description="The hour it passed.")
    values: dict[str, float | None] = Field(default_factory=dict)
    reason: str | None = Field(None, description="Why it passed or not, in words.")


class GateEvaluation(FrozenModel):
    """``gate_evaluation`` in the hour's metrics file."""

    since_stop: UtcDatetime = Field(description="The stop the gates follow.")
    energy_decay: GateRecord = GateRecord()
    mean_reversion: GateRecord = GateRecord()
    tradable_volatility: GateRecord = GateRecord()
    reset: str | None = Field(None, description="Why the gates were reset this hour.")

    def record(self, gate: Gate) -> GateRecord:
        return getattr(self, gate.value)

    @property
    def all_passed(self) -> bool:
        return all(self.record(g).status == "passed" for g in GATES)

    @property
    def next_gate(self) -> Gate | None:
        return next((g for g in GATES if self.record(g).status != "passed"), None)
