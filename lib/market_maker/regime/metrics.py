"""The six metrics over many windows at once: values, votes and errors per window."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from market_maker.base.candles import CandleSeries
from market_maker.config.regime import METRIC_NAMES, MetricName, TimeframeSettings
from market_maker.regime import kernels

RANGE, NEUTRAL, TREND = -1, 0, 1
VOTE_NAMES = {RANGE: "range", NEUTRAL: "neutral", TREND: "trend"}


@dataclass
class MetricBatch:
    """One metric for k analysed bars: value, vote (-1 range, 0 neutral, 1 trend) and error."""

    name: MetricName
    window: int
    values: np.ndarray
    votes: np.ndarray
    errors: list[str | None]
    params: dict[str, float]
    details: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def computable(self) -> np.ndarray:
        return np.array([e is None for e in self.errors], dtype=bool)


def compute_timeframe(
    series: CandleSeries, ends: np.ndarray, cfg: TimeframeSettings
) -> dict[MetricName, MetricBatch]:
    """Every metric at the bars ``ends`` (indices into ``series``; -1: no bar)."""
    return {name: _compute(name, series, ends, cfg) for name in METRIC_NAMES}


def windows(values: np.ndarray, ends: np.ndarray, window: int) -> np.ndarray:
    """(k, window) windows ending at ``ends``, laid out so that one bar of every window
    is contiguous in memory (the kernels loop bar by bar)."""
    if len(values) < window or len(ends) == 0:
        return np.empty((0, window))
    starts = ends - window + 1
    if np.array_equal(starts, np.arange(starts[0], starts[0] + len(starts))):
        return sliding_window_view(values, window)[starts[0] : starts[0] + len(starts)]
    bar_major = values[starts[None, :] + np.arange(window)[:, None]]
    return bar_major.T


def _compute(
    name: MetricName, series: CandleSeries, ends: np.ndarray, cfg: TimeframeSettings
) -> MetricBatch:
    metric = getattr(cfg, name)
    window = cfg.window(name)
    k = len(ends)
    values = np.full(k, np.nan)
    details: dict[str, np.ndarray] = {}
    ok = ends >= window - 1
    idx = ends[ok]
    close = windows(series.close, idx, window)
    if name == "adx":
        values[ok] = kernels.adx(
            windows(series.high, idx, window),
            windows(series.low, idx, window),
            close,
            metric.period,
        )
        params = {"period": metric.period}
    elif name == "efficiency_ratio":
        values[ok] = kernels.efficiency_ratio(close)
        params = {"period": window - 1}
    elif name == "autocorrelation":
        values[ok] = kernels.lag1_autocorrelation(close)
        params = {"lag": 1}
    elif name == "ou_half_life":
        half, b = kernels.ou_half_life(close)
        values[ok] = half
        details["ar1_coefficient"] = _spread(b, ok, k)
        params = {}
    elif name == "normalized_slope":
        value, slope, sigma = kernels.normalized_slope(close)
        values[ok] = value
        details["slope"] = _spread(slope, ok, k)
        details["volatility"] = _spread(sigma, ok, k)
        params = {}
    else:
        now = kernels.bollinger_bandwidth(close[:, -metric.period :], metric.period, metric.nbdev)
        before = kernels.bollinger_bandwidth(close[:, : metric.period], metric.period, metric.nbdev)
        values[ok] = now
        with np.errstate(divide="ignore", invalid="ignore"):
            details["expansion"] = _spread(np.where(before > 0, now / before, np.nan), ok, k)
        params = {
            "period": metric.period,
            "nbdev": metric.nbdev,
            "expansion_bars": metric.expansion_bars,
            "min_tradable": metric.min_tradable,
            "max_tradable": metric.max_tradable,
            "expansion_range_below": metric.expansion_range_below,
            "expansion_trend_above": metric.expansion_trend_above,
        }
    if name != "bollinger_bandwidth":
        params = {**params, "range_below": metric.range_below, "trend_above": metric.trend_above}
    errors = _errors(name, values, details, ends, window)
    votes = _votes(name, values, details, metric)
    votes[[e is not None for e in errors]] = NEUTRAL
    return MetricBatch(name, window, values, votes, errors, params, details)


def _spread(values: np.ndarray, ok: np.ndarray, k: int) -> np.ndarray:
    out = np.full(k, np.nan)
    out[ok] = values
    return out


def _errors(
    name: MetricName,
    values: np.ndarray,
    details: dict[str, np.ndarray],
    ends: np.ndarray,
    window: int,
) -> list[str | None]:
    errors: list[str | None] = []
    for i, end in enumerate(ends.tolist()):
        if end < window - 1:
            errors.append(f"needs {window} bars, has {max(end + 1, 0)}")
        elif np.isnan(values[i]):
            errors.append("undefined on this window (prices or returns do not vary)")
        elif name == "bollinger_bandwidth" and np.isnan(details["expansion"][i]):
            errors.append("undefined expansion (flat earlier window)")
        else:
            errors.append(None)
    return errors


def _votes(
    name: MetricName, values: np.ndarray, details: dict[str, np.ndarray], metric
) -> np.ndarray:
    votes = np.zeros(len(values), dtype=np.int8)
    with np.errstate(invalid="ignore"):
        if name == "bollinger_bandwidth":
            expansion = details["expansion"]
            trend = (values > metric.max_tradable) | (expansion > metric.expansion_trend_above)
            range_ = (
                (values >= metric.min_tradable)
                & (values <= metric.max_tradable)
                & (expansion < metric.expansion_range_below)
            )
        else:
            x = np.abs(values) if name == "normalized_slope" else values
            trend = x > metric.trend_above  # an infinite half-life is a trend vote
            range_ = x < metric.range_below
    votes[range_] = RANGE
    votes[trend] = TREND
    return votes
