"""The metrics file: one period's regime analysis, recomputable from its snapshot alone.

The period is an hour by default (``snapshots.period_minutes``); ``hour`` is its start.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal, Protocol

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from market_maker.base.identifiers import symbol_part
from market_maker.base.types import FrozenModel, PeriodMinutes, UtcDatetime, aligned_start
from market_maker.config.models import Symbol
from market_maker.config.regime import MetricName
from market_maker.regime.gate_records import GateEvaluation
from market_maker.snapshots.model import GridStatusRecord

SCHEMA_VERSION = "1.0"
# 1.1 adds gate_evaluation (written only when there is one, so other files stay 1.0).
SCHEMA_WITH_GATES = "1.1"
# 1.2: a period under an hour (period_minutes written), with or without gate_evaluation.
# Hourly files never carry it: they stay 1.0 or 1.1 byte for byte.
SCHEMA_WITH_PERIOD = "1.2"


def schema_for(*, gates: bool, period_minutes: int = 60) -> str:
    """The schema version of a metrics file with or without gates, for its period."""
    if period_minutes != 60:
        return SCHEMA_WITH_PERIOD
    return SCHEMA_WITH_GATES if gates else SCHEMA_VERSION


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
    schema_version: Literal["1.0", "1.1", "1.2"] = SCHEMA_VERSION
    symbol: Symbol
    # Before ``hour``, whose alignment it sets; left out of the file at 60 (hourly files).
    period_minutes: PeriodMinutes = Field(60, description="Length of the period (1.2 only).")
    hour: UtcDatetime = Field(description="Start of the period (the hour at 60 minutes).")
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
    price: float = Field(
        description="Close of the analysed period (its last minute's).", gt=0, allow_inf_nan=False
    )
    grid: GridStatusRecord | None
    snapshot: str = Field(description="Path of the snapshot analysed, in the data repository.")
    snapshot_collected_at: UtcDatetime | None = None
    gate_evaluation: GateEvaluation | None = Field(
        None, description="Restart gates after the symbol's last stop (no grid running)."
    )
    config_version: str
    code_version: str

    @field_validator("hour")
    @classmethod
    def _period_start(cls, value, info: ValidationInfo):
        return aligned_start(value, info.data.get("period_minutes", 60))

    @model_serializer(mode="wrap")
    def _hourly_without_period(self, handler: SerializerFunctionWrapHandler) -> dict:
        data = handler(self)
        if self.period_minutes == 60:
            data.pop("period_minutes", None)  # hourly files stay byte for byte as before
        return data

    @model_validator(mode="after")
    def _consistent(self) -> MetricsFile:
        wanted = schema_for(
            gates=self.gate_evaluation is not None, period_minutes=self.period_minutes
        )
        if self.schema_version != wanted:
            if self.period_minutes != 60 or self.schema_version == SCHEMA_WITH_PERIOD:
                raise ValueError(
                    f"schema_version {self.schema_version} does not go with a "
                    f"{self.period_minutes}-minute period (60: 1.0 or 1.1; under 60: 1.2)"
                )
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

    @property
    def verdict_4h(self) -> Verdict | None:
        return self.confirmation_4h.verdict

    @property
    def previous_verdict(self) -> Verdict | None:
        return self.history.previous_verdict

    def value(self, name: MetricName) -> float | None:
        """The 1h metric's value (None when it could not be computed)."""
        record = self.metrics.get(name)
        return record.value if record is not None else None

    def detail(self, name: MetricName, key: str) -> float | None:
        record = self.metrics.get(name)
        return record.details.get(key) if record is not None else None


class AnalysedHour(Protocol):
    """What the decisions read of an hour's analysis: the hour's metrics file (live), or the
    backtest's analysis of the hour (:class:`market_maker.regime.analysis.BatchHour`).

    Every decision (the exit engine's observation, the restart gates, the setup evaluation)
    is computed from this one view, so live and backtest cannot read an hour differently.
    """

    @property
    def symbol(self) -> str: ...
    @property
    def hour(self) -> datetime: ...
    @property
    def price(self) -> float: ...
    @property
    def verdict(self) -> Verdict | None: ...
    @property
    def verdict_1h(self) -> Verdict | None: ...
    @property
    def verdict_4h(self) -> Verdict | None: ...
    @property
    def previous_verdict(self) -> Verdict | None: ...
    @property
    def confidence(self) -> float | None: ...
    @property
    def range(self) -> RangeRecord | None: ...
    @property
    def gate_evaluation(self) -> GateEvaluation | None: ...

    def value(self, name: MetricName) -> float | None: ...

    def detail(self, name: MetricName, key: str) -> float | None: ...


def metrics_relpath(symbol: str, hour, period_minutes: int = 60) -> Path:
    """``metrics/{SYMBOL}/{YYYY-MM-DD}-{HH}.yaml``; ``...-{HH}-{MM}.yaml`` under an hour."""
    name = f"{hour:%Y-%m-%d-%H}.yaml" if period_minutes == 60 else f"{hour:%Y-%m-%d-%H-%M}.yaml"
    return Path(METRICS_DIR, symbol_part(symbol), name)


def metrics_file_period(name: str) -> Literal["hour", "period"] | None:
    """Whether a metrics file name is an hour's (``...-HH.yaml``), a shorter period's
    (``...-HH-MM.yaml``) or neither."""
    stem, _, suffix = name.rpartition(".")
    parts = stem.split("-")
    if suffix != "yaml" or not all(p.isdigit() for p in parts):
        return None
    return {4: "hour", 5: "period"}.get(len(parts))
