"""A window gives bit-identical results alone or inside a batch: live and replay cannot drift."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market_maker.config.regime import RegimeSettings
from market_maker.regime import kernels
from market_maker.regime.analysis import analyze_frames
from tests.regime.helpers import SYMBOL, Recording, record, windows

Kernel = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, ...]]

# Each kernel with the window length it runs on in the analysis.
KERNELS: dict[str, tuple[int, Kernel]] = {
    "adx": (150, lambda h, lo, c: (kernels.adx(h, lo, c, 14),)),
    "efficiency_ratio": (21, lambda h, lo, c: (kernels.efficiency_ratio(c),)),
    "autocorrelation": (73, lambda h, lo, c: (kernels.lag1_autocorrelation(c),)),
    "ou_half_life": (169, lambda h, lo, c: kernels.ou_half_life(c)),
    "normalized_slope": (48, lambda h, lo, c: kernels.normalized_slope(c)),
    "regression_slope": (48, lambda h, lo, c: (kernels.regression_slope(np.log(c)),)),
    "bollinger_bandwidth": (26, lambda h, lo, c: (kernels.bollinger_bandwidth(c, 20, 2.0),)),
}
# Analysed hours start late enough for the longest 1h and 4h windows and their history.
FIRST_ANALYSABLE = 600

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def bits(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values, dtype=np.float64).tobytes()


@pytest.mark.parametrize("name", list(KERNELS))
@SETTINGS
@given(data=st.data(), timeframe=st.sampled_from(["1h", "4h"]))
def test_each_kernel_gives_the_same_bits_for_a_window_alone_and_inside_a_batch(
    recording: Recording, name: str, data: st.DataObject, timeframe: str
) -> None:
    n, kernel = KERNELS[name]
    series = recording.h1 if timeframe == "1h" else recording.h4
    ends = np.array(
        data.draw(
            st.lists(st.integers(n - 1, len(series) - 1), min_size=2, max_size=200), label="ends"
        )
    )
    j = data.draw(st.integers(0, len(ends) - 1), label="position in the batch")
    high, low, close = (windows(getattr(series, c), ends, n) for c in ("high", "low", "close"))

    in_batch = kernel(high, low, close)
    alone = kernel(high[j : j + 1], low[j : j + 1], close[j : j + 1])

    for batch_out, alone_out in zip(in_batch, alone, strict=True):
        assert batch_out.shape == (len(ends),)
        assert bits(batch_out[j : j + 1]) == bits(alone_out), (batch_out[j], alone_out[0])


@SETTINGS
@given(data=st.data())
def test_an_hour_analysed_alone_or_within_a_range_gives_the_same_metrics_file(
    recording: Recording, regime_settings: RegimeSettings, data: st.DataObject
) -> None:
    i = data.draw(st.integers(FIRST_ANALYSABLE, len(recording.h1) - 1), label="hour index")
    before = data.draw(st.integers(0, 300), label="hours before")
    after = data.draw(st.integers(0, 300), label="hours after")
    target = recording.hour_at(i)
    span = [
        recording.hour_at(k)
        for k in range(max(i - before, 0), min(i + after, len(recording.h1) - 1) + 1)
    ]

    alone = analyze_frames(SYMBOL, recording.frames, [target], regime_settings)
    within = analyze_frames(SYMBOL, recording.frames, span, regime_settings)

    single = record(alone, 0)
    assert single.status == "OK"
    assert single == record(within, within.index(target))
