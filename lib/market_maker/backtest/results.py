"""The backtest report, ``backtests/{run-name}/report.yaml``: every figure and the parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from market_maker.backtest.parameters import BacktestParameters
from market_maker.base.types import FrozenModel, UtcDatetime, UtcHour
from market_maker.kpis.model import Kpi, KpiValue

SCHEMA_VERSION = "1.0"
BACKTESTS_DIR = "backtests"
VariantName = Literal["system", "system_stop_order", "no_exit", "static_stop", "adx_rule"]
VARIANTS: dict[str, str] = {
    "system": "stopped as the system recommends (act_on, after delay_minutes)",
    "system_stop_order": "the system's exits, with a stop order at the grid's bounds from setup",
    "no_exit": "held until the next grid (or the end of the period)",
    "static_stop": "stopped by a stop order at the grid's bounds (the range break)",
    "adx_rule": "stopped when ADX(14) on 1h rises above adx_threshold (after delay_minutes)",
}
# The baselines the system is held against, on the very same grids; not trading at all is
# the last (it earns nothing).
BaselineName = Literal["system_stop_order", "no_exit", "static_stop", "adx_rule", "no_trading"]
BASELINES: dict[str, str] = {
    **{k: v for k, v in VARIANTS.items() if k != "system"},
    "no_trading": "no grid at all: nothing earned, nothing lost",
}


class MonthFigures(FrozenModel):
    month: str = Field(description="YYYY-MM")
    pnl: float
    fills: int
    grids_started: int
    breaks: int
    exit_signals: int


class VariantFigures(FrozenModel):
    """One exit policy applied to every grid of the run."""

    description: str
    pnl: float = Field(description="Realised plus the inventory sold at each stop, after fees.")
    realized: float = Field(description="Profit of completed buy/sell pairs, after fees.")
    unrealized_at_stops: float = Field(description="Selling the inventory at the stops.")
    fees: float
    fills: int
    pairs: int
    grids: int
    max_drawdown: float = Field(description="USD, peak to trough of the cumulative PnL.")
    max_drawdown_pct: float = Field(description="Of the capital per grid.")
    time_in_market: float = Field(description="Share of the period a grid ran.")
    kpis: dict[Kpi, KpiValue]
    monthly: list[MonthFigures]


class Headline(FrozenModel):
    """The difference the system makes against one baseline."""

    baseline: BaselineName
    pnl_system: float
    pnl_baseline: float
    pnl_difference: float = Field(description="System minus baseline: what following it earns.")
    mec_system: float | None
    mec_baseline: float | None


class StopFigures(FrozenModel):
    at: UtcDatetime
    price: float
    reason: str
    pnl: float
    fills: int


class GridFigures(FrozenModel):
    id: str
    placed_at: UtcDatetime
    life_end: UtcDatetime
    lower: float
    upper: float
    levels: int
    reason: str
    stops: dict[VariantName, StopFigures]


class HourRow(FrozenModel):
    """One evaluated hour of the system: compare two runs hour by hour."""

    hour: UtcHour
    grid: str
    verdict: str | None
    confidence: float | None
    exit_state: str
    recommendation: str
    decision: str


class DataHealth(FrozenModel):
    data_file: str
    rows: int
    first: UtcDatetime | None
    last: UtcDatetime | None
    ok: bool
    allow_gaps: bool
    findings: list[str]


class BacktestReport(FrozenModel):
    schema_version: Literal["1.0"] = SCHEMA_VERSION
    name: str
    symbol: str
    start: UtcHour
    end: UtcHour
    parameters: BacktestParameters
    preflight: DataHealth
    variants: dict[VariantName, VariantFigures]
    headline: list[Headline]
    grids: list[GridFigures]
    hours: list[HourRow]
    config_version: str
    code_version: str

    def kpi(self, variant: str, kpi: Kpi) -> KpiValue:
        return self.variants[variant].kpis[kpi]  # type: ignore[index]


def report_dir(root: Path, name: str) -> Path:
    return root / BACKTESTS_DIR / name
