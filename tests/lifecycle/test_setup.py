"""Setup recommendations: after a stop, the gates in order, then a sane grid; confidence
bands; capital; cooldowns and timeouts at their boundaries; bad input in one line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_maker.base.errors import ConfigurationError
from market_maker.config import load_settings
from market_maker.config.lifecycle import LifecycleSettings
from market_maker.grids.book import GridBook
from market_maker.grids.model import GridConfig
from market_maker.lifecycle.restart_gates import attach
from market_maker.lifecycle.setup import Context, evaluate_setup
from market_maker.regime.gate_records import GATES
from market_maker.regime.model import MetricsFile

CFG = LifecycleSettings()
FEE = 0.001
STOP = datetime(2023, 8, 17, 2, 10, tzinfo=UTC)  # the demo's stop
GRID = GridConfig.model_validate(
    {
        "id": "demo-eth-grid",
        "symbol": "ETH-USDT",
        "lower_price": 1780.0,
        "upper_price": 1900.0,
        "levels": 13,
        "amount_per_grid": 0.05,
        "profit_per_grid": 0.004,
        "history": [
            {"enabled": "2023-07-25T00:00:00Z"},
            {"disabled": "2023-08-17T02:10:00Z", "reason": "STOP_GRID after MANDATORY_EXIT"},
        ],
    }
)


def book() -> GridBook:
    return GridBook(Path("."), {GRID.id: GRID}, {})


def ctx(metrics: MetricsFile, **changes: object) -> Context:
    base = Context(
        at=metrics.hour + timedelta(hours=1),
        fee_rate=FEE,
        total_quote=1000.0,
        balance_source="test",
        stopped_at=STOP,
        gates=metrics.gate_evaluation,
    )
    return Context(**{**base.__dict__, **changes})


@pytest.fixture(scope="module")
def after_stop(august: list[MetricsFile]) -> list[MetricsFile]:
    """The hours after the stop, with the restart gates the pipeline would write."""
    hours = [m for m in august if m.hour >= datetime(2023, 8, 17, 3, tzinfo=UTC)]
    return attach(hours, book(), CFG.gates, lambda symbol, hour: None)


def test_after_the_stop_no_setup_until_the_gates_pass_in_order_then_a_sane_grid(
    after_stop: list[MetricsFile],
) -> None:
    passed_at = {}
    first_setup = None
    for m in after_stop:
        gates = m.gate_evaluation
        assert gates is not None and gates.since_stop == STOP
        for g in GATES:
            if gates.record(g).status == "passed":
                passed_at.setdefault(g, m.hour)
        result = evaluate_setup(m, ctx(m), CFG)
        if result.recommendation == "CREATE_GRID":
            assert gates.all_passed, m.hour
            first_setup = (m, result)
            break
        if not gates.all_passed:
            assert any(c.name == "restart_gates" and not c.passed for c in result.checks)
    # The gates passed, in order, over several days of the recorded aftermath.
    assert list(passed_at) == list(GATES)
    times = [passed_at[g] for g in GATES]
    assert times == sorted(times) and times[0] > STOP + timedelta(days=1)
    assert first_setup is not None
    m, result = first_setup
    grid, capital = result.grid, result.capital
    assert grid is not None and capital is not None and result.mode is not None
    assert grid.lower_price < m.price < grid.upper_price  # the bounds contain the price
    assert grid.lower_price > 1500 and grid.upper_price < 1800  # below the old range: a new one
    assert grid.spacing_pct / 100 > 2 * (2 * FEE)  # twice the round-trip fee
    assert grid.profit_per_grid_net > 0
    assert CFG.setup.min_levels <= grid.levels <= CFG.setup.max_levels
    assert capital.used is not None and capital.used <= capital.unlocked
    levels = [
        grid.lower_price + k * (grid.upper_price - grid.lower_price) / (grid.levels - 1)
        for k in range(grid.levels)
    ]
    needed = grid.amount_per_grid * sum(min(p, m.price) for p in levels)
    assert needed <= capital.used + 1e-6


def test_a_mid_confidence_range_gets_a_probationary_grid(after_stop: list[MetricsFile]) -> None:
    full, probationary = [], []
    for m in after_stop:
        if m.gate_evaluation is None or not m.gate_evaluation.all_passed:
            continue
        result = evaluate_setup(m, ctx(m), CFG)
        if result.recommendation == "CREATE_GRID":
            (full if result.mode == "full" else probationary).append((m, result))
    assert probationary, "no probationary grid in the recorded aftermath"
    m, result = probationary[0]
    assert CFG.setup.min_confidence <= (m.confidence or 0) < CFG.setup.full_confidence
    assert result.capital is not None and result.capital.used == pytest.approx(
        CFG.capital.grid_allocation_quote * CFG.setup.probationary_allocation
    )
    if full:  # wider spacing than the full grids
        assert result.grid.spacing_pct >= min(r.grid.spacing_pct for _, r in full)


@pytest.fixture(scope="module")
def ready(after_stop: list[MetricsFile]) -> MetricsFile:
    """The first hour after the stop that gets a setup."""
    for m in after_stop:
        if evaluate_setup(m, ctx(m), CFG).recommendation == "CREATE_GRID":
            return m
    raise AssertionError("no setup in the recorded aftermath")


@pytest.mark.parametrize(("minutes", "allowed"), [(59, False), (60, True), (61, True)])
def test_no_setup_within_an_hour_of_a_stop(ready: MetricsFile, minutes: int, allowed: bool) -> None:
    m = ready
    result = evaluate_setup(
        m, ctx(m, stopped_at=m.hour + timedelta(hours=1, minutes=-minutes)), CFG
    )
    assert (result.recommendation == "CREATE_GRID") is allowed
    [cooldown] = [c for c in result.checks if c.name == "cooldown_after_stop"]
    assert cooldown.passed is allowed and f"{minutes} min ago" in cooldown.detail


@pytest.mark.parametrize(("minutes", "allowed"), [(119, False), (121, True)])
@pytest.mark.parametrize("how", ["declined", "left to expire"])
def test_no_setup_within_two_hours_of_a_declined_or_expired_one(
    ready: MetricsFile, minutes: int, allowed: bool, how: str
) -> None:
    m = ready
    closed = m.hour + timedelta(hours=1, minutes=-minutes)
    result = evaluate_setup(m, ctx(m, setup_closed_at=closed, setup_closed_how=how), CFG)
    assert (result.recommendation == "CREATE_GRID") is allowed
    assert any(c.name == "cooldown_after_setup" and how in c.detail for c in result.checks)


@pytest.mark.parametrize(
    ("confidence", "mode"),
    [(0.59, None), (0.60, "probationary"), (0.79, "probationary"), (0.80, "full")],
)
def test_confidence_bands(ready: MetricsFile, confidence: float, mode: str | None) -> None:
    m = ready.model_copy(update={"confidence": confidence})
    result = evaluate_setup(m, ctx(m), CFG)
    assert result.mode == mode
    assert result.recommendation == ("NO_SETUP" if mode is None else "CREATE_GRID")


@settings(max_examples=200, deadline=None)
@given(
    total=st.floats(0, 5000),
    reserve=st.floats(0, 2000),
    allocated=st.floats(0, 3000),
    wanted=st.floats(10, 4000),
)
def test_a_setup_never_exceeds_the_unlocked_capital(
    ready: MetricsFile, total: float, reserve: float, allocated: float, wanted: float
) -> None:
    m = ready
    cfg = CFG.model_copy(
        update={
            "capital": CFG.capital.model_copy(
                update={"reserve_quote": reserve, "grid_allocation_quote": wanted}
            )
        }
    )
    if reserve > total:
        with pytest.raises(ConfigurationError, match="reserve_quote"):
            evaluate_setup(m, ctx(m, total_quote=total, allocated_quote=allocated), cfg)
        return
    result = evaluate_setup(m, ctx(m, total_quote=total, allocated_quote=allocated), cfg)
    unlocked = total - reserve - allocated
    assert result.capital is not None and result.capital.unlocked == pytest.approx(
        unlocked, abs=1e-6
    )
    if result.recommendation == "CREATE_GRID":
        assert result.capital.used is not None and 0 < result.capital.used <= unlocked + 1e-9
    else:
        assert unlocked <= 0 or result.grid is None
    [capital] = [c for c in result.checks if c.name == "capital"]
    full = (m.confidence or 0) >= CFG.setup.full_confidence
    wanted *= 1.0 if full else CFG.setup.probationary_allocation
    if result.capital.unlocked > 0 and result.capital.unlocked < wanted:
        assert "the reserve binds" in capital.detail


def test_a_reserve_larger_than_the_balance_is_one_clear_line(ready: MetricsFile) -> None:
    m = ready
    with pytest.raises(ConfigurationError) as error:
        evaluate_setup(m, ctx(m, total_quote=150.0), CFG)
    assert str(error.value) == (
        "lifecycle.capital.reserve_quote 200.00 is larger than the quote balance 150.00 (test): "
        "no grid could ever be placed"
    )


def test_a_fee_that_makes_every_spacing_unprofitable_is_one_clear_line(ready: MetricsFile) -> None:
    m = ready
    with pytest.raises(ConfigurationError) as error:
        evaluate_setup(m, ctx(m, fee_rate=0.02), CFG)
    message = str(error.value)
    assert message.startswith("grids.fee_rate 2.0000% makes every grid unprofitable")
    assert "lifecycle.setup.max_width_pct 25 %" in message and "\n" not in message


def test_the_settings_load_with_their_documented_defaults() -> None:
    assert load_settings().lifecycle == CFG


@pytest.mark.parametrize(("minutes", "approved"), [(59, True), (60, True), (61, False)])
def test_a_setup_can_be_approved_until_it_expires_an_hour_after_issue(
    ready: MetricsFile, minutes: int, approved: bool
) -> None:
    from market_maker.base.errors import DataError
    from market_maker.decisions.model import SetupDecision, decision_id
    from market_maker.lifecycle.setup_evaluator import grid_from_setup

    result = evaluate_setup(ready, ctx(ready), CFG)
    issued = ready.hour + timedelta(hours=1)
    decision = SetupDecision(
        id=decision_id("ETH-USDT", issued),
        symbol="ETH-USDT",
        hour=ready.hour,
        issued_at=issued,
        expires_at=issued + timedelta(minutes=CFG.setup.expiry_minutes),
        recommendation=result.recommendation,
        mode=result.mode,
        price=ready.price,
        grid=result.grid,
        capital=result.capital,
        gates=result.gates,
        verdict=ready.verdict,
        confidence=ready.confidence,
        reasons=result.reasons,
        checks=result.checks,
        metrics_file="metrics/ETH-USDT/x.yaml",
        config_version="c",
        code_version="v",
    )
    at = issued + timedelta(minutes=minutes)
    if approved:
        assert grid_from_setup(decision, at).running_at(at)
    else:
        with pytest.raises(DataError, match="expired at"):
            grid_from_setup(decision, at)


def a_setup(after_stop: list[MetricsFile]) -> tuple[MetricsFile, Context]:
    """The first hour after the stop whose setup is CREATE_GRID with the defaults."""
    for m in after_stop:
        c = ctx(m)
        if evaluate_setup(m, c, CFG).recommendation == "CREATE_GRID":
            return m, c
    raise AssertionError("no setup after the stop")


def with_setup(**changes: object) -> LifecycleSettings:
    return CFG.model_copy(update={"setup": CFG.setup.model_copy(update=changes)})


def test_with_the_strategy_off_every_hour_is_no_setup_and_says_why_first(
    after_stop: list[MetricsFile],
) -> None:
    m, c = a_setup(after_stop)
    result = evaluate_setup(m, c, with_setup(enabled=False))
    assert result.recommendation == "NO_SETUP" and result.grid is None
    assert result.reasons[0].startswith("strategy: no grid recommended")
    assert "docs/strategy.md" in result.reasons[0]


def test_the_verdicts_a_grid_may_start_under_are_configured(
    after_stop: list[MetricsFile],
) -> None:
    m, c = a_setup(after_stop)
    other = "RANGE_OK" if m.verdict == "RANGE_WEAK" else "RANGE_WEAK"
    result = evaluate_setup(m, c, with_setup(verdicts=[other]))
    assert result.recommendation == "NO_SETUP"
    assert result.reasons == [f"verdict: {m.verdict} (a grid needs {other})"]


def test_a_grid_needs_its_expected_pairs_a_day_at_its_spacing(
    after_stop: list[MetricsFile],
) -> None:
    from market_maker.lifecycle.setup import daily_volatility, expected_pairs

    m, c = a_setup(after_stop)
    grid = evaluate_setup(m, c, CFG).grid
    assert grid is not None
    pairs = expected_pairs(m, grid)
    # By hand: (sqrt(24) x the hour's return volatility / the spacing)^2.
    sigma = m.metrics["normalized_slope"].details["volatility"]
    assert daily_volatility(m) == pytest.approx(24**0.5 * sigma)
    assert pairs == pytest.approx((24**0.5 * sigma / (grid.spacing_pct / 100)) ** 2)
    assert evaluate_setup(m, c, with_setup(min_pairs_per_day=pairs * 0.99)).grid == grid
    refused = evaluate_setup(m, c, with_setup(min_pairs_per_day=pairs * 1.01))
    assert refused.recommendation == "NO_SETUP"
    assert refused.reasons[0].startswith(f"expected_pairs: {pairs:.1f} buy/sell pairs a day")


def test_an_autocorrelation_above_the_ceiling_refuses_the_setup(
    after_stop: list[MetricsFile],
) -> None:
    m, c = a_setup(after_stop)
    value = m.metrics["autocorrelation"].value
    assert evaluate_setup(m, c, with_setup(max_autocorrelation=value)).grid is not None
    refused = evaluate_setup(m, c, with_setup(max_autocorrelation=value - 0.01))
    assert refused.reasons == [
        f"autocorrelation: lag-1 autocorrelation of hourly returns {value:+.2f} "
        f"(at most {value - 0.01:+g})"
    ]


def test_a_margin_widens_the_band_by_daily_volatilities_on_each_side(
    after_stop: list[MetricsFile],
) -> None:
    from market_maker.base.prices import round_price
    from market_maker.lifecycle.setup import daily_volatility

    m, c = a_setup(after_stop)
    wide = evaluate_setup(m, c, with_setup(range_margin=0.5)).grid
    margin = 0.5 * daily_volatility(m)
    assert wide is not None and m.range is not None
    assert wide.lower_price == round_price(m.range.lower * (1 - margin))
    assert wide.upper_price == round_price(m.range.upper * (1 + margin))
