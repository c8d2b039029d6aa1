"""The closes a running grid has seen, one a collection period, for its position risk: read
back once from the metrics files (their ``price`` line, without parsing the whole file), then
kept."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np

from market_maker.base.identifiers import inside
from market_maker.base.timeutil import floor_period, period
from market_maker.grids.model import GridConfig
from market_maker.grids.position import PositionRisk, position_risk
from market_maker.regime.model import metrics_relpath

PRICE_LINE = re.compile(rb"^price: ([0-9.eE+-]+)$", re.MULTILINE)


class PositionTracker:
    """``base_balance`` (with an exchange key): the base the account holds, to check the
    position the grid's parameters and price path imply; a difference is reported.
    ``period_minutes``: the collection period, whose metrics files hold the closes."""

    def __init__(
        self,
        root: Path,
        base_balance: Callable[[str], float] | None = None,
        *,
        period_minutes: int = 60,
    ):
        self.root = root
        self.base_balance = base_balance
        self.period_minutes = period_minutes
        self._step = period(period_minutes)
        self._closes: dict[tuple[str, datetime], dict[datetime, float]] = {}

    def closes(self, grid: GridConfig, hour: datetime, price: float) -> np.ndarray:
        """The closes of each period from the one the grid started in through ``hour`` (whose
        close is ``price``); periods never analysed are skipped."""
        since = grid.running_since(hour)
        if since is None:
            return np.array([price])
        seen = self._closes.setdefault((grid.id, since), {})
        seen[hour] = price
        at = floor_period(since, self.period_minutes)
        while at < hour:
            if at not in seen:
                path = inside(self.root, metrics_relpath(grid.symbol, at, self.period_minutes))
                if path.exists():
                    found = PRICE_LINE.search(path.read_bytes())
                    if found:
                        seen[at] = float(found.group(1))
            at += self._step
        return np.array([seen[h] for h in sorted(seen) if h <= hour])

    def risk(self, grid: GridConfig, hour: datetime, price: float) -> PositionRisk:
        risk = self._model(grid, hour, price)
        if self.base_balance is None:
            return risk
        base = grid.symbol.split("-")[0]
        held = self.base_balance(base)
        mismatch = None
        if abs(held - risk.base_held) > grid.amount_per_grid / 2:
            mismatch = (
                f"the exchange account holds {held:g} {base}, the grid's model {risk.base_held:g} "
                f"{base} (other holdings, or parameters that differ from the grid placed)"
            )
        return risk.model_copy(update={"exchange_base": held, "mismatch": mismatch})

    def _model(self, grid: GridConfig, hour: datetime, price: float) -> PositionRisk:
        return position_risk(
            grid.lower_price,
            grid.upper_price,
            grid.levels,
            grid.amount_per_grid,
            self.closes(grid, hour, price),
            geometric=grid.spacing_kind == "geometric",
        )
