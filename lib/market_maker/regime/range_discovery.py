"""Proposed range bounds from the recent price distribution (for grid setup)."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from market_maker.base.candles import CandleSeries
from market_maker.config.regime import RangeDiscoverySettings

METHOD = "quantiles of 1h lows and highs"


def discover(
    series: CandleSeries, ends: np.ndarray, cfg: RangeDiscoverySettings
) -> dict[str, np.ndarray]:
    """Lower/upper bounds, width and share of closes inside, for each bar in ``ends``.

    Lower = the ``lower_quantile`` of the window's lows (support), upper = the
    ``upper_quantile`` of its highs (resistance): the band the price spent
    most of the window in, trimmed of its extremes. NaN without enough bars.
    """
    k, n = len(ends), cfg.window
    out = {key: np.full(k, np.nan) for key in ("lower", "upper", "width_pct", "inside_share")}
    ok = ends >= n - 1
    if not ok.any() or len(series) < n:
        return out
    start = ends[ok] - n + 1
    lows = sliding_window_view(series.low, n)[start]
    highs = sliding_window_view(series.high, n)[start]
    closes = sliding_window_view(series.close, n)[start]
    lower = np.quantile(lows, cfg.lower_quantile, axis=1)
    upper = np.quantile(highs, cfg.upper_quantile, axis=1)
    inside = ((closes >= lower[:, None]) & (closes <= upper[:, None])).mean(axis=1)
    out["lower"][ok] = lower
    out["upper"][ok] = upper
    out["width_pct"][ok] = 100.0 * (upper - lower) / ((upper + lower) / 2)
    out["inside_share"][ok] = inside
    return out
