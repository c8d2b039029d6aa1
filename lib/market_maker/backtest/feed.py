"""The feed of one run: columnar candles and the hourly analysis, built once, kept in memory.

Nothing here is stored as truth: it is derived from the recording for the run
and thrown away after it. The analysis is the live path's own
(:func:`~market_maker.regime.analysis.analyze_frames`) over every hour at once;
:meth:`Feed.observation` gives the exit engine exactly what
:meth:`Observation.build` gives it from the hour's metrics file, without
materialising the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from market_maker.base.candles import CandleSeries, Interval, aggregate
from market_maker.base.timeutil import HOUR, from_seconds, hours_between, to_seconds
from market_maker.config.regime import RegimeSettings
from market_maker.exit_strategy.observation import Observation
from market_maker.grids.model import GridConfig
from market_maker.regime.analysis import Frames, RegimeBatch, analyze_frames
from market_maker.regime.classifier import verdict
from market_maker.regime.confidence import GridView, combine, grid_penalties


@dataclass
class Feed:
    """A symbol's minutes, hourly candles and the analysis of every hour in [start, end)."""

    symbol: str
    minutes: CandleSeries
    h1: CandleSeries
    batch: RegimeBatch
    start: datetime
    end: datetime
    _fields: list[dict[str, Any]]

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
        return cls(symbol, minutes, frames.h1, batch, start, end, _observation_fields(batch))

    @property
    def hours(self) -> np.ndarray:
        """Unix seconds of every analysed hour, the hour before ``start`` first."""
        return self.batch.hours

    def index(self, hour: datetime) -> int:
        return self.batch.index(hour)

    def observation(self, i: int, grid: GridConfig) -> Observation:
        """What the exit engine sees at hour ``i`` for ``grid``: equal to
        ``Observation.build(record(i), grid, record(i - 1))`` of the hour analysed, as the
        live path does, with ``grid`` in force (its penalties lower the confidence)."""
        fields = dict(self._fields[i])
        if fields["confidence"] is not None:
            fields["confidence"] = self._confidence_with(i, grid)
        return Observation(grid=grid, **fields)

    def _confidence_with(self, i: int, grid: GridConfig) -> float:
        b = self.batch
        hour = from_seconds(int(b.hours[i]))
        view = GridView(grid.status(hour), float(b.price[i]), hour, float(b.volatility[i]))
        penalties = b.penalties[i] + grid_penalties(view, b.cfg.confidence.grid)
        return combine(float(b.base[i]), penalties, b.cfg.confidence)

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


def _observation_fields(batch: RegimeBatch) -> list[dict[str, Any]]:
    h1 = batch.h1.metrics
    adx, er, bw, slope = (
        h1["adx"],
        h1["efficiency_ratio"],
        h1["bollinger_bandwidth"],
        h1["normalized_slope"],
    )

    def value(m: Any, i: int) -> float | None:
        return None if m.errors[i] is not None else float(m.values[i])

    expansion = bw.details.get("expansion")
    out: list[dict[str, Any]] = []
    for i, t in enumerate(batch.hours.tolist()):
        code = int(batch.final[i])
        refused = code < 0
        hour = from_seconds(t)
        previous_present = i > 0 and batch.hours[i - 1] == t - 3600
        exp = float(expansion[i]) if expansion is not None else float("nan")
        out.append(
            {
                "hour": hour,
                "price": float(batch.price[i]),
                "verdict": verdict(code),
                "verdict_1h": verdict(int(batch.h1.codes[i])),
                "verdict_4h": verdict(int(batch.h4.codes[i])),
                "previous_verdict": verdict(int(batch.previous[i])),
                "confidence": None if refused else float(batch.confidence[i]),
                "adx": value(adx, i),
                "adx_previous": value(adx, i - 1) if previous_present else None,
                "efficiency_ratio": value(er, i),
                "bandwidth": value(bw, i),
                "bandwidth_expansion": exp if np.isfinite(exp) else None,
                "normalized_slope": value(slope, i),
                "refused": verdict(code) is None,
            }
        )
    return out
