"""The feed of one run: columnar candles and the hourly analysis, built once, kept in memory.

Nothing here is stored as truth: it is derived from the recording for the run
and thrown away after it. The analysis is the live path's own
(:func:`~market_maker.regime.analysis.analyze_frames`) over every hour at once;
each hour is read through the same view as a metrics file
(:class:`~market_maker.regime.analysis.BatchHour`), and the exit engine's observation
comes from the live builder (:meth:`Observation.build`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np

from market_maker.base.candles import CandleSeries, Interval, aggregate
from market_maker.base.timeutil import HOUR, hours_between, to_seconds
from market_maker.config.regime import RegimeSettings
from market_maker.exit_strategy.observation import Observation
from market_maker.grids.model import GridConfig
from market_maker.regime.analysis import BatchHour, Frames, RegimeBatch, analyze_frames
from market_maker.regime.classifier import verdict
from market_maker.regime.confidence import GridView, combine, grid_penalties
from market_maker.snapshots.model import GridStatusRecord

EARLIEST, LATEST = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)


@dataclass
class Feed:
    """A symbol's minutes, hourly candles and the analysis of every hour in [start, end)."""

    symbol: str
    minutes: CandleSeries
    h1: CandleSeries
    batch: RegimeBatch
    start: datetime
    end: datetime
    # Hour index -> the observation with no grid's penalties: what every grid evaluated at
    # that hour shares (sweep points in one process read the same feed).
    _hours: dict[int, Observation] = field(default_factory=dict, repr=False)
    # The last grid status read: a grid is evaluated hour after hour, and its status only
    # changes when it is stopped or started again.
    _status: tuple[GridConfig, datetime, datetime, GridStatusRecord] | None = field(
        default=None, repr=False
    )

    @classmethod
    def build(
        cls,
        symbol: str,
        minutes: CandleSeries,
        start: datetime,
        end: datetime,
        cfg: RegimeSettings,
    ) -> Feed:
        """Analyse every hour from ``start`` to ``end`` (exclusive) and the hour before it
        (the first evaluation reads the previous hour's ADX)."""
        # Only candles that have closed by ``end`` exist for the run: nothing later is seen.
        minutes = minutes.take(minutes.t < to_seconds(end))
        frames = Frames(aggregate(minutes, Interval.HOUR), aggregate(minutes, Interval.FOUR_HOURS))
        hours = list(hours_between(start - HOUR, end - HOUR))
        batch = analyze_frames(symbol, frames, hours, cfg)
        return cls(symbol, minutes, frames.h1, batch, start, end)

    @property
    def hours(self) -> np.ndarray:
        """Unix seconds of every analysed hour, the hour before ``start`` first."""
        return self.batch.hours

    def index(self, hour: datetime) -> int:
        return self.batch.index(hour)

    def view(self, i: int) -> BatchHour:
        """Hour ``i`` as the decisions read it, with no grid in force."""
        return self.batch.view(i)

    def previous(self, i: int) -> BatchHour | None:
        """The hour before ``i``, when it was analysed."""
        b = self.batch
        return b.view(i - 1) if i > 0 and b.hours[i - 1] == b.hours[i] - 3600 else None

    def observation(self, i: int, grid: GridConfig) -> Observation:
        """What the exit engine sees at hour ``i`` for ``grid``, built as the live path builds
        it, with ``grid`` in force (its penalties lower the confidence)."""
        shared = self._hours.get(i)
        if shared is None:
            shared = self._hours[i] = Observation.build(self.view(i), grid, self.previous(i))
        if shared.refused:  # a refused analysis has no confidence, grid or not
            return replace(shared, grid=grid)
        return replace(shared, grid=grid, confidence=self._confidence_with(i, shared.hour, grid))

    def _confidence_with(self, i: int, hour: datetime, grid: GridConfig) -> float:
        b = self.batch
        view = GridView(
            self._status_of(grid, hour), float(b.price[i]), hour, float(b.volatility[i])
        )
        penalties = b.penalties[i] + grid_penalties(view, b.cfg.confidence.grid)
        return combine(float(b.base[i]), penalties, b.cfg.confidence)

    def _status_of(self, grid: GridConfig, hour: datetime) -> GridStatusRecord:
        """``grid.status(hour)``, kept while no history entry of the grid falls between."""
        last = self._status
        if last is None or last[0] is not grid or not last[1] <= hour < last[2]:
            times = [e.at for e in grid.history]
            since = max((t for t in times if t <= hour), default=EARLIEST)
            until = min((t for t in times if t > hour), default=LATEST)
            last = self._status = (grid, since, until, grid.status(hour))
        return last[3]

    def minute_index(self, moment: datetime) -> int:
        """The first minute candle opening at or after ``moment``."""
        return int(np.searchsorted(self.minutes.t, to_seconds(moment), side="left"))

    def price(self, i: int) -> float:
        return float(self.batch.price[i])

    def verdict(self, i: int) -> str | None:
        v = verdict(int(self.batch.final[i]))
        return str(v) if v is not None else None

    def adx(self) -> np.ndarray:
        """The 1h ADX of every hour (NaN where it could not be computed)."""
        m = self.batch.h1.metrics["adx"]
        return np.where([e is None for e in m.errors], m.values, np.nan)
