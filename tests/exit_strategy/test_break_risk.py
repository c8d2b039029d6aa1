"""The break-risk conditions: a calibrated chance of a close outside the grid within a day."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from market_maker.backtest.feed import Feed
from market_maker.backtest.replay import grid_config, step_exits
from market_maker.config import Settings
from market_maker.config.exit_strategy import (
    BreakRiskCoefficients,
    BreakRiskSettings,
    ExitStrategySettings,
)
from market_maker.exchange.replay import load_recorded_minutes
from market_maker.exit_strategy.break_risk import features, probability, threat
from market_maker.exit_strategy.engine import Evaluation
from market_maker.exit_strategy.triggers import warning
from tests.conftest import SAMPLE_FILE
from tests.exit_strategy.test_engine import (
    CFG,
    L,
    Machine,
    N,
    W,
    check_invariants,
    met,
    obs,
    step,
)

# The shape the fits on 2022 and 2023 agree on: closer to a bound (in volatility units) is
# likelier to break; a high efficiency ratio and an expanding band slightly less so.
RISK = BreakRiskSettings(
    enabled=True,
    coefficients=BreakRiskCoefficients(
        intercept=0.66,
        log_distance=-1.11,
        toward_slope=0.0,
        efficiency_ratio=-0.99,
        log_expansion=-0.26,
    ),
    warning_above=0.5,
    latest_above=0.65,
)
ON = CFG.model_copy(update={"break_risk": RISK})
# Bandwidth 2 %: one volatility unit is 0.5 % of price, about 9 USD at 1,850.
NEAR_LOW = {"price": 1804.0, "bandwidth": 0.02}  # 0.44 units above the lower bound 1,800
MID = {"price": 1850.0, "bandwidth": 0.02}  # 5.4 units from either bound


def test_the_model_is_off_unless_enabled() -> None:
    e = Machine().step(**NEAR_LOW)
    names = {c.name for c in (*e.warning_conditions, *e.latest_conditions)}
    assert "break_risk_elevated" not in names and "break_likely" not in names
    assert e.after == N  # price in the outer band alone is one condition


def test_threat_measures_the_nearer_bound_in_volatility_units() -> None:
    t = threat(obs(**NEAR_LOW))
    assert t is not None and t.side == "lower"
    assert math.isclose(t.distance, 4.0 / (0.02 / 4 * 1804.0))
    up = threat(obs(price=1895.0, bandwidth=0.02, normalized_slope=1.5))
    assert up is not None and up.side == "upper" and up.toward == 1.5
    down = threat(obs(**NEAR_LOW, normalized_slope=1.5))
    assert down is not None and down.toward == -1.5  # rising: away from the lower bound
    assert threat(obs(bandwidth=None)) is None


def test_a_likely_break_is_a_latest_acceptable_exit_with_its_probability_and_distance() -> None:
    e = Machine(ON).step(**NEAR_LOW)
    assert e.after == L
    [likely] = [c for c in e.latest_conditions if c.name == "break_likely"]
    assert likely.met and "likely" in likely.reason and "lower bound" in likely.reason
    assert e.transition is not None
    assert any(r.startswith("break_likely: break within 24 h") for r in e.transition.reasons)
    assert e.transition.metrics["bollinger_bandwidth"] == 0.02


def test_a_grid_far_from_its_bounds_stays_normal() -> None:
    found = probability(obs(**MID), RISK)
    assert found is not None and found[0] < RISK.warning_above
    assert Machine(ON).step(**MID).after == N


def test_the_risk_and_the_outer_band_are_one_sign_not_two() -> None:
    # Elevated but not likely: both position conditions met, nothing else.
    cfg = ON.model_copy(
        update={"break_risk": RISK.model_copy(update={"warning_above": 0.3, "latest_above": 0.9})}
    )
    e = Machine(cfg).step(price=1812.0, bandwidth=0.02)
    assert {"break_risk_elevated", "price_outer_band"} <= met(e)
    assert warning.independent_count(e.warning_conditions) == 1
    assert e.after == N
    # With an independent second sign it is a WARNING.
    e = Machine(cfg).step(price=1812.0, bandwidth=0.02, efficiency_ratio=0.6)
    assert e.after == W


def test_warning_above_may_not_exceed_latest_above() -> None:
    try:
        BreakRiskSettings(warning_above=0.8, latest_above=0.6)
    except ValueError as exc:
        assert "warning_above" in str(exc)
    else:
        raise AssertionError("warning_above > latest_above was accepted")


@settings(max_examples=200, deadline=None)
@given(
    st.floats(1800.5, 1899.5),
    st.floats(0.002, 0.2),
    st.floats(-3, 3),
    st.floats(0, 1),
    st.floats(0.5, 3),
)
def test_closer_to_the_bound_is_never_less_likely(
    price: float, bandwidth: float, slope: float, er: float, expansion: float
) -> None:
    o = obs(
        price=price,
        bandwidth=bandwidth,
        normalized_slope=slope,
        efficiency_ratio=er,
        bandwidth_expansion=expansion,
    )
    t = threat(o)
    assert t is not None and t.distance >= 0
    lower = t.side == "lower"
    nearer = obs(
        price=(price + 1800) / 2 if lower else (price + 1900) / 2,
        bandwidth=bandwidth,
        normalized_slope=slope,
        efficiency_ratio=er,
        bandwidth_expansion=expansion,
    )
    p, _ = probability(o, RISK)  # type: ignore[misc]
    q, tq = probability(nearer, RISK)  # type: ignore[misc]
    assert tq.side == t.side and tq.distance <= t.distance
    assert 0 < p < 1 and q >= p - 1e-12


risk_settings = st.builds(
    lambda c, w, gap: CFG.model_copy(
        update={
            "break_risk": BreakRiskSettings(
                enabled=True,
                coefficients=BreakRiskCoefficients(
                    intercept=c[0],
                    log_distance=c[1],
                    toward_slope=c[2],
                    efficiency_ratio=c[3],
                    log_expansion=c[4],
                ),
                warning_above=w,
                latest_above=min(w + gap, 0.99),
            )
        }
    ),
    st.tuples(*[st.floats(-3, 3)] * 5),
    st.floats(0.05, 0.9),
    st.floats(0, 0.5),
)


@settings(max_examples=150, deadline=None)
@given(risk_settings, st.lists(step, min_size=1, max_size=20), st.floats(0.002, 0.1))
def test_the_state_machine_invariants_hold_with_the_break_risk_conditions(
    cfg: ExitStrategySettings,
    steps: list[tuple[int, dict[str, object], int]],
    bandwidth: float,
) -> None:
    m = Machine(cfg)
    history: list[Evaluation] = []
    for gap, changes, repeat in steps:
        for i in range(repeat):
            e = m.step(gap=gap if i == 0 else 1, **{"bandwidth": bandwidth, **changes})
            check_invariants(e, history)
            # WARNING needs two independent signs, the position family counted once.
            if e.target == W:
                assert warning.independent_count(e.warning_conditions) >= 2
            likely = [c for c in e.latest_conditions if c.name == "break_likely"]
            if likely and likely[0].met:
                assert e.after.rank >= L.rank
            history.append(e)


def test_on_the_recorded_august_2023_break_the_risk_stops_the_grid_hours_ahead(
    clean_settings: Settings,
) -> None:
    # The grid the demo places, 1,780-1,900, running into the fall of 17 August 2023.
    minutes = load_recorded_minutes(SAMPLE_FILE)
    start, end = datetime(2023, 8, 14, tzinfo=UTC), datetime(2023, 8, 19, tzinfo=UTC)
    feed = Feed.build("ETH-USDT", minutes, start, end, clean_settings.regime)
    grid = grid_config("eth-grid-1", "ETH-USDT", np.linspace(1780.0, 1900.0, 20), 1000.0, start)
    cfg = clean_settings.exit_strategy
    assert cfg.break_risk.enabled

    track = step_exits(feed, grid, start, end, cfg)

    first_stop = next(e for e in track.evaluations if e.after.rank >= L.rank)
    break_hour = next(
        e.hour for e in track.evaluations if feed.price(feed.index(e.hour)) < grid.lower_price
    )
    assert first_stop.hour == datetime(2023, 8, 17, 11, tzinfo=UTC)
    assert break_hour - first_stop.hour > timedelta(hours=2)
    assert grid.lower_price <= feed.price(feed.index(first_stop.hour)) <= grid.upper_price
    assert first_stop.transition is not None
    [reason] = [r for r in first_stop.transition.reasons if r.startswith("break_likely")]
    assert "from the lower bound" in reason
    # The risk the engine acted on is the configured model's, recomputed from the hour.
    found = probability(feed.observation(feed.index(first_stop.hour), grid), cfg.break_risk)
    assert found is not None and found[0] >= cfg.break_risk.latest_above
    # Every hour before it stayed under the threshold (it is the first crossing).
    for e in track.evaluations:
        if e.hour >= first_stop.hour:
            break
        p = probability(feed.observation(feed.index(e.hour), grid), cfg.break_risk)
        assert p is None or p[0] < cfg.break_risk.latest_above


@settings(max_examples=60, deadline=None)
@given(
    asks=st.lists(
        st.tuples(st.sampled_from([1790.0, 1804.0, 1850.0, 1890.0]), st.booleans()),
        min_size=1,
        max_size=12,
    )
)
def test_asking_again_gives_each_observation_and_model_its_own_answer(
    asks: list[tuple[float, bool]],
) -> None:
    # The engine asks twice per evaluation and the answer is kept for the same observation
    # under the same settings: any other order of questions gets every one its own answer.
    other = RISK.model_copy(
        update={"coefficients": RISK.coefficients.model_copy(update={"intercept": -2.0})}
    )
    seen = {}
    for price, first in asks:
        o = seen.setdefault(price, obs(price=price, bandwidth=0.02))
        cfg = RISK if first else other
        p, t = probability(o, cfg)
        z = cfg.coefficients.intercept + sum(
            getattr(cfg.coefficients, name) * value for name, value in features(o).items()
        )
        assert p == 1.0 / (1.0 + math.exp(-z)) and t == threat(o)
