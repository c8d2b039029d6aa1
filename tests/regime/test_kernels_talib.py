"""The metric kernels against TA-Lib (the oracle) on real candles, and their edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import talib

from market_maker.base.candles import CandleSeries, Interval
from market_maker.config.regime import RegimeSettings
from market_maker.regime import kernels
from market_maker.regime.metrics import RANGE, TREND, compute_timeframe
from tests.regime.helpers import Recording, spread_ends, windows

WINDOWS = 3000  # windows per check, spread over 2022-2023
TOLERANCE = {"rtol": 1e-9, "atol": 1e-9}


@pytest.fixture(scope="module", params=["1h", "4h"])
def candles(request: pytest.FixtureRequest, recording: Recording) -> CandleSeries:
    return recording.h1 if request.param == "1h" else recording.h4


def ends_for(series: CandleSeries, n: int, seed: int = 7) -> np.ndarray:
    ends = spread_ends(len(series), n, WINDOWS, seed)
    assert len(ends) > 1000
    return ends


def talib_last(function, *columns: np.ndarray, **kwargs) -> np.ndarray:
    """TA-Lib's value at the last bar of each window."""
    return np.array([function(*row, **kwargs)[-1] for row in zip(*columns, strict=True)])


# -- TA-Lib as the oracle ------------------------------------------------------------------


@pytest.mark.parametrize("n", [150, 90, 60, 28])
def test_adx_equals_talib_adx_at_the_last_bar_of_every_window(
    candles: CandleSeries, n: int
) -> None:
    ends = ends_for(candles, n)
    high, low, close = (windows(getattr(candles, c), ends, n) for c in ("high", "low", "close"))
    expected = talib_last(talib.ADX, high, low, close, timeperiod=14)
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(kernels.adx(high, low, close, 14), expected, **TOLERANCE)


def test_efficiency_ratio_equals_talib_er_except_on_flat_windows(candles: CandleSeries) -> None:
    ends = ends_for(candles, 21)
    close = windows(candles.close, ends, 21)
    expected = talib_last(talib.ER, close, timeperiod=20)
    flat = np.ptp(close, axis=1) == 0
    ours = kernels.efficiency_ratio(close)
    np.testing.assert_allclose(ours[~flat], expected[~flat], **TOLERANCE)
    assert (ours[flat] == 0.0).all()


@pytest.mark.parametrize("n", [48, 42, 20])
def test_regression_slope_equals_talib_linearreg_slope_of_log_prices(
    candles: CandleSeries, n: int
) -> None:
    log_close = np.log(windows(candles.close, ends_for(candles, n), n))
    expected = talib_last(talib.LINEARREG_SLOPE, log_close, timeperiod=n)
    np.testing.assert_allclose(kernels.regression_slope(log_close), expected, **TOLERANCE)


@pytest.mark.parametrize("n", [20, 26])
def test_bollinger_bandwidth_equals_talib_bbands_over_the_last_20_bars(
    candles: CandleSeries, n: int
) -> None:
    close = windows(candles.close, ends_for(candles, n), n)
    bands = [talib.BBANDS(row, 20, 2.0, 2.0, 0) for row in close]
    upper, middle, lower = (np.array([b[j][-1] for b in bands]) for j in range(3))
    expected = (upper - lower) / middle
    np.testing.assert_allclose(kernels.bollinger_bandwidth(close, 20, 2.0), expected, **TOLERANCE)


def test_autocorrelation_is_the_usual_lag_1_acf_estimator_of_log_returns(
    candles: CandleSeries,
) -> None:
    close = windows(candles.close, ends_for(candles, 73), 73)
    returns = np.diff(np.log(close), axis=1)
    centred = returns - returns.mean(axis=1, keepdims=True)
    expected = (centred[:, 1:] * centred[:, :-1]).sum(axis=1) / (centred**2).sum(axis=1)
    np.testing.assert_allclose(kernels.lag1_autocorrelation(close), expected, **TOLERANCE)


def test_ar1_coefficient_is_the_least_squares_slope_of_log_price_on_its_previous_value(
    recording: Recording,
) -> None:
    ends = spread_ends(len(recording.h1), 169, 300, seed=11)
    logs = np.log(windows(recording.h1.close, ends, 169))
    expected = np.array([np.polyfit(row[:-1], row[1:], 1)[0] for row in logs])
    np.testing.assert_allclose(kernels.ar1_coefficient(np.exp(logs)), expected, rtol=1e-7)


# -- Edge cases ----------------------------------------------------------------------------


def test_a_flat_window_has_efficiency_ratio_zero_where_talib_says_one() -> None:
    flat = np.full((1, 21), 1850.0)
    # Deliberate difference: no movement at all is no trend, not perfect efficiency.
    assert talib.ER(flat[0], 20)[-1] == 1.0
    assert kernels.efficiency_ratio(flat)[0] == 0.0


def test_a_flat_window_votes_range_not_trend_on_the_efficiency_ratio(
    regime_settings: RegimeSettings,
) -> None:
    n = 200
    t = 1_656_633_600 + 3600 * np.arange(n)
    price = np.full(n, 1850.0)
    series = CandleSeries(Interval.HOUR, t, price, price, price, price, np.ones(n))
    batch = compute_timeframe(series, np.array([n - 1]), regime_settings.timeframes["1h"])[
        "efficiency_ratio"
    ]
    assert batch.errors == [None]
    assert batch.values[0] == 0.0
    assert batch.votes[0] == RANGE
    assert batch.votes[0] != TREND


def test_adx_needs_twice_its_period_in_bars(recording: Recording) -> None:
    h1 = recording.h1
    end = np.array([5000])
    short = [windows(getattr(h1, c), end, 27) for c in ("high", "low", "close")]
    assert np.isnan(kernels.adx(*short, 14)).all()
    assert np.isnan(talib.ADX(*(w[0] for w in short), 14)).all()
    enough = [windows(getattr(h1, c), end, 28) for c in ("high", "low", "close")]
    value = kernels.adx(*enough, 14)[0]
    assert math.isfinite(value)
    assert value == pytest.approx(talib.ADX(*(w[0] for w in enough), 14)[-1], rel=1e-9)


def test_ou_half_life_is_infinite_when_a_steady_trend_gives_an_ar1_coefficient_of_one_or_more() -> (
    None
):
    t = np.arange(169, dtype=np.float64)
    close = (100.0 * np.exp(1e-4 * t**2))[None, :]  # log price accelerates upwards
    half, b = kernels.ou_half_life(close)
    assert b[0] >= 1.0
    assert half[0] == math.inf


def test_ou_half_life_of_a_mean_reverting_ar1_series_is_short_and_matches_its_coefficient() -> None:
    rng = np.random.default_rng(3)
    true_b, mu = 0.8, math.log(1800.0)
    x = np.empty(2000)
    x[0] = mu
    for i in range(1, len(x)):
        x[i] = mu + true_b * (x[i - 1] - mu) + rng.normal(0.0, 0.002)
    half, b = kernels.ou_half_life(np.exp(x)[None, :])
    assert b[0] == pytest.approx(true_b, abs=0.05)
    assert half[0] == pytest.approx(-math.log(2.0) / math.log(b[0]), rel=1e-12)
    assert half[0] == pytest.approx(-math.log(2.0) / math.log(true_b), rel=0.25)  # ~3.1 bars
    assert 0 < half[0] < 10


def test_autocorrelation_of_an_alternating_series_is_strongly_negative() -> None:
    close = np.where(np.arange(73) % 2 == 0, 1800.0, 1810.0)[None, :]
    assert kernels.lag1_autocorrelation(close)[0] < -0.95


def test_normalized_slope_is_the_log_price_slope_times_root_n_over_return_volatility() -> None:
    rng = np.random.default_rng(5)
    n = 48
    log_close = math.log(1800.0) + 0.002 * np.arange(n) + rng.normal(0.0, 0.004, n)
    close = np.exp(log_close)[None, :]
    value, slope, sigma = kernels.normalized_slope(close)
    fitted = np.polyfit(np.arange(n), log_close, 1)[0]
    noise = np.std(np.diff(log_close))  # population standard deviation of the log returns
    assert slope[0] == pytest.approx(fitted, rel=1e-9)
    assert sigma[0] == pytest.approx(noise, rel=1e-9)
    assert value[0] == pytest.approx(fitted * math.sqrt(n) / noise, rel=1e-9)
    # A drift of half the noise per bar stands far out of a random walk's move.
    assert value[0] > 2.0
