"""Exit rules and thresholds (``config/exit_strategy.yaml``)."""

from __future__ import annotations

from pydantic import Field, PositiveInt, model_validator

from market_maker.base.types import FrozenModel

Section = FrozenModel


class WarningSettings(Section):
    min_conditions: int = Field(2, ge=2, le=6, description="Independent conditions needed.")
    adx_threshold: float = Field(25.0, gt=0, description="ADX rising through this line.")
    efficiency_ratio_above: float = Field(0.45, gt=0, lt=1)
    bandwidth_expansion_above: float = Field(1.8, gt=1)
    outer_band: float = Field(0.15, gt=0, lt=0.5, description="Outer share of the grid, each side.")


class LatestExitSettings(Section):
    warning_persistence: int = Field(
        3,
        ge=0,
        description="Consecutive evaluations with the WARNING conditions met (this one "
        "included); 0 turns the rule off.",
    )
    edge_band: float = Field(
        0.10,
        ge=0,
        lt=0.5,
        description="TREND toward an edge with price this close to it (hard); 0 turns it off.",
    )
    adx_above: float | None = Field(
        None,
        gt=0,
        lt=100,
        description="1h ADX(14) above this stops the grid at once (hard); None turns it off.",
    )


class MandatoryExitSettings(Section):
    trend_confidence: float = Field(
        0.75, gt=0, le=0.95, description="TREND against the grid with at least this confidence."
    )
    latest_persistence: PositiveInt = Field(
        2, description="Consecutive evaluations at LATEST_ACCEPTABLE_EXIT under TREND."
    )


class BreakRiskCoefficients(Section):
    """Logistic coefficients of P(close outside the grid within 24 h); fitted, see provenance."""

    intercept: float = 0.0
    log_distance: float = Field(0.0, description="log of the distance to the nearer bound.")
    toward_slope: float = Field(0.0, description="Normalized slope toward that bound.")
    efficiency_ratio: float = 0.0
    log_expansion: float = Field(0.0, description="log of the Bollinger bandwidth expansion.")


class BreakRiskSettings(Section):
    """A calibrated chance of a break within a day, as a WARNING and a LATEST condition."""

    enabled: bool = Field(False, description="Off: the two conditions never fire.")
    coefficients: BreakRiskCoefficients = BreakRiskCoefficients()
    warning_above: float = Field(
        0.5, gt=0, lt=1, description="A WARNING condition at or above this probability."
    )
    latest_above: float = Field(
        0.7, gt=0, lt=1, description="A LATEST_ACCEPTABLE_EXIT trigger at or above this."
    )
    provenance: str = Field("", description="Data, period and command the coefficients came from.")

    @model_validator(mode="after")
    def _ordered(self) -> BreakRiskSettings:
        if self.warning_above > self.latest_above:
            raise ValueError(
                f"warning_above {self.warning_above:g} must not exceed latest_above "
                f"{self.latest_above:g}"
            )
        return self


class DeescalationSettings(Section):
    """Calm evaluations in a row (no trigger of the current state or above) before stepping down."""

    WARNING: PositiveInt = 6
    LATEST_ACCEPTABLE_EXIT: PositiveInt = 6
    MANDATORY_EXIT: PositiveInt = 12


class ExitStrategySettings(Section):
    warning: WarningSettings = WarningSettings()
    latest_acceptable_exit: LatestExitSettings = LatestExitSettings()
    mandatory_exit: MandatoryExitSettings = MandatoryExitSettings()
    deescalation: DeescalationSettings = DeescalationSettings()
    break_risk: BreakRiskSettings = BreakRiskSettings()
    duration_warning_seconds: float = Field(60.0, gt=0, description="Log a slow evaluation.")
    duration_error_seconds: float = Field(300.0, gt=0, description="Log a very slow one as error.")

    @model_validator(mode="after")
    def _durations_in_order(self) -> ExitStrategySettings:
        if self.duration_warning_seconds >= self.duration_error_seconds:
            raise ValueError(
                f"duration_warning_seconds ({self.duration_warning_seconds:g}) must be below "
                f"duration_error_seconds ({self.duration_error_seconds:g})"
            )
        return self
