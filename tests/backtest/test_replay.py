"""The replay: what the exit engine sees equals the live path's view, no lookahead, placement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market_maker.backtest.feed import Feed
from market_maker.backtest.parameters import parse_parameters
from market_maker.backtest.replay import first_evaluated_hour, grid_config, step_exits
from market_maker.backtest.run import run_backtest
from market_maker.base.candles import CandleSeries, Interval, aggregate
from market_maker.base.timeutil import HOUR, hours_between, to_seconds
from market_maker.config import Settings
from market_maker.exit_strategy.observation import Observation
from market_maker.grids.model import GridConfig
from market_maker.regime.analysis import Frames, analyze_frames

START = datetime(2023, 7, 10, tzinfo=UTC)
END = datetime(2023, 7, 20, tzinfo=UTC)


def a_grid(feed: Feed, at: datetime) -> GridConfig:
    price = feed.price(feed.index(at - HOUR))
    levels = np.linspace(price * 0.97, price * 1.03, 15)
    return grid_config("bt-0001", "ETH-USDT", levels, 1000.0, at)


def test_the_engine_sees_what_the_live_path_builds_from_metrics_files(
    sample_minutes: CandleSeries, default_settings: Settings
) -> None:
    feed = Feed.build("ETH-USDT", sample_minutes, START, END, default_settings.regime)
    grid = a_grid(feed, START)
    hours = list(hours_between(START - HOUR, END - HOUR))
    status = {h: grid.status(h) for h in hours if grid.running_at(h)}
    # The live path: the hour's metrics file, analysed with the grid in force.
    frames = Frames(
        aggregate(sample_minutes.between(START - timedelta(days=40), END), Interval.HOUR),
        aggregate(sample_minutes.between(START - timedelta(days=40), END), Interval.FOUR_HOURS),
    )
    live = analyze_frames("ETH-USDT", frames, hours, default_settings.regime, status)
    for i in range(1, len(hours)):
        record = live.record(
            i, snapshot_path="", collected_at=None, config_version="", code_version=""
        )
        previous = live.record(
            i - 1, snapshot_path="", collected_at=None, config_version="", code_version=""
        )
        assert feed.observation(i, grid) == Observation.build(record, grid, previous), hours[i]


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cut=st.integers(min_value=1, max_value=9 * 24 - 1),
    placement=st.sampled_from(["protocol", "system"]),
)
def test_no_lookahead_truncating_after_any_hour_changes_nothing_before_it(
    sample_minutes: CandleSeries, default_settings: Settings, cut: int, placement: str
) -> None:
    """Run on data that ends at hour T: every analysis, exit state and decision before T is
    what the run over the whole period gave, the lifecycle's setups, approvals, promotions
    and stops included."""
    t = START + timedelta(hours=cut)
    values = dict(start=START, end=END, cadence_hours=48, delay_minutes=15, placement=placement)
    full = run_backtest(parse_parameters(values), default_settings, sample_minutes)
    cut_minutes = sample_minutes.take(sample_minutes.t < to_seconds(t))
    part = run_backtest(parse_parameters(values | {"end": t}), default_settings, cut_minutes)

    def before(rows):
        return [r for r in rows if r.hour < t]

    assert before(part.hour_rows()) == before(full.hour_rows())
    n = len(part.feed.hours)
    assert np.array_equal(part.feed.batch.final, full.feed.batch.final[:n])
    assert np.array_equal(part.feed.batch.confidence, full.feed.batch.confidence[:n], True)
    placed = [g for g in full.grids if g.placed_at < t]
    assert [(g.grid, g.placed_at) for g in part.grids] == [(g.grid, g.placed_at) for g in placed]
    assert [s.at for s in part.variants["system"].stops if s.at < t] == [
        s.at for s in full.variants["system"].stops if s.at < t
    ]


def test_the_system_places_the_lifecycles_own_grids_one_at_a_time(
    sample_minutes: CandleSeries, default_settings: Settings
) -> None:
    values = dict(start="2023-07-01T00:00:00Z", end="2023-08-31T00:00:00Z", placement="system")
    run = run_backtest(parse_parameters(values), default_settings, sample_minutes)
    assert run.grids
    for k, (g, stop) in enumerate(zip(run.grids, run.variants["system"].stops, strict=True)):
        # Placed on a CREATE_GRID (or a promotion) issued when its hour closed, after the
        # operator's delay; inside the band the setup evaluation discovered then.
        hour = g.placed_at.replace(minute=0) - HOUR
        assert g.placed_at == hour + HOUR + timedelta(minutes=15)
        view = run.feed.view(run.feed.index(hour))
        assert view.verdict in ("RANGE_OK", "RANGE_WEAK")
        assert g.reason.startswith("system: ") and g.grid.mode in ("full", "probationary")
        assert stop.at <= g.life_end
        # One grid at a time under every policy: a grid's life ends where the next begins.
        if k + 1 < len(run.grids):
            assert g.life_end == run.grids[k + 1].placed_at
        for v in run.variants.values():
            assert v.stops[k].at <= g.life_end


def test_the_operator_acts_one_delay_after_the_first_recommendation_to_stop(
    sample_minutes: CandleSeries, default_settings: Settings
) -> None:
    feed = Feed.build("ETH-USDT", sample_minutes, START, END, default_settings.regime)
    grid = a_grid(feed, START)
    cfg = default_settings.exit_strategy
    track = step_exits(
        feed, grid, first_evaluated_hour(START), END, cfg, act_rank=2, delay=timedelta(minutes=15)
    )
    free = step_exits(feed, grid, first_evaluated_hour(START), END, cfg)
    acted = [e for e in free.evaluations if e.after.rank >= 2]
    if not acted:
        assert track.stop_at is None
        return
    assert track.acted_hour == acted[0].hour
    assert track.stop_at == acted[0].hour + HOUR + timedelta(minutes=15)
    assert track.evaluations == free.evaluations[: len(track.evaluations)]
    assert track.evaluations[-1].hour < track.stop_at


def test_the_equity_curve_and_the_months_add_up_to_each_policys_pnl(
    sample_minutes: CandleSeries, default_settings: Settings
) -> None:
    from market_maker.backtest.scoring import figures

    values = dict(start="2023-07-01T00:00:00Z", end="2023-08-31T00:00:00Z", cadence_hours=100)
    run = run_backtest(parse_parameters(values), default_settings, sample_minutes)
    for name, v in figures(run).items():
        assert run.pnl_curves[name][-1] == pytest.approx(v.pnl, abs=0.01), name
        assert sum(m.pnl for m in v.monthly) == pytest.approx(v.pnl, abs=0.05), name
        assert v.pnl == pytest.approx(v.realized + v.unrealized_at_stops, abs=0.02)
