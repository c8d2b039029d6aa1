"""Properties of the replay exchange on the recorded sample: no lookahead, stable closed data."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from market_maker.base.candles import CandleSeries, Interval
from market_maker.base.timeutil import HOUR, from_seconds, to_seconds
from market_maker.exchange.replay import ReplayExchange
from market_maker.snapshots import Snapshot, dumps
from market_maker.snapshots.builder import build_snapshot, fetch_bundle
from tests.conftest import SAMPLE_FILE
from tests.snapshots.helpers import PRICE_SCALE, SYMBOL, WINDOW_1H, WINDOW_4H

EXAMPLES = settings(max_examples=50, deadline=None)
RECORDING = ReplayExchange(SAMPLE_FILE, SYMBOL)  # loads the sample once for the module
FIRST, END = to_seconds(RECORDING.first), to_seconds(RECORDING.end)
DAY = 86_400
INTERVALS = st.sampled_from(list(Interval))


def at(now: datetime) -> ReplayExchange:
    return ReplayExchange(SAMPLE_FILE, SYMBOL, now=now)


def moments(lo: int = FIRST - DAY, hi: int = END + DAY) -> st.SearchStrategy[datetime]:
    """Any second, not only whole minutes or hours, around and inside the recording."""
    return st.integers(lo, hi).map(from_seconds)


def rows(series: CandleSeries) -> list[tuple[float, ...]]:
    columns = (series.t, series.open, series.high, series.low, series.close, series.volume)
    return list(zip(*(c.tolist() for c in columns), strict=True))


# Ranges start up to 40 days before "now" (or a little after it) and usually reach past it.
BACK = st.integers(-2 * DAY, 40 * DAY)
SPAN = st.integers(0, 45 * DAY)


@EXAMPLES
@given(now=moments(), back=BACK, span=SPAN, interval=INTERVALS)
def test_no_candle_is_returned_before_it_has_closed(
    now: datetime, back: int, span: int, interval: Interval
) -> None:
    start = now - timedelta(seconds=back)
    end = start + timedelta(seconds=span)
    result = at(now).candles(SYMBOL, interval, start, end)

    times = result.candles.t
    assert np.all(times + interval.seconds <= to_seconds(now))
    assert np.all((times >= to_seconds(start)) & (times < to_seconds(end)))
    assert np.all(np.diff(times) > 0)
    assert all(t + timedelta(seconds=interval.seconds) <= now for t in result.missing)


@EXAMPLES
@given(now=moments(), later=st.integers(0, 30 * DAY), back=BACK, span=SPAN, interval=INTERVALS)
def test_moving_now_later_never_changes_a_candle_already_returned(
    now: datetime, later: int, back: int, span: int, interval: Interval
) -> None:
    start = now - timedelta(seconds=back)
    end = start + timedelta(seconds=span)
    early = at(now).candles(SYMBOL, interval, start, end).candles
    late = at(now + timedelta(seconds=later)).candles(SYMBOL, interval, start, end).candles

    assert len(early) <= len(late)
    # Exactly a prefix: what was closed then is all there, unchanged, and nothing before it new.
    assert rows(early) == rows(late)[: len(early)]
    closed_then = late.closed_by(now)
    assert rows(closed_then) == rows(early)


@EXAMPLES
@given(now=moments(FIRST + DAY, END))
def test_the_market_summary_uses_only_minutes_closed_at_now(now: datetime) -> None:
    summary = at(now).market_summary(SYMBOL)
    assert summary is not None
    closed = RECORDING.candles(SYMBOL, Interval.MINUTE, now - timedelta(days=2), now).candles
    closed = closed.closed_by(now)
    minute_start = from_seconds(to_seconds(now) // 60 * 60)
    day = closed.between(minute_start - timedelta(days=1), minute_start)

    assert summary.as_of == now
    assert summary.last == closed.close[-1]
    assert summary.high_24h == day.high.max()
    assert summary.low_24h == day.low.min()
    assert np.isclose(summary.volume_24h, day.volume.sum())


def snapshot_of(
    exchange: ReplayExchange, hour: datetime, first: datetime, last: datetime
) -> Snapshot:
    """The snapshot of ``hour`` from a bundle fetched for hours first..last."""
    bundle = fetch_bundle(exchange, SYMBOL, first, last, window_1h=WINDOW_1H, window_4h=WINDOW_4H)
    built = build_snapshot(
        bundle,
        hour,
        price_scale=PRICE_SCALE,
        window_1h=WINDOW_1H,
        window_4h=WINDOW_4H,
        collected_at=hour + HOUR + timedelta(minutes=2),
        source=exchange.name,
        config_version="test-config",
        code_version="test-code",
    )
    assert built.snapshot is not None, built.reason
    return built.snapshot


JULY_1, AUG_30 = to_seconds(RECORDING.first) + 17 * DAY, END - 2 * DAY


@EXAMPLES
@given(
    hour=st.integers(JULY_1 // 3600, AUG_30 // 3600).map(lambda h: from_seconds(h * 3600)),
    later=st.integers(0, 60 * DAY),
    before=st.integers(0, 6),
    after=st.integers(0, 6),
)
def test_a_snapshot_built_as_its_hour_closes_equals_one_built_much_later(
    hour: datetime, later: int, before: int, after: int
) -> None:
    on_time = hour + HOUR
    much_later = on_time + timedelta(seconds=later)
    # A later run fetches a wider range, as a backfill does; only closed hours are asked for.
    last = min(hour + after * HOUR, from_seconds(to_seconds(much_later) // 3600 * 3600) - HOUR)

    fresh = snapshot_of(at(on_time), hour, hour, hour)
    backfilled = snapshot_of(at(much_later), hour, hour - before * HOUR, max(last, hour))

    assert fresh.candles_1h[-1].t == hour
    assert backfilled == fresh
    assert dumps(backfilled) == dumps(fresh)
