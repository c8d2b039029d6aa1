"""Collection periods: the time helpers, file names and schedules, for every allowed period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market_maker.base.errors import ConfigurationError
from market_maker.base.timeutil import (
    PERIOD_MINUTES,
    cron_period,
    floor_hour,
    floor_period,
    hours_between,
    is_period_start,
    last_closed_bar,
    last_closed_hour,
    last_closed_period,
    period_cron,
    periods_between,
)
from market_maker.config import load_settings
from market_maker.regime.model import metrics_file_period, metrics_relpath
from market_maker.snapshots.packing import hour_of_member, member_name
from market_maker.snapshots.paths import hour_from_path, snapshot_relpath

SYMBOL = "ETH-USDT"
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
periods = st.sampled_from(PERIOD_MINUTES)


@st.composite
def period_starts(draw: st.DrawFn) -> tuple[int, datetime]:
    minutes = draw(periods)
    return minutes, floor_period(draw(moments), minutes)


@given(moments, periods)
def test_a_moment_lies_in_the_period_that_floor_gives(moment: datetime, minutes: int) -> None:
    start = floor_period(moment, minutes)
    assert start <= moment < start + timedelta(minutes=minutes)
    assert is_period_start(start, minutes)
    assert last_closed_period(moment, minutes) + timedelta(minutes=minutes) <= moment


@given(moments)
def test_the_hour_helpers_are_the_sixty_minute_case(moment: datetime) -> None:
    assert floor_hour(moment) == floor_period(moment, 60)
    assert last_closed_hour(moment) == last_closed_period(moment, 60)
    end = moment + timedelta(hours=5)
    assert list(hours_between(moment, end)) == list(periods_between(moment, end, 60))


@given(moments, periods, st.integers(0, 200))
def test_periods_between_steps_one_period(moment: datetime, minutes: int, n: int) -> None:
    start = floor_period(moment, minutes)
    got = list(periods_between(moment, start + n * timedelta(minutes=minutes), minutes))
    assert got == [start + k * timedelta(minutes=minutes) for k in range(n + 1)]


@given(period_starts())
def test_the_analysed_bar_is_the_last_hour_closed_by_the_period_end(
    case: tuple[int, datetime],
) -> None:
    minutes, start = case
    bar = last_closed_bar(start, minutes)
    end = start + timedelta(minutes=minutes)
    assert bar.minute == 0 and bar + timedelta(hours=1) <= end < bar + timedelta(hours=2)
    if minutes == 60:
        assert bar == start


@given(period_starts())
def test_snapshot_paths_round_trip_for_every_period(case: tuple[int, datetime]) -> None:
    minutes, start = case
    path = snapshot_relpath(SYMBOL, start, minutes)
    assert hour_from_path(path, minutes) == start
    assert hour_from_path(path) == start
    # A file of one kind of period is never read as the other kind's.
    other = 15 if minutes == 60 else 60
    if minutes != 60 or start.minute == 0:
        assert hour_from_path(path, other) is None
    name = member_name(start, minutes)
    assert name == "/".join(path.parts[-2:])
    assert hour_of_member(start.year, start.month, name, minutes) == start
    assert metrics_file_period(metrics_relpath(SYMBOL, start, minutes).name) == (
        "hour" if minutes == 60 else "period"
    )


def test_hourly_names_are_unchanged_and_shorter_periods_name_their_minutes() -> None:
    hour = datetime(2024, 8, 5, 10, tzinfo=UTC)
    assert snapshot_relpath(SYMBOL, hour).as_posix() == "snapshots/ETH-USDT/2024/08/05/10.json"
    assert metrics_relpath(SYMBOL, hour).as_posix() == "metrics/ETH-USDT/2024-08-05-10.yaml"
    assert member_name(hour) == "05/10.json"
    quarter = hour + timedelta(minutes=15)
    assert snapshot_relpath(SYMBOL, quarter, 15) == Path("snapshots/ETH-USDT/2024/08/05/10-15.json")
    assert snapshot_relpath(SYMBOL, hour, 15).name == "10-00.json"
    assert metrics_relpath(SYMBOL, quarter, 15).name == "2024-08-05-10-15.yaml"
    assert member_name(quarter, 15) == "05/10-15.json"
    # A name off the period's grid is not a snapshot of that period.
    assert hour_of_member(2024, 8, "05/10-20.json", 15) is None
    assert hour_of_member(2024, 8, "05/10-20.json", 20) == hour + timedelta(minutes=20)


@given(periods, st.integers(0, 59))
def test_the_pipeline_cron_round_trips(minutes: int, offset: int) -> None:
    offset %= minutes
    cron = period_cron(minutes, offset)
    assert cron_period(cron) == (minutes, offset)


def test_the_hourly_cron_is_the_one_deployed_today() -> None:
    assert period_cron(60, 5) == "5 * * * *"
    assert period_cron(15, 5) == "5,20,35,50 * * * *"
    assert cron_period("15 0 * * *") is None
    assert cron_period("5,20 * * * *") is None  # two runs an hour, not 30 minutes apart


@pytest.mark.parametrize("value", ["7", "45", "0", "120"])
def test_a_period_that_does_not_divide_the_hour_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MARKET_MAKER_SNAPSHOTS__PERIOD_MINUTES", value)
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    message = str(info.value)
    assert "snapshots.period_minutes" in message and "60, 30, 20, 15, 10, 5" in message
    assert len(message.splitlines()) == 1


def test_the_default_period_is_an_hour_and_leaves_the_config_version_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hourly = load_settings()
    assert hourly.snapshots.period_minutes == 60
    monkeypatch.setenv("MARKET_MAKER_SNAPSHOTS__PERIOD_MINUTES", "60")
    assert load_settings().config_version == hourly.config_version
    monkeypatch.setenv("MARKET_MAKER_SNAPSHOTS__PERIOD_MINUTES", "15")
    assert load_settings().config_version != hourly.config_version
