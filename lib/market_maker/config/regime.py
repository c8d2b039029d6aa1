"""Regime analysis settings (``config/regime.yaml``): windows, thresholds, weights."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from market_maker.base.types import FrozenModel

MetricName = Literal[
    "adx",
    "efficiency_ratio",
    "autocorrelation",
    "ou_half_life",
    "normalized_slope",
    "bollinger_bandwidth",
]
METRIC_NAMES: tuple[MetricName, ...] = (
    "adx",
    "efficiency_ratio",
    "autocorrelation",
    "ou_half_life",
    "normalized_slope",
    "bollinger_bandwidth",
)


Section = FrozenModel


class Thresholds(Section):
    """Vote range below ``range_below``, trend above ``trend_above``, neutral between."""

    window: PositiveInt = Field(description="Bars of the timeframe the value is computed from.")
    range_below: float
    trend_above: float

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.range_below > self.trend_above:
            raise ValueError(
                f"range_below ({self.range_below}) must not exceed trend_above ({self.trend_above})"
            )
        return self


class AdxSettings(Thresholds):
    period: PositiveInt = 14

    @model_validator(mode="after")
    def _long_enough(self) -> AdxSettings:
        if self.window < 2 * self.period:
            raise ValueError(f"window {self.window} < 2 x period {self.period}: ADX needs 2n bars")
        return self


class MinWindow(Thresholds):
    @model_validator(mode="after")
    def _long_enough(self) -> MinWindow:
        if self.window < 5:
            raise ValueError(f"window {self.window} is too short (at least 5 bars)")
        return self


class BandwidthSettings(Section):
    """Bollinger bandwidth: range-friendly inside a tradable band and not expanding fast."""

    period: PositiveInt = 20
    nbdev: PositiveFloat = 2.0
    expansion_bars: PositiveInt = Field(
        6, description="Expansion = bandwidth / bandwidth N bars ago."
    )
    min_tradable: PositiveFloat = Field(
        description="Below: too quiet for a grid to earn (neutral)."
    )
    max_tradable: PositiveFloat = Field(description="Above: too wide for a grid (trend vote).")
    expansion_range_below: PositiveFloat = 1.3
    expansion_trend_above: PositiveFloat = 1.6

    @property
    def window(self) -> int:
        return self.period + self.expansion_bars

    @model_validator(mode="after")
    def _ordered(self) -> BandwidthSettings:
        if self.min_tradable >= self.max_tradable:
            raise ValueError("min_tradable must be below max_tradable")
        if self.expansion_range_below > self.expansion_trend_above:
            raise ValueError("expansion_range_below must not exceed expansion_trend_above")
        return self


class TimeframeSettings(Section):
    adx: AdxSettings
    efficiency_ratio: MinWindow
    autocorrelation: MinWindow
    ou_half_life: MinWindow
    normalized_slope: MinWindow
    bollinger_bandwidth: BandwidthSettings

    def window(self, name: MetricName) -> int:
        return int(getattr(self, name).window)

    @property
    def longest_window(self) -> int:
        return max(self.window(name) for name in METRIC_NAMES)


class Weights(Section):
    adx: float = Field(1.0, ge=0)
    efficiency_ratio: float = Field(1.0, ge=0)
    autocorrelation: float = Field(1.0, ge=0)
    ou_half_life: float = Field(1.0, ge=0)
    normalized_slope: float = Field(1.0, ge=0)
    bollinger_bandwidth: float = Field(1.0, ge=0)


class ClassificationSettings(Section):
    """Score = weighted mean vote (trend +1, neutral 0, range -1) over computable metrics."""

    trend_at: float = Field(0.5, description="score >= trend_at: TREND")
    transition_at: float = Field(0.15, description="score >= transition_at: TRANSITION")
    range_ok_at: float = Field(-0.35, description="score <= range_ok_at: RANGE_OK")
    min_metrics: int = Field(4, ge=1, le=6, description="Fewer computable metrics: refuse.")

    @model_validator(mode="after")
    def _ordered(self) -> ClassificationSettings:
        if not self.range_ok_at < self.transition_at <= self.trend_at:
            raise ValueError("need range_ok_at < transition_at <= trend_at")
        return self


class GridPenaltySettings(Section):
    outer_band: float = Field(0.15, gt=0, lt=0.5, description="Outer share of the grid each side.")
    outer_band_penalty: float = Field(0.10, ge=0, le=1)
    outside_penalty: float = Field(0.25, ge=0, le=1)
    maturity_hours: float = Field(24.0, ge=0)
    maturity_penalty: float = Field(0.05, ge=0, le=1)
    spacing_min_ratio: float = Field(0.3, gt=0, description="Spacing / hourly volatility, low end.")
    spacing_max_ratio: float = Field(
        3.0, gt=0, description="Spacing / hourly volatility, high end."
    )
    spacing_penalty: float = Field(0.05, ge=0, le=1)
    volatility_window: PositiveInt = Field(48, description="1h bars for the hourly volatility.")


class ConfidenceSettings(Section):
    cap: float = Field(0.95, gt=0, le=0.95)
    floor: float = Field(0.05, ge=0, lt=0.5)
    short_history_hours: PositiveInt = 36
    short_history_penalty: float = Field(0.15, ge=0, le=1)
    missing_metric_penalty: float = Field(0.05, ge=0, le=1)
    no_confirmation_penalty: float = Field(0.10, ge=0, le=1)
    disagreement_penalty: float = Field(0.10, ge=0, le=1)
    grid: GridPenaltySettings = GridPenaltySettings()


class RangeDiscoverySettings(Section):
    window: PositiveInt = Field(120, description="1h bars of recent prices.")
    lower_quantile: float = Field(0.05, gt=0, lt=0.5)
    upper_quantile: float = Field(0.95, gt=0.5, lt=1)


class RegimeSettings(Section):
    timeframes: dict[Literal["1h", "4h"], TimeframeSettings]
    weights: Weights = Weights()
    classification: ClassificationSettings = ClassificationSettings()
    confidence: ConfidenceSettings = ConfidenceSettings()
    range_discovery: RangeDiscoverySettings = RangeDiscoverySettings()

    @model_validator(mode="after")
    def _both_timeframes(self) -> RegimeSettings:
        missing = {"1h", "4h"} - set(self.timeframes)
        if missing:
            raise ValueError(f"timeframes must define {', '.join(sorted(missing))}")
        return self

    @property
    def history_hours(self) -> int:
        return self.confidence.short_history_hours

    def bars_needed(self) -> dict[str, int]:
        """Candles a snapshot must hold so that it alone yields the verdict and its history."""
        return {
            "1h": max(self.timeframes["1h"].longest_window, self.range_discovery.window)
            + self.history_hours,
            "4h": self.timeframes["4h"].longest_window + -(-self.history_hours // 4),
        }
