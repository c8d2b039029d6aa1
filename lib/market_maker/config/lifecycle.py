"""The ``lifecycle`` section of the settings (config/lifecycle.yaml): setup, capital, gates,
cooldowns. docs/lifecycle.md gives the reasoning behind every default."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from market_maker.base.types import FrozenModel

Section = FrozenModel


class SetupSettings(Section):
    enabled: bool = Field(
        True,
        description="False: the system recommends no grid at all (every hour NO_SETUP, saying "
        "so); the strategy study decides it (docs/strategy.md).",
    )
    verdicts: list[Literal["RANGE_OK", "RANGE_WEAK"]] = Field(
        default_factory=lambda: ["RANGE_OK", "RANGE_WEAK"],
        min_length=1,
        description="The regime verdicts a grid may be set up under.",
    )
    max_autocorrelation: float | None = Field(
        None,
        ge=-1,
        le=1,
        description="Lag-1 autocorrelation of hourly returns at most this (None: any): price "
        "that reverts from hour to hour is what a grid earns on.",
    )
    min_pairs_per_day: NonNegativeFloat = Field(
        0.0,
        description="Expected buy/sell pairs a day at the proposed spacing, (daily volatility / "
        "spacing)^2 for a random walk, at least this.",
    )
    range_margin: NonNegativeFloat = Field(
        0.0,
        description="Widen the discovered band by this many daily volatilities on each side.",
    )
    min_confidence: float = Field(0.60, ge=0, le=1, description="Below: no setup.")
    full_confidence: float = Field(0.80, ge=0, le=1, description="At or above: a full grid.")
    probationary_allocation: float = Field(
        0.55, ge=0.5, le=0.6, description="A probationary grid's share of a full allocation."
    )
    probationary_spacing_factor: float = Field(
        1.5, ge=1, le=4, description="A probationary grid's spacing, in full-grid spacings."
    )
    promote_after_hours: PositiveInt = Field(
        24, description="A probationary grid is promoted after this many RANGE_OK hours in a row."
    )
    fee_cover: float = Field(
        2.0, ge=1, description="Spacing >= this x the round-trip fee (2 x grids.fee_rate)."
    )
    volatility_spacing: float = Field(
        1.0, gt=0, description="Target spacing in units of the hour's volatility (bandwidth/4)."
    )
    min_levels: int = Field(5, ge=3, description="Fewer levels than this is not a grid.")
    max_levels: int = Field(60, ge=3)
    spacing: Literal["arithmetic", "geometric"] = "arithmetic"
    min_width_pct: PositiveFloat = Field(2.0, description="Narrower discovered ranges: no setup.")
    max_width_pct: PositiveFloat = Field(25.0, description="Wider: not a range a grid can hold.")
    expiry_minutes: PositiveInt = Field(
        60, description="A setup's price and bounds are the hour's: approve it within this."
    )

    @model_validator(mode="after")
    def _ordered(self) -> SetupSettings:
        if not self.min_confidence <= self.full_confidence:
            raise ValueError("min_confidence must not exceed full_confidence")
        if not self.min_levels <= self.max_levels:
            raise ValueError("min_levels must not exceed max_levels")
        if not self.min_width_pct < self.max_width_pct:
            raise ValueError("min_width_pct must be below max_width_pct")
        return self


class CapitalSettings(Section):
    """SINGLE_GRID mode. The balance is the exchange's (read-only key) when it has one; the
    replay exchange reads ``total_quote`` from here."""

    total_quote: NonNegativeFloat = Field(1000.0, description="Replay: the quote balance.")
    reserve_quote: NonNegativeFloat = Field(200.0, description="Never allocated to a grid.")
    grid_allocation_quote: PositiveFloat = Field(
        640.0, description="What a full grid is given (a probationary grid a share of it)."
    )


class EnergyDecayGate(Section):
    adx_below: PositiveFloat = Field(25.0, description="ADX under the trend line ...")
    max_abs_slope: PositiveFloat = Field(1.2, description="... |normalized slope| flattened.")


class MeanReversionGate(Section):
    max_half_life_hours: PositiveFloat = Field(48.0, description="OU half-life short again ...")
    max_autocorrelation: float = Field(0.0, description="... and lag-1 autocorrelation <= this.")


class TradableVolatilityGate(Section):
    min_bandwidth: PositiveFloat = Field(0.008, description="Bollinger bandwidth: fills happen.")
    max_bandwidth: PositiveFloat = Field(0.04, description="Above: moves that leave a grid.")

    @model_validator(mode="after")
    def _band(self) -> TradableVolatilityGate:
        if not self.min_bandwidth < self.max_bandwidth:
            raise ValueError("min_bandwidth must be below max_bandwidth")
        return self


class GateSettings(Section):
    energy_decay: EnergyDecayGate = EnergyDecayGate()
    mean_reversion: MeanReversionGate = MeanReversionGate()
    tradable_volatility: TradableVolatilityGate = TradableVolatilityGate()


class CooldownSettings(Section):
    after_stop_minutes: PositiveInt = Field(60, description="No setup this soon after a stop.")
    after_setup_minutes: PositiveInt = Field(
        120, description="... nor after a declined or expired setup."
    )


class LifecycleSettings(Section):
    setup: SetupSettings = SetupSettings()
    capital: CapitalSettings = CapitalSettings()
    gates: GateSettings = GateSettings()
    cooldowns: CooldownSettings = CooldownSettings()
