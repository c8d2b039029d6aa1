"""The metrics file: one hour's regime analysis, recomputable from its snapshot alone."""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from market_maker.config.models import Symbol
from market_maker.identifiers import symbol_part
from market_maker.lifecycle.gates import GateEvaluation
from market_maker.regime.settings import MetricName
from market_maker.snapshots.model import GridStatusRecord
from market_maker.types import FrozenModel, UtcDatetime, UtcHour

SCHEMA_VERSION = "1.0"
# 1.1 adds gate_evaluation (written only when there is one, so other files stay 1.0).
SCHEMA_WITH_GATES = "1.1"
METRICS_DIR = "metrics"


class Verdict(StrEnum):
    RANGE_OK = "RANGE_OK"
    RANGE_WEAK = "RANGE_WEAK"
    TRANSITION = "TRANSITION"
    TREND = "TREND"

    @property
    def family(self) -> str:
        """range, transition or trend: a regime change is a change of family."""
        return {"RANGE_OK": "range", "RANGE_WEAK": "range"}.get(self.value, self.value.lower())


VERDICTS: tuple[Verdict, ...] = tuple(Verdict)
Vote = Literal["range", "neutral", "trend"]
Timeframe = Literal["1h", "4h"]


Record = FrozenModel


class MetricRecord(Record):
    value: float | None = Field(description="Null when it could not be computed (see error).")
    timeframe: Timeframe
    window: int = Field(description="Bars used, ending with the analysed hour's bar.")
    vote: Vote | None
    error: str | None = None
    params: dict[str, int | float] = Field(
        default_factory=dict, description="Period and thresholds."
    )
    details: dict[str, float] = Field(
        default_factory=dict, description="Intermediate values (e.g. slope, volatility)."
    )

    @model_validator(mode="after")
    def _numbers(self) -> MetricRecord:
        # Only a half-life is ever infinite (no mean reversion at all), and then positive.
        if self.value is not None and (
            math.isnan(self.value) or (math.isinf(self.value) and self.value < 0)
        ):
            raise ValueError(f"value {self.value} is not a number a metric can take")
        bad = [k for k, v in self.details.items() if not math.isfinite(v)]
        if bad:
            raise ValueError(f"details {', '.join(bad)} must be finite")
        return self


class PenaltyRecord(Record):
    name: str
    amount: float
    reason: str


class ConfirmationRecord(Record):
    """The same six metrics on closed 4h candles."""

    verdict: Verdict | None
    score: float | None
    metrics_computable: int
    effect: str = Field(description="What the 4h verdict did to the 1h verdict.")
    metrics: dict[MetricName, MetricRecord]


class RangeRecord(Record):
    """Proposed grid bounds from the recent price distribution."""

    lower: float = Field(gt=0, allow_inf_nan=False)
    upper: float = Field(gt=0, allow_inf_nan=False)
    width_pct: float
    inside_share: float = Field(description="Share of the window's closes inside the bounds.")
    window: int
    method: str


class HistoryRecord(Record):
    hours_in_regime: int = Field(
        description="Consecutive hours with the current verdict family, this one included "
        "(at most lookback_hours + 1)."
    )
    lookback_hours: int
    previous_verdict: Verdict | None = Field(description="Verdict of the hour before.")


class MetricsFile(Record):
    schema_version: Literal["1.0", "1.1"] = SCHEMA_VERSION
    symbol: Symbol
    hour: UtcHour
    status: Literal["OK", "INSUFFICIENT_METRICS"]
    verdict: Verdict | None = Field(description="Null when the analysis refused.")
    verdict_1h: Verdict | None = Field(description="The 1h verdict before 4h confirmation.")
    score: float | None = Field(
        description="Weighted mean vote of the 1h metrics, in [-1, 1].", ge=-1, le=1
    )
    confidence: float | None = Field(description="<= 0.95; null when refused.", ge=0, le=1)
    confidence_base: float | None = Field(ge=0, le=1)
    penalties: list[PenaltyRecord]
    metrics: dict[MetricName, MetricRecord]
    metrics_computable: int
    confirmation_4h: ConfirmationRecord
    range: RangeRecord | None
    history: HistoryRecord
    price: float = Field(description="Close of the analysed hour.", gt=0, allow_inf_nan=False)
    grid: GridStatusRecord | None
    snapshot: str = Field(description="Path of the snapshot analysed, in the data repository.")
    snapshot_collected_at: UtcDatetime | None = None
    gate_evaluation: GateEvaluation | None = Field(
        None, description="Restart gates after the symbol's last stop (no grid running)."
    )
    config_version: str
    code_version: str

    @model_validator(mode="after")
    def _consistent(self) -> MetricsFile:
        if (self.gate_evaluation is not None) != (self.schema_version == SCHEMA_WITH_GATES):
            raise ValueError(
                f"schema_version {self.schema_version} does not go with "
                f"{'a' if self.gate_evaluation else 'no'} gate_evaluation"
            )
        if (self.status == "OK") != (self.verdict is not None):
            raise ValueError(f"status {self.status} does not go with verdict {self.verdict}")
        if self.range is not None and self.range.lower >= self.range.upper:
            raise ValueError("range.lower must be below range.upper")
        if self.grid is not None and self.grid.lower_price >= self.grid.upper_price:
            raise ValueError("grid.lower_price must be below grid.upper_price")
        return self


def metrics_relpath(symbol: str, hour) -> Path:
    """``metrics/{SYMBOL}/{YYYY-MM-DD}-{HH}.yaml``."""
    return Path(METRICS_DIR, symbol_part(symbol), f"{hour:%Y-%m-%d-%H}.yaml")
