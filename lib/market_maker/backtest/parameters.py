"""What a backtest is asked to do: one validated model, shown as a form in the Prefect UI."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from market_maker.backtest.grid_sim import Spacing
from market_maker.base.errors import ParameterError
from market_maker.base.identifiers import Symbol
from market_maker.base.types import FrozenModel, UtcHour
from market_maker.config import Settings
from market_maker.decisions.states import ExitState

ActOn = Literal["LATEST_ACCEPTABLE_EXIT", "MANDATORY_EXIT"]
RUN_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"
# Settings a sweep may vary: the decision logic's sections, by dotted path.
OVERRIDABLE = ("regime.", "exit_strategy.", "lifecycle.", "kpis.")


class BacktestParameters(FrozenModel):
    """One backtest: data, period, grid placement, how the operator acts, costs."""

    data_file: str | None = Field(
        None,
        description="Recording of 1-minute candles (CSV or CSV.gz: timestamp_ms,open,high,low,"
        "close,volume). Empty: the minutes of the snapshots stored in the data repository "
        "(backfill the period and its warm-up first).",
    )
    symbol: Symbol = Field("ETH-USDT", description="The symbol the recording holds.")
    start: UtcHour = Field(description="First hour replayed (UTC, on the hour).")
    end: UtcHour = Field(description="End of the replay (UTC, on the hour, exclusive).")
    placement: Literal["protocol", "system"] = Field(
        "protocol",
        description="protocol: a grid centred on the price every `cadence_hours`, whatever the "
        "regime (comparable scoring). system: the live lifecycle replayed: the system's own "
        "setups (bounds, levels and capital from the setup evaluation), approved by the "
        "operator after delay_minutes, their probation and promotion, the restart gates and "
        "cooldowns after each stop.",
    )
    half_width_pct: float = Field(
        4.0, gt=0, lt=50, description="protocol: grid bounds at the price ± this percentage."
    )
    levels: int = Field(
        20, ge=3, le=500, description="protocol: grid price levels, bounds included."
    )
    spacing: Spacing = Field("arithmetic", description="protocol: level spacing.")
    cadence_hours: int = Field(
        168, ge=1, le=24 * 90, description="protocol: a new grid this often; each lives as long."
    )
    act_on: ActOn = Field(
        "LATEST_ACCEPTABLE_EXIT",
        description="The exit state the operator stops the grid at: the first recommendation "
        "to stop (LATEST_ACCEPTABLE_EXIT) or only MANDATORY_EXIT.",
    )
    delay_minutes: int = Field(
        15, ge=0, le=24 * 60, description="Minutes from a recommendation to the operator's act."
    )
    fee_rate: float = Field(0.001, ge=0, lt=0.05, description="Maker fee on every grid fill.")
    exit_fee_rate: float = Field(
        0.001, ge=0, lt=0.05, description="Taker fee on selling the inventory at a stop."
    )
    capital: float = Field(10_000.0, gt=0, description="Quote per grid (USDT).")
    stop_loss_pct: float | None = Field(
        None,
        gt=0,
        lt=50,
        description="Optional stop-loss this percentage below the lower bound, on every variant.",
    )
    adx_threshold: float = Field(
        25.0, gt=0, lt=100, description="The single-indicator baseline stops when ADX(14) > this."
    )
    allow_gaps: bool = Field(
        False, description="Run despite gaps or bad rows in the data; they are listed."
    )
    name: str | None = Field(
        None,
        pattern=RUN_NAME,
        description="Report folder backtests/{name}/; default from the symbol, period and a hash.",
    )
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="Settings to change for this run, by dotted path under regime., "
        "exit_strategy. or kpis. (e.g. exit_strategy.deescalation.WARNING: 4).",
    )

    @model_validator(mode="before")
    @classmethod
    def _without_max_life(cls, data: Any) -> Any:
        # Reports written before the system placement became the live lifecycle carry
        # max_life_hours (the live system gives a grid no age limit): read, not used.
        if isinstance(data, dict) and "max_life_hours" in data:
            data = {k: v for k, v in data.items() if k != "max_life_hours"}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> BacktestParameters:
        if self.end <= self.start:
            raise ValueError(f"end {self.end:%Y-%m-%dT%HZ} must be after start")
        for key in self.overrides:
            if not key.startswith(OVERRIDABLE) or not re.fullmatch(r"[A-Za-z0-9_.]+", key):
                raise ValueError(
                    f"overrides: {key!r} is not a setting under {', '.join(OVERRIDABLE)}"
                )
        return self

    @property
    def act_on_rank(self) -> int:
        return ExitState(self.act_on).rank

    def run_name(self, digest: str) -> str:
        if self.name:
            return self.name
        return f"{self.symbol}-{self.start:%Y%m%d}-{self.end:%Y%m%d}-{digest[:8]}"


def parse_parameters(values: dict[str, Any]) -> BacktestParameters:
    """Validate parameters; a bad one is one line naming it."""
    try:
        return BacktestParameters.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "parameters"
        raise ParameterError(f"{where}: {err['msg']}") from None


def apply_overrides(settings: Settings, overrides: dict[str, Any]) -> Settings:
    """The settings with dotted-path overrides applied, each section validated again."""
    if not overrides:
        return settings
    sections: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        section, *path = key.split(".")
        data = sections.setdefault(section, getattr(settings, section).model_dump())
        node = data
        for part in path[:-1]:
            if not isinstance(node, dict) or part not in node:
                raise ParameterError(f"overrides: {key!r}: no setting {part!r}")
            node = node[part]
        if not isinstance(node, dict) or path[-1] not in node:
            raise ParameterError(f"overrides: {key!r} is not a setting")
        node[path[-1]] = value
    update = {}
    for section, data in sections.items():
        model = type(getattr(settings, section))
        try:
            update[section] = model.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join([section, *(str(p) for p in err["loc"])])
            raise ParameterError(f"overrides: {where}: {err['msg']}") from None
    return settings.model_copy(update=update)
