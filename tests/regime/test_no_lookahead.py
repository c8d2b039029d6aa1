"""No lookahead: candles after an hour (or a 4h candle still open at its end) never change it."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market_maker.base.candles import CandleSeries, Interval, aggregate, concat
from market_maker.base.timeutil import HOUR, from_seconds, to_seconds
from market_maker.config.regime import RegimeSettings
from market_maker.regime.analysis import Frames, analyze_frames
from market_maker.regime.model import MetricsFile
from tests.regime.helpers import SYMBOL, Recording, hours, records

FOUR_HOURS = 4 * HOUR
HISTORY = timedelta(days=30)  # covers the longest window (4h: 99 bars = 16.5 days)
ANALYSED = 72  # hours analysed before the cut
SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def floor_to(moment: datetime, step: timedelta) -> datetime:
    seconds = int(step.total_seconds())
    return from_seconds(to_seconds(moment) // seconds * seconds)


def frames_from_minutes(minutes: CandleSeries, start: datetime, end: datetime) -> Frames:
    """Candles built from the minutes in [start, end): the last 1h/4h candle may still be open."""
    part = minutes.between(start, end)
    return Frames(aggregate(part, Interval.HOUR), aggregate(part, Interval.FOUR_HOURS))


def cut_moments(recording: Recording) -> st.SearchStrategy[datetime]:
    """Any minute of 2022-2023 with 30 days of history before it and 10 days after."""
    first = to_seconds(from_seconds(int(recording.minutes.t[0])) + HISTORY + 2 * FOUR_HOURS)
    last = int(recording.minutes.t[-1]) - 10 * 86400
    return st.integers(first // 60, last // 60).map(lambda m: from_seconds(60 * m))


@SETTINGS
@given(data=st.data(), days=st.integers(1, 10))
def test_appending_future_candles_changes_no_earlier_verdict_confidence_or_metric(
    recording: Recording, regime_settings: RegimeSettings, data: st.DataObject, days: int
) -> None:
    cut = data.draw(cut_moments(recording), label="T")
    start = floor_to(cut - HISTORY, FOUR_HOURS)
    last_closed = floor_to(cut, HOUR) - HOUR
    targets = hours(last_closed - (ANALYSED - 1) * HOUR, last_closed)

    at_cut = frames_from_minutes(recording.minutes, start, cut)
    later = frames_from_minutes(recording.minutes, start, cut + timedelta(days=days))
    assert len(later.h1) >= len(at_cut.h1) + 24 * days - 1

    before = records(analyze_frames(SYMBOL, at_cut, targets, regime_settings))
    after = records(analyze_frames(SYMBOL, later, targets, regime_settings))

    assert all(r.status == "OK" for r in before)
    for earlier, again in zip(before, after, strict=True):
        assert earlier == again, f"{earlier.hour} changed once later candles were known"


def four_hour_candle(recording: Recording, bucket: datetime, end: datetime) -> CandleSeries:
    """The 4h candle opening at ``bucket`` as it stands at ``end`` (open when end < bucket+4h)."""
    return aggregate(recording.minutes.between(bucket, end), Interval.FOUR_HOURS)


def analysable_hours(recording: Recording, closing_4h: bool) -> st.SearchStrategy[datetime]:
    """Hours whose end closes a 4h candle (closing_4h) or falls inside one."""
    first, last = 1200, len(recording.h1) - 2
    return (
        st.integers(first, last)
        .map(recording.hour_at)
        .filter(lambda h: ((h.hour + 1) % 4 == 0) == closing_4h)
    )


@SETTINGS
@given(data=st.data())
def test_a_4h_candle_still_open_at_the_end_of_the_hour_is_never_used(
    recording: Recording, regime_settings: RegimeSettings, data: st.DataObject
) -> None:
    hour = data.draw(analysable_hours(recording, closing_4h=False), label="hour")
    end = hour + HOUR
    bucket = floor_to(hour, FOUR_HOURS)
    h1 = recording.h1.closed_by(end)
    closed = recording.h4.closed_by(end)
    assert closed.t[-1] == to_seconds(bucket - FOUR_HOURS)
    still_open = four_hour_candle(recording, bucket, end)
    completed = four_hour_candle(recording, bucket, bucket + FOUR_HOURS)
    assert still_open.t[0] == completed.t[0] == to_seconds(bucket)
    assert still_open.volume[0] < completed.volume[0]  # the rest of the 4h is still to come
    targets = hours(hour - 12 * HOUR, hour)

    def analysed(h4: CandleSeries) -> list[MetricsFile]:
        return records(analyze_frames(SYMBOL, Frames(h1, h4), targets, regime_settings))

    without = analysed(closed)
    assert without == analysed(concat([closed, still_open], Interval.FOUR_HOURS))
    assert without == analysed(concat([closed, completed], Interval.FOUR_HOURS))


@SETTINGS
@given(data=st.data())
def test_a_4h_candle_closing_with_the_hour_is_used_at_that_hour(
    recording: Recording, regime_settings: RegimeSettings, data: st.DataObject
) -> None:
    hour = data.draw(analysable_hours(recording, closing_4h=True), label="hour")
    end = hour + HOUR
    h4 = recording.h4.closed_by(end)
    assert h4.t[-1] + 4 * 3600 == to_seconds(end)

    def adx_4h(series: CandleSeries) -> float | None:
        batch = analyze_frames(SYMBOL, Frames(recording.h1, series), [hour], regime_settings)
        return records(batch)[0].confirmation_4h.metrics["adx"].value

    assert adx_4h(h4) != adx_4h(h4.take(slice(0, len(h4) - 1)))
