"""Exit rules and thresholds (``config/exit_strategy.yaml``)."""

from __future__ import annotations

from pydantic import Field, PositiveInt

from market_maker.types import FrozenModel

Section = FrozenModel


class WarningSettings(Section):
    min_conditions: int = Field(2, ge=2, le=6, description="Independent conditions needed.")
    adx_threshold: float = Field(25.0, gt=0, description="ADX rising through this line.")
    efficiency_ratio_above: float = Field(0.45, gt=0, lt=1)
    bandwidth_expansion_above: float = Field(1.8, gt=1)
    outer_band: float = Field(0.15, gt=0, lt=0.5, description="Outer share of the grid, each side.")


class LatestExitSettings(Section):
    warning_persistence: PositiveInt = Field(
        3,
        description="Consecutive evaluations with the WARNING conditions met (this one included).",
    )
    edge_band: float = Field(
        0.10, gt=0, lt=0.5, description="TREND toward an edge with price this close to it (hard)."
    )


class MandatoryExitSettings(Section):
    trend_confidence: float = Field(
        0.75, gt=0, le=0.95, description="TREND against the grid with at least this confidence."
    )
    latest_persistence: PositiveInt = Field(
        2, description="Consecutive evaluations at LATEST_ACCEPTABLE_EXIT under TREND."
    )


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
    duration_warning_seconds: float = Field(60.0, gt=0, description="Log a slow evaluation.")
    duration_error_seconds: float = Field(300.0, gt=0, description="Log a very slow one as error.")
