"""The live lifecycle replayed over recorded data, checked by hand over one week of the sample
(2023-08-24 .. 2023-08-31): a probationary setup and its approval, its promotion after a day
in a confirmed range, the stop at MANDATORY_EXIT, the cooldown and the restart gates, and
the next setup."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from market_maker.backtest.feed import Feed
from market_maker.backtest.lifecycle import Lifecycle, LifecycleReplay, Operator
from market_maker.base.candles import CandleSeries
from market_maker.config import Settings
from market_maker.decisions.states import ExitState
from market_maker.regime.gate_records import GATES

H = timedelta(hours=1)
DELAY = timedelta(minutes=10)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2023, 8, day, hour, minute, tzinfo=UTC)


@pytest.fixture(scope="module")
def week(sample_minutes: CandleSeries, default_settings: Settings) -> tuple[Feed, Lifecycle]:
    feed = Feed.build("ETH-USDT", sample_minutes, at(22, 0), at(31, 6), default_settings.regime)
    operator = Operator(DELAY, ExitState.MANDATORY_EXIT)
    replay = LifecycleReplay(feed, default_settings, operator, (1000.0, "configuration"))
    return feed, replay.run()


def decision(lifecycle: Lifecycle, hour: datetime):
    [d] = [d for d in lifecycle.decisions if d.hour == hour]
    return d


def test_a_probationary_setup_is_approved_after_the_delay_and_sized_by_hand(
    week: tuple[Feed, Lifecycle], default_settings: Settings
) -> None:
    feed, lifecycle = week
    cfg = default_settings.lifecycle
    d = decision(lifecycle, at(24, 8))
    assert (d.kind, d.recommendation, d.mode) == ("GRID_SETUP", "CREATE_GRID", "probationary")
    assert d.id == "dec-ETH-USDT-20230824-090000" and d.expires_at == at(24, 10)
    view = feed.view(feed.index(at(24, 8)))
    assert cfg.setup.min_confidence <= view.confidence < cfg.setup.full_confidence
    # The grid by hand: the discovered band, levels one probationary spacing apart (1.5 x
    # the larger of twice the round trip and a quarter of the bandwidth), 55 % of 640 quote.
    g, band = d.grid, view.range
    assert (g.lower_price, g.upper_price) == (round(band.lower, 2), round(band.upper, 2))
    spacing = 1.5 * max(2 * 2 * 0.001, view.value("bollinger_bandwidth") / 4)
    assert g.levels == int((band.upper - band.lower) / (spacing * band.upper)) + 1 == 5
    prices = [band.lower + k * (band.upper - band.lower) / 4 for k in range(5)]
    per_unit = sum(p if p <= view.price else view.price for p in prices)
    assert g.amount_per_grid == math.floor(640 * 0.55 / per_unit * 1e6) / 1e6 == 0.042579
    # Approved ten minutes after the decision is issued: running from 09:10, first
    # evaluated at 10:00 (the 09:00 hour started without it).
    life = lifecycle.lives[0]
    assert life.placed_at == at(24, 9, 10) and life.grid.mode == "probationary"
    assert life.evaluations[0].hour == at(24, 10)
    assert life.grid.running_at(at(24, 9, 10)) and not life.grid.running_at(at(24, 9, 9))


def test_after_a_day_in_a_confirmed_range_a_full_grid_replaces_the_probationary_one(
    week: tuple[Feed, Lifecycle],
) -> None:
    feed, lifecycle = week
    d = decision(lifecycle, at(25, 20))
    assert d.kind == "GRID_MANAGE" and d.promotion is not None
    # Exactly 24 RANGE_OK hours up to 20:00, the hour before them not.
    hours = [at(25, 20) - k * H for k in range(25)]
    verdicts = [feed.view(feed.index(h)).verdict for h in hours]
    assert verdicts[:24] == ["RANGE_OK"] * 24 and verdicts[24] != "RANGE_OK"
    assert decision(lifecycle, at(25, 19)).promotion is None
    old, full = lifecycle.lives[0], lifecycle.lives[1]
    assert old.ended_at == full.placed_at == at(25, 21, 10) and old.promoted
    assert (full.grid.mode, full.grid.levels, full.grid.lower_price) == ("full", 10, 1624.05)
    assert full.grid.capital() > old.grid.capital()  # the full allocation


def test_the_operator_stops_the_grid_after_the_first_mandatory_exit_and_once(
    week: tuple[Feed, Lifecycle],
) -> None:
    _, lifecycle = week
    full = lifecycle.lives[1]
    first = next(e for e in full.evaluations if e.after == ExitState.MANDATORY_EXIT)
    assert first.hour == at(29, 14)
    assert full.ended_at == at(29, 15, 10) and full.acted_hour == at(29, 14)
    assert full.end_reason == "STOP_GRID after MANDATORY_EXIT (dec-ETH-USDT-20230829-150000)"
    # Still running at 15:00: evaluated once more, STOP_GRID again; nothing more to stop.
    assert full.evaluations[-1].hour == at(29, 15)
    assert decision(lifecycle, at(29, 15)).recommendation == "STOP_GRID"
    assert decision(lifecycle, at(29, 16)).kind == "GRID_SETUP"


def test_after_the_stop_the_gates_pass_in_order_and_the_next_setup_comes(
    week: tuple[Feed, Lifecycle], default_settings: Settings
) -> None:
    _, lifecycle = week
    gates = default_settings.lifecycle.gates
    stop = at(29, 15, 10)
    idle = [d for d in lifecycle.decisions if at(29, 16) <= d.hour < at(31, 2)]
    assert idle and all(d.recommendation == "NO_SETUP" for d in idle)
    assert all(any(r.startswith("restart_gates") for r in d.reasons) for d in idle)
    # The cooldown: the 16:00 decision is issued 110 min after the stop (60 needed); only
    # failed checks are named.
    assert not any("cooldown_after_stop" in r for r in decision(lifecycle, at(29, 16)).reasons)
    passed = lifecycle.gates[at(31, 2)]
    assert passed.since_stop == stop and passed.all_passed
    assert all(lifecycle.gates[at(31, 1)].record(g).status != "passed" for g in GATES[2:])
    # Each gate's figures, checked against the configured lines by hand.
    e = passed.energy_decay.values
    assert e["adx"] < gates.energy_decay.adx_below and e["adx"] <= e["adx_previous"]
    assert abs(e["slope"]) <= gates.energy_decay.max_abs_slope
    m = passed.mean_reversion.values
    assert m["ou_half_life"] <= gates.mean_reversion.max_half_life_hours
    assert m["autocorrelation"] <= gates.mean_reversion.max_autocorrelation
    bandwidth = passed.tradable_volatility.values["bollinger_bandwidth"]
    assert gates.tradable_volatility.min_bandwidth <= bandwidth
    assert bandwidth <= gates.tradable_volatility.max_bandwidth
    restart = decision(lifecycle, at(31, 2))
    assert (restart.recommendation, restart.mode) == ("CREATE_GRID", "probationary")
    assert (restart.grid.lower_price, restart.grid.upper_price, restart.grid.levels) == (
        1638.6,
        1734.49,
        9,
    )
    assert lifecycle.lives[2].placed_at == at(31, 3, 10)


def test_an_approval_later_than_the_setups_expiry_places_nothing_and_holds_the_cooldown(
    sample_minutes: CandleSeries, default_settings: Settings
) -> None:
    feed = Feed.build("ETH-USDT", sample_minutes, at(24, 0), at(25, 0), default_settings.regime)
    late = Operator(timedelta(minutes=61), ExitState.MANDATORY_EXIT)
    lifecycle = LifecycleReplay(feed, default_settings, late, (1000.0, "configuration")).run()
    assert lifecycle.lives == []
    first = decision(lifecycle, at(24, 8))
    assert first.recommendation == "CREATE_GRID"
    # Expired at 10:00: two hours of cooldown from then (decisions issued until 12:00).
    for hour in (at(24, 9), at(24, 10)):
        assert any(r.startswith("cooldown_after_setup") for r in decision(lifecycle, hour).reasons)
    after = decision(lifecycle, at(24, 11))  # reasons name the failed checks, or all if none
    assert after.recommendation == "CREATE_GRID" or not any(
        r.startswith("cooldown_after_setup") for r in after.reasons
    )
