"""Numerical kernels of the six regime metrics, vectorised over many windows at once.

Every kernel takes arrays of shape (k, n): k windows of n bars, oldest bar
first, and returns one value per window (the value at each window's last
bar). One window (k = 1) is the live path; a year of hours (k = 8,760) is the
backtest path. The arithmetic runs bar by bar across the window axis, in the
same order for any k, so a window gives bit-identical results alone or in a
batch: the live verdict and the replayed one cannot drift apart.

ADX, the efficiency ratio, Bollinger bandwidth and the regression slope follow
TA-Lib's C code step by step (TA-Lib is the test oracle); the differences are
documented where they are deliberate.
"""

from __future__ import annotations

import math

import numpy as np

# TA-Lib's TA_IS_ZERO threshold.
_TA_EPSILON = 1e-8


def _check(arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"kernels take (windows, bars) arrays, got shape {arr.shape}")
    return arr


def _bar_major(arr: np.ndarray) -> np.ndarray:
    """(bars, windows), contiguous: the loops below read one bar of every window at a time.

    Only the memory layout changes, never the arithmetic, so results stay bit-identical.
    Windows cut from one series with ``sliding_window_view`` already read a bar of every
    window from consecutive memory and are not copied.
    """
    bars = arr.T
    if bars.strides[1] == bars.itemsize:
        return bars
    return np.ascontiguousarray(bars)


def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """Wilder's ADX(period) at the last bar, as TA-Lib's ``TA_ADX`` computes it on the window.

    The value depends on where the window starts (Wilder smoothing has a long
    memory), so the window length is part of the metric's definition. Needs
    at least ``2 * period`` bars; fewer give NaN.
    """
    high, low, close = _check(high), _check(low), _check(close)
    k, n = close.shape
    if n < 2 * period:
        return np.full(k, np.nan)
    high, low, close = _bar_major(high), _bar_major(low), _bar_major(close)
    plus = np.zeros(k)
    minus = np.zeros(k)
    tr = np.zeros(k)
    sum_dx = np.zeros(k)
    result = np.zeros(k)
    for i in range(1, n):
        h, lo, pc = high[i], low[i], close[i - 1]
        diff_p = h - high[i - 1]
        diff_m = low[i - 1] - lo
        # TA-Lib: -DM when diff_m > diff_p and > 0; +DM when diff_p > diff_m and > 0.
        dm_minus = np.maximum(diff_m, 0.0) * (diff_m > diff_p)
        dm_plus = np.maximum(diff_p, 0.0) * (diff_p > diff_m)
        # max(h - l, |h - pc|, |l - pc|), as one subtraction like TA-Lib's.
        true_range = np.maximum(h, pc) - np.minimum(lo, pc)
        if i < period:
            plus += dm_plus
            minus += dm_minus
            tr += true_range
            continue
        plus = (plus - plus / period) + dm_plus
        minus = (minus - minus / period) + dm_minus
        tr = (tr - tr / period) + true_range
        with np.errstate(divide="ignore", invalid="ignore"):
            minus_di = 100.0 * (minus / tr)
            plus_di = 100.0 * (plus / tr)
            di_sum = minus_di + plus_di
            dx = 100.0 * (np.abs(minus_di - plus_di) / di_sum)
        # TA-Lib skips a bar whose smoothed TR or DI sum is (nearly) zero (both are >= 0).
        defined = (tr >= _TA_EPSILON) & (di_sum >= _TA_EPSILON)
        if i < 2 * period:
            sum_dx = np.where(defined, sum_dx + dx, sum_dx)
            if i == 2 * period - 1:
                result = sum_dx / period
        else:
            result = np.where(defined, (result * (period - 1) + dx) / period, result)
    return result


def efficiency_ratio(close: np.ndarray) -> np.ndarray:
    """Kaufman's efficiency ratio over the window: |net move| / sum of |bar moves|.

    Period = bars - 1. Unlike TA-Lib's ``ER``, a flat window (no movement at
    all) is 0.0, not 1.0: no movement is no trend.
    """
    close = _check(close)
    k, n = close.shape
    if n < 2:
        return np.full(k, np.nan)
    c = _bar_major(close)
    path = np.zeros(k)
    for i in range(1, n):
        path = path + np.abs(c[i] - c[i - 1])
    net = np.abs(c[-1] - c[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = net / path
    return np.where(path > 0, ratio, 0.0)


def _log_returns(c: np.ndarray) -> np.ndarray:
    """Bar-major log returns of bar-major closes."""
    logs = np.log(c)
    return logs[1:] - logs[:-1]


def _mean(x: np.ndarray) -> np.ndarray:
    """Mean over the bars of a bar-major array, summed in bar order."""
    total = np.zeros(x.shape[1])
    for i in range(x.shape[0]):
        total = total + x[i]
    return total / x.shape[0]


def lag1_autocorrelation(close: np.ndarray) -> np.ndarray:
    """Lag-1 sample autocorrelation of the window's log returns (the usual ACF estimator).

    acf(1) = sum_t (r_t - m)(r_{t-1} - m) / sum_t (r_t - m)^2, m the mean
    return. NaN when the returns do not vary.
    """
    returns = _log_returns(_bar_major(_check(close)))
    m, k = returns.shape
    if m < 3:
        return np.full(k, np.nan)
    centred = returns - _mean(returns)[None, :]
    num = np.zeros(k)
    den = np.zeros(k)
    for i in range(m):
        den = den + centred[i] * centred[i]
        if i:
            num = num + centred[i] * centred[i - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def ar1_coefficient(close: np.ndarray) -> np.ndarray:
    """OLS slope b of X_t = a + b X_{t-1} on the window's log prices."""
    logs = np.log(_bar_major(_check(close)))
    x, y = logs[:-1], logs[1:]
    mx, my = _mean(x), _mean(y)
    sxy = np.zeros(logs.shape[1])
    sxx = np.zeros(logs.shape[1])
    for i in range(x.shape[0]):
        dx_ = x[i] - mx
        sxx = sxx + dx_ * dx_
        sxy = sxy + dx_ * (y[i] - my)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sxx > 0, sxy / sxx, np.nan)


def ou_half_life(close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ornstein-Uhlenbeck half-life in bars from the AR(1) fit: -ln 2 / ln b.

    b >= 1: no mean reversion, half-life infinite. b <= 0: reversion within
    one bar, half-life 0. Returns (half_life, b).
    """
    b = ar1_coefficient(close)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = -math.log(2.0) / np.log(b)
    half = np.where(b >= 1.0, np.inf, half)
    half = np.where(b <= 0.0, 0.0, half)
    return np.where(np.isnan(b), np.nan, half), b


def regression_slope(y: np.ndarray) -> np.ndarray:
    """Least-squares slope per bar over x = 0..n-1, as TA-Lib's ``LINEARREG_SLOPE``."""
    y = _check(y)
    k, n = y.shape
    bars = _bar_major(y)
    sum_x = n * (n - 1) * 0.5
    sum_x_sqr = n * (n - 1) * (2 * n - 1) / 6
    divisor = sum_x * sum_x - n * sum_x_sqr
    sum_xy = np.zeros(k)
    sum_y = np.zeros(k)
    # TA-Lib walks the window from its oldest bar with x counting down to 0.
    for i in range(n - 1, -1, -1):
        value = bars[n - 1 - i]
        sum_y = sum_y + value
        sum_xy = sum_xy + float(i) * value
    return (n * sum_xy - sum_x * sum_y) / divisor


def normalized_slope(close: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Regression slope of log price, in units of the window's own noise.

    value = slope * n / (sigma * sqrt(n)) = slope * sqrt(n) / sigma, where
    slope is the least-squares slope of log price per bar and sigma the
    population standard deviation of the window's log returns: the fitted
    move over the window divided by the move a random walk with that
    volatility would make. |value| near 0 is drift-free; above about 2 the
    drift dominates the noise. Returns (value, slope, sigma).
    """
    close = _check(close)
    n = close.shape[1]
    slope = regression_slope(np.log(close))
    returns = _log_returns(_bar_major(close))
    mean = _mean(returns)
    var = np.zeros(close.shape[0])
    for i in range(returns.shape[0]):
        d = returns[i] - mean
        var = var + d * d
    sigma = np.sqrt(var / returns.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(sigma > 0, slope * math.sqrt(n) / sigma, np.nan)
    return value, slope, sigma


def bollinger_bandwidth(close: np.ndarray, period: int = 20, nbdev: float = 2.0) -> np.ndarray:
    """(upper - lower) / middle of Bollinger bands over the last ``period`` bars.

    Middle = simple mean, bands = middle +/- nbdev * population standard
    deviation, the variance taken as TA-Lib takes it (mean of squares minus
    square of mean).
    """
    close = _check(close)
    k, n = close.shape
    if n < period:
        return np.full(k, np.nan)
    c = _bar_major(close[:, n - period :])
    total = np.zeros(k)
    total_sq = np.zeros(k)
    for i in range(period):
        value = c[i]
        total = total + value
        total_sq = total_sq + value * value
    mean = total / period
    var = total_sq / period - mean * mean
    std = np.where(var > 0, np.sqrt(np.maximum(var, 0.0)), 0.0)
    upper = mean + nbdev * std
    lower = mean - nbdev * std
    with np.errstate(divide="ignore", invalid="ignore"):
        return (upper - lower) / mean
