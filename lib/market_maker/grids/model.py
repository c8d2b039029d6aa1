"""The grid file: bounds, levels, sizes, and the history that says whether it runs."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

from market_maker.base.identifiers import GRID_ID_PATTERN, Symbol
from market_maker.base.types import UtcDatetime
from market_maker.snapshots.model import GridStatusRecord

SCHEMA_VERSION = "1.0"
# 1.1: spacing, mode and setup_decision (grids created from a setup recommendation).
SCHEMA_WITH_SETUP = "1.1"
GRIDS_DIR = "grids"


class HistoryEntry(BaseModel):
    """One operator action: ``enabled: <time>`` or ``disabled: <time>`` with a reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: UtcDatetime | None = None
    disabled: UtcDatetime | None = None
    reason: str | None = None

    @model_validator(mode="after")
    def _one_action(self) -> HistoryEntry:
        if (self.enabled is None) == (self.disabled is None):
            raise ValueError("each history entry holds exactly one of 'enabled' or 'disabled'")
        return self

    @property
    def at(self) -> datetime:
        moment = self.enabled or self.disabled
        if moment is None:  # excluded by the validator
            raise ValueError("empty history entry")
        return moment

    @property
    def action(self) -> Literal["enabled", "disabled"]:
        return "enabled" if self.enabled is not None else "disabled"


class GridConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    schema_version: Literal["1.0", "1.1"] = SCHEMA_VERSION
    id: str = Field(pattern=GRID_ID_PATTERN, description="File name stem: grids/{id}.yaml")
    symbol: Symbol
    lower_price: PositiveFloat
    upper_price: PositiveFloat
    levels: int = Field(ge=2, description="Price levels, bounds included.")
    amount_per_grid: PositiveFloat = Field(description="Base asset bought or sold per level.")
    profit_per_grid: PositiveFloat = Field(
        description="Fraction per completed buy/sell pair, before fees."
    )
    spacing_kind: Literal["arithmetic", "geometric"] = Field(
        "arithmetic", alias="spacing", description="Levels equally apart in price, or in ratio."
    )
    mode: Literal["full", "probationary"] = Field(
        "full", description="probationary: a smaller, wider grid for a range not yet proven."
    )
    setup_decision: str | None = Field(None, description="The GRID_SETUP it was created from.")
    history: list[HistoryEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> GridConfig:
        extended = (
            self.spacing_kind != "arithmetic"
            or self.mode != "full"
            or self.setup_decision is not None
        )
        if extended and self.schema_version != SCHEMA_WITH_SETUP:
            raise ValueError(
                f"spacing, mode and setup_decision need schema_version {SCHEMA_WITH_SETUP}"
            )
        if self.lower_price >= self.upper_price:
            raise ValueError(
                f"lower_price {self.lower_price} must be below upper_price {self.upper_price}"
            )
        times = [e.at for e in self.history]
        if times != sorted(times):
            raise ValueError("history entries must be in time order")
        actions = [e.action for e in self.history]
        for a, b in pairwise(actions):
            if a == b:
                raise ValueError(f"history has two '{a}' entries in a row")
        if actions and actions[0] != "enabled":
            raise ValueError("history must start with 'enabled'")
        return self

    @property
    def spacing(self) -> float:
        """Distance between levels as a fraction of price: the widest relative step
        (arithmetic: at the lower bound; geometric: the same everywhere)."""
        if self.spacing_kind == "geometric":
            return (self.upper_price / self.lower_price) ** (1 / (self.levels - 1)) - 1
        return (self.upper_price - self.lower_price) / (self.levels - 1) / self.lower_price

    def capital(self) -> float:
        """Quote a grid ties up when placed at its bounds' midpoint (for SINGLE_GRID capital)."""
        from market_maker.grids.position import level_prices

        prices = level_prices(
            self.lower_price, self.upper_price, self.levels, self.spacing_kind == "geometric"
        )
        mid = (self.lower_price + self.upper_price) / 2
        return float(self.amount_per_grid * sum(min(p, mid) for p in prices))

    def check_fees(self, fee_rate: float) -> None:
        """A completed buy/sell pair pays the fee twice; the spacing must earn more than that."""
        round_trip = 2 * fee_rate
        if self.spacing <= round_trip:
            raise ValueError(
                f"grid {self.id}: level spacing {self.spacing:.4%} does not cover the round-trip "
                f"fee {round_trip:.4%} (widen the bounds or use fewer levels)"
            )
        if self.profit_per_grid <= round_trip:
            raise ValueError(
                f"grid {self.id}: profit_per_grid {self.profit_per_grid:.4%} does not cover "
                f"the round-trip fee {round_trip:.4%}"
            )

    def running_at(self, at: datetime) -> bool:
        """The last history entry at or before ``at`` is an ``enabled``."""
        last = self._last(at)
        return last is not None and last.action == "enabled"

    def running_since(self, at: datetime) -> datetime | None:
        last = self._last(at)
        return last.at if last is not None and last.action == "enabled" else None

    def status(self, at: datetime, version: str | None = None) -> GridStatusRecord:
        """The grid as snapshots and metrics record it while it runs at ``at``."""
        return GridStatusRecord(
            grid_id=self.id,
            running=True,
            lower_price=self.lower_price,
            upper_price=self.upper_price,
            levels=self.levels,
            running_since=self.running_since(at),
            grid_version=version,
        )

    def running_intervals(self) -> list[tuple[datetime, datetime | None]]:
        out: list[tuple[datetime, datetime | None]] = []
        for entry in self.history:
            if entry.action == "enabled":
                out.append((entry.at, None))
            elif out:
                out[-1] = (out[-1][0], entry.at)
        return out

    def _last(self, at: datetime) -> HistoryEntry | None:
        past = [e for e in self.history if e.at <= at]
        return past[-1] if past else None
