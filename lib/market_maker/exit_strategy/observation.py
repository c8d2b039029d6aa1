"""What an exit evaluation looks at: the hour's regime analysis and the running grid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from market_maker.grids.model import GridConfig
from market_maker.regime.model import AnalysedHour, Verdict


@dataclass(frozen=True)
class Observation:
    """The inputs of one evaluation, each None when the analysis could not provide it."""

    hour: datetime
    grid: GridConfig
    price: float
    verdict: Verdict | None
    verdict_1h: Verdict | None
    verdict_4h: Verdict | None
    previous_verdict: Verdict | None
    confidence: float | None
    adx: float | None
    adx_previous: float | None
    efficiency_ratio: float | None
    bandwidth: float | None
    bandwidth_expansion: float | None
    normalized_slope: float | None
    refused: bool

    @classmethod
    def build(
        cls, analysed: AnalysedHour, grid: GridConfig, previous: AnalysedHour | None
    ) -> Observation:
        """The one builder, live (from the hour's metrics file) and in the backtest (from
        the analysis of every hour at once); ``previous``: the hour before, if analysed."""
        return cls(
            hour=analysed.hour,
            grid=grid,
            price=analysed.price,
            verdict=analysed.verdict,
            verdict_1h=analysed.verdict_1h,
            verdict_4h=analysed.verdict_4h,
            previous_verdict=analysed.previous_verdict,
            confidence=analysed.confidence,
            adx=analysed.value("adx"),
            adx_previous=previous.value("adx") if previous is not None else None,
            efficiency_ratio=analysed.value("efficiency_ratio"),
            bandwidth=analysed.value("bollinger_bandwidth"),
            bandwidth_expansion=analysed.detail("bollinger_bandwidth", "expansion"),
            normalized_slope=analysed.value("normalized_slope"),
            refused=analysed.verdict is None,
        )

    @property
    def position(self) -> float:
        """Where price sits in the grid: 0 at the lower bound, 1 at the upper."""
        g = self.grid
        return (self.price - g.lower_price) / (g.upper_price - g.lower_price)

    @property
    def trend_direction(self) -> int:
        """-1 falling, +1 rising, 0 unknown, from the sign of the normalized slope."""
        if self.normalized_slope is None or self.normalized_slope == 0:
            return 0
        return 1 if self.normalized_slope > 0 else -1

    def values(self) -> dict[str, float | str | None]:
        """The figures recorded with a transition or a decision."""
        return {
            "price": self.price,
            "position_in_grid": round(self.position, 4),
            "verdict": str(self.verdict) if self.verdict else None,
            "verdict_4h": str(self.verdict_4h) if self.verdict_4h else None,
            "confidence": self.confidence,
            "adx": self.adx,
            "efficiency_ratio": self.efficiency_ratio,
            "bollinger_bandwidth": self.bandwidth,
            "bandwidth_expansion": self.bandwidth_expansion,
            "normalized_slope": self.normalized_slope,
        }
