"""What the KPIs are computed from: one symbol's recorded history, and the rules that judge it.

Plain values, gathered from the data repository by the daily batch and by the backtest, and
read by :mod:`market_maker.kpis.compute` and :mod:`market_maker.kpis.outcomes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from market_maker.base.timeutil import to_seconds
from market_maker.config.models import KpiSettings
from market_maker.decisions.states import ExitState
from market_maker.grids.valuation import GridShape


@dataclass(frozen=True)
class HourlyPrices:
    """Recorded hourly candles of one symbol: open times (seconds), highs, lows, closes."""

    t: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray

    def upto(self, moment: datetime) -> HourlyPrices:
        """Only the hours closed by ``moment``: nothing later is ever seen."""
        keep = self.t + 3600 <= to_seconds(moment)
        return HourlyPrices(self.t[keep], self.high[keep], self.low[keep], self.close[keep])

    def span(self, start: datetime, end: datetime) -> slice:
        """Hours with open time in [start, end]."""
        lo = int(np.searchsorted(self.t, to_seconds(start), side="left"))
        hi = int(np.searchsorted(self.t, to_seconds(end), side="right"))
        return slice(lo, hi)

    def close_at(self, hour: datetime) -> float | None:
        i = int(np.searchsorted(self.t, to_seconds(hour)))
        if i < len(self.t) and self.t[i] == to_seconds(hour):
            return float(self.close[i])
        return None


@dataclass(frozen=True)
class GridLife:
    """One running interval of a grid: from enable to disable (None: still running)."""

    grid_id: str
    shape: GridShape
    start: datetime
    end: datetime | None

    def inside(self, price: float) -> bool:
        return self.shape.lower <= price <= self.shape.upper


@dataclass(frozen=True)
class StateHour:
    hour: datetime
    grid_id: str
    state: ExitState


@dataclass(frozen=True)
class DecisionFact:
    id: str
    grid_id: str
    hour: datetime
    issued_at: datetime
    recommendation: str
    exit_state: ExitState


@dataclass(frozen=True)
class ActionFact:
    decision_id: str
    action: str  # executed | declined | ignored
    at: datetime


@dataclass
class SymbolHistory:
    symbol: str
    prices: HourlyPrices
    lives: list[GridLife]
    states: list[StateHour]
    decisions: list[DecisionFact] = field(default_factory=list)
    actions: list[ActionFact] = field(default_factory=list)


@dataclass(frozen=True)
class Rules:
    break_beyond_pct: float = 0.0
    signal_horizon_hours: int = 24
    advance_warning_hours: float = 2.0
    fee_rate: float = 0.001

    @classmethod
    def of(cls, cfg: KpiSettings, fee_rate: float) -> Rules:
        """The rules the ``kpis`` settings set, with the fee grids pay."""
        return cls(
            break_beyond_pct=cfg.break_beyond_pct,
            signal_horizon_hours=cfg.signal_horizon_hours,
            advance_warning_hours=cfg.advance_warning_hours,
            fee_rate=fee_rate,
        )
