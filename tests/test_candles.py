"""Properties of ``aggregate``: minutes (with gaps) into epoch-aligned 1h and 4h candles."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from market_maker.base.candles import CandleSeries, Interval, aggregate

EXAMPLES = settings(max_examples=50, deadline=None)
# 2023-07-01T00:00Z: a start inside the recorded era (any minute is as good).
JULY = 1_688_169_600

Row = tuple[int, float, float, float, float, float]


@st.composite
def candle_values(draw: st.DrawFn) -> tuple[float, float, float, float, float]:
    """One consistent candle: low <= open, close <= high; volume >= 0."""
    low = draw(st.floats(1.0, 10_000.0))
    span = draw(st.floats(0.0, 500.0))
    open_at, close_at = draw(st.floats(0.0, 1.0)), draw(st.floats(0.0, 1.0))
    volume = draw(st.floats(0.0, 5_000.0))
    return low + open_at * span, low + span, low, low + close_at * span, volume


@st.composite
def minute_series(draw: st.DrawFn) -> list[Row]:
    """Minutes oldest first, starting anywhere, with gaps up to several hours between them."""
    first = JULY + draw(st.integers(0, 60 * 24 * 30)) * 60
    steps = draw(
        st.lists(
            st.one_of(st.just(1), st.integers(1, 5), st.integers(60, 600)),
            min_size=0,
            max_size=300,
        )
    )
    times = [first]
    for step in steps:
        times.append(times[-1] + step * 60)
    return [(t, *draw(candle_values())) for t in times]


def series_of(rows: list[Row]) -> CandleSeries:
    return CandleSeries.from_rows(Interval.MINUTE, np.array(rows, dtype=np.float64))


def by_bucket(rows: list[Row], seconds: int) -> dict[int, list[Row]]:
    buckets: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        buckets[row[0] - row[0] % seconds].append(row)
    return buckets


@EXAMPLES
@given(rows=minute_series(), interval=st.sampled_from([Interval.HOUR, Interval.FOUR_HOURS]))
def test_each_bucket_is_the_open_high_low_close_and_volume_of_its_minutes(
    rows: list[Row], interval: Interval
) -> None:
    candles = aggregate(series_of(rows), interval)
    expected = by_bucket(rows, interval.seconds)

    assert candles.interval is interval
    assert candles.t.tolist() == sorted(expected)
    for i, start in enumerate(candles.t.tolist()):
        minutes = expected[start]
        assert candles.open[i] == minutes[0][1]
        assert candles.high[i] == max(m[2] for m in minutes)
        assert candles.low[i] == min(m[3] for m in minutes)
        assert candles.close[i] == minutes[-1][4]
        assert math.isclose(
            candles.volume[i], math.fsum(m[5] for m in minutes), rel_tol=1e-9, abs_tol=1e-9
        )


@EXAMPLES
@given(rows=minute_series(), interval=st.sampled_from([Interval.HOUR, Interval.FOUR_HOURS]))
def test_buckets_are_aligned_increasing_and_only_where_there_are_minutes(
    rows: list[Row], interval: Interval
) -> None:
    candles = aggregate(series_of(rows), interval)
    starts = candles.t.tolist()

    assert all(t % interval.seconds == 0 for t in starts)
    assert all(a < b for a, b in itertools.pairwise(starts))
    occupied = {t - t % interval.seconds for t, *_ in rows}
    assert set(starts) == occupied  # an hour without minutes yields no candle
    assert len(starts) <= len(rows)


@EXAMPLES
@given(rows=minute_series())
def test_four_hours_from_minutes_equal_four_hours_from_hours(rows: list[Row]) -> None:
    minutes = series_of(rows)
    direct = aggregate(minutes, Interval.FOUR_HOURS)
    via_hours = aggregate(aggregate(minutes, Interval.HOUR), Interval.FOUR_HOURS)

    assert np.array_equal(direct.t, via_hours.t)
    for column in ("open", "high", "low", "close"):
        assert np.array_equal(getattr(direct, column), getattr(via_hours, column))
    assert np.allclose(direct.volume, via_hours.volume, rtol=1e-9, atol=1e-9)


@EXAMPLES
@given(rows=minute_series())
def test_an_aggregated_candle_is_itself_consistent(rows: list[Row]) -> None:
    candles = aggregate(series_of(rows), Interval.HOUR)

    assert np.all(candles.low <= np.minimum(candles.open, candles.close))
    assert np.all(candles.high >= np.maximum(candles.open, candles.close))
    assert np.all(candles.volume >= 0)


def test_aggregating_nothing_gives_nothing() -> None:
    empty = aggregate(CandleSeries.empty(Interval.MINUTE), Interval.HOUR)

    assert len(empty) == 0
    assert empty.interval is Interval.HOUR
