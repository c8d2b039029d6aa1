"""The exit state machine on constructed observations: triggers, persistence, hysteresis."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_maker.config.exit_strategy import ExitStrategySettings
from market_maker.decisions.states import ExitState
from market_maker.exit_strategy.engine import Evaluation, evaluate
from market_maker.exit_strategy.model import EvaluationRecord
from market_maker.exit_strategy.observation import Observation
from market_maker.grids.model import GridConfig, HistoryEntry
from market_maker.regime.model import Verdict

T0 = datetime(2023, 8, 14, tzinfo=UTC)
CFG = ExitStrategySettings()
GRID = GridConfig(
    id="eth-grid-1",
    symbol="ETH-USDT",
    lower_price=1800.0,
    upper_price=1900.0,
    levels=20,
    amount_per_grid=0.01,
    profit_per_grid=0.005,
    history=[HistoryEntry(enabled=T0)],
)
N, W, L, M = (
    ExitState.NORMAL,
    ExitState.WARNING,
    ExitState.LATEST_ACCEPTABLE_EXIT,
    ExitState.MANDATORY_EXIT,
)
CALM = Observation(
    hour=T0,
    grid=GRID,
    price=1850.0,
    verdict=Verdict.RANGE_OK,
    verdict_1h=Verdict.RANGE_OK,
    verdict_4h=Verdict.RANGE_OK,
    previous_verdict=Verdict.RANGE_OK,
    confidence=0.8,
    adx=15.0,
    adx_previous=15.5,
    efficiency_ratio=0.1,
    bandwidth=0.02,
    bandwidth_expansion=1.0,
    normalized_slope=0.2,
    refused=False,
)
# Each WARNING condition on its own, everything else calm.
SINGLE = {
    "adx_rising": {"adx": 30.0, "adx_previous": 27.0},
    "efficiency_high": {"efficiency_ratio": 0.6},
    "bandwidth_expanding": {"bandwidth_expansion": 2.5},
    "price_outer_band": {"price": 1810.0},
    "regime_adverse": {"verdict_1h": Verdict.TRANSITION, "verdict": Verdict.TRANSITION},
    "confirmation_4h_disagrees": {"verdict_4h": Verdict.TREND},
}
# WARNING under a moving market, price in the outer band but not within the edge band.
TRANSITION_LOW = {"verdict": Verdict.TRANSITION, "verdict_1h": Verdict.TRANSITION, "price": 1812.0}
TREND_DOWN_LOW = {
    "verdict": Verdict.TREND,
    "verdict_1h": Verdict.TREND,
    "price": 1812.0,
    "normalized_slope": -1.5,
    "confidence": 0.6,
}
TREND_UP_HIGH = {**TREND_DOWN_LOW, "price": 1888.0, "normalized_slope": 1.5}


def obs(**changes: object) -> Observation:
    return replace(CALM, **changes)


@dataclass
class Machine:
    """Feeds observations hour by hour, keeping the records as the exit-state store would."""

    cfg: ExitStrategySettings = CFG
    state: ExitState = N
    records: list[EvaluationRecord] = field(default_factory=list)  # most recent first
    hour: int = -1

    def step(self, gap: int = 1, **changes: object) -> Evaluation:
        self.hour += gap
        e = evaluate(
            obs(hour=T0 + timedelta(hours=self.hour), **changes), self.state, self.records, self.cfg
        )
        self.records.insert(0, e.record())
        self.state = e.after
        return e

    def run(self, times: int, **changes: object) -> list[Evaluation]:
        return [self.step(**changes) for _ in range(times)]


def met(e: Evaluation) -> set[str]:
    return {c.name for c in e.conditions_met}


@pytest.mark.parametrize("condition", sorted(SINGLE))
def test_one_warning_condition_alone_does_not_escalate(condition: str) -> None:
    e = Machine().step(**SINGLE[condition])
    assert met(e) == {condition}
    assert e.after == N and e.transition is None


@pytest.mark.parametrize(
    "pair",
    [
        ("adx_rising", "efficiency_high"),
        ("bandwidth_expanding", "confirmation_4h_disagrees"),
        ("efficiency_high", "price_outer_band"),
    ],
)
def test_two_independent_conditions_raise_a_warning_with_both_as_reasons(
    pair: tuple[str, str],
) -> None:
    e = Machine().step(**SINGLE[pair[0]], **SINGLE[pair[1]])
    assert e.after == W and e.transition is not None
    assert (e.transition.from_state, e.transition.to_state) == (N, W)
    assert {r.split(":")[0] for r in e.transition.reasons} == set(pair)
    assert e.transition.metrics["adx"] == e.transition.metrics["adx"]  # recorded, not dropped
    assert set(e.transition.metrics) >= {"price", "position_in_grid", "verdict", "adx"}


@pytest.mark.parametrize("price", [1799.0, 1900.5])
def test_price_outside_the_grid_is_a_mandatory_exit_at_once(price: float) -> None:
    e = Machine().step(price=price)
    assert e.after == M and e.before == N
    assert e.transition is not None
    assert e.transition.reasons[0].startswith("price_outside_grid: price")
    assert e.transition.metrics["price"] == price


def test_a_confident_falling_trend_is_a_mandatory_exit_at_once() -> None:
    e = Machine().step(
        **{**TREND_DOWN_LOW, "price": 1850.0, "confidence": CFG.mandatory_exit.trend_confidence}
    )
    assert e.after == M and "strong_trend_against_grid" in met(e)


def test_a_confident_rising_trend_is_not_against_the_grid() -> None:
    e = Machine().step(**{**TREND_UP_HIGH, "price": 1850.0, "confidence": 0.9})
    assert e.after != M and "strong_trend_against_grid" not in met(e)


def test_a_trend_near_an_edge_skips_warning_to_the_latest_acceptable_exit() -> None:
    e = Machine().step(**{**TREND_UP_HIGH, "price": 1895.0})
    assert (e.before, e.after) == (N, L)
    assert "trend_near_edge" in met(e)


def test_the_latest_acceptable_exit_needs_the_warning_to_persist_three_evaluations() -> None:
    m = Machine()
    evaluations = m.run(4, **TRANSITION_LOW)
    assert [e.after for e in evaluations] == [W, W, L, L]
    assert [e.warning_streak for e in evaluations] == [1, 2, 3, 4]
    assert evaluations[2].transition is not None
    assert evaluations[2].transition.reasons[0].startswith("warning_persisted")


def test_a_persisting_warning_in_a_range_regime_stays_a_warning() -> None:
    calm_range = {"verdict": Verdict.RANGE_WEAK, "price": 1812.0, "efficiency_ratio": 0.6}
    assert {e.after for e in Machine().run(10, **calm_range)} == {W}


def test_the_latest_acceptable_exit_persisting_under_a_falling_trend_becomes_mandatory() -> None:
    evaluations = Machine().run(4, **TREND_DOWN_LOW)
    assert [e.after for e in evaluations] == [W, W, L, M]
    assert "latest_persisted" in met(evaluations[3])
    assert "strong_trend_against_grid" not in met(evaluations[3])


@pytest.mark.parametrize(
    "market",
    [TREND_UP_HIGH, {**TREND_DOWN_LOW, "verdict": Verdict.TRANSITION}],
    ids=["rising-trend", "falling-transition"],
)
def test_persistence_alone_is_not_mandatory_outside_a_falling_trend(
    market: dict[str, object],
) -> None:
    evaluations = Machine().run(8, **market)
    assert [e.after for e in evaluations] == [W, W, L, L, L, L, L, L]


def test_stepping_down_takes_one_state_at_a_time_after_the_configured_calm() -> None:
    d = CFG.deescalation
    m = Machine()
    m.step(price=1790.0)
    calm = m.run(d.MANDATORY_EXIT + d.LATEST_ACCEPTABLE_EXIT + d.WARNING + 3)
    states = [e.after for e in calm]

    assert states[: d.MANDATORY_EXIT - 1] == [M] * (d.MANDATORY_EXIT - 1)
    down = [i for i, e in enumerate(calm) if e.transition is not None]
    first = d.MANDATORY_EXIT - 1
    assert down == [
        first,
        first + d.LATEST_ACCEPTABLE_EXIT,
        first + d.LATEST_ACCEPTABLE_EXIT + d.WARNING,
    ]
    assert [(calm[i].before, calm[i].after) for i in down] == [(M, L), (L, W), (W, N)]
    for i in down:
        reason = calm[i].transition.reasons[0]  # type: ignore[union-attr]
        assert reason.startswith(f"calm: {getattr(d, calm[i].before.value)} evaluation(s)")


def test_a_trigger_of_the_current_state_restarts_the_calm_count() -> None:
    need = CFG.deescalation.WARNING
    m = Machine()
    m.step(**SINGLE["efficiency_high"], **SINGLE["bandwidth_expanding"])
    m.run(need - 1)
    again = m.step(**SINGLE["efficiency_high"], **SINGLE["adx_rising"])
    assert again.after == W and again.calm_streak == 0
    assert {e.after for e in m.run(need - 1)} == {W}
    assert m.step().after == N


def test_a_lower_states_trigger_counts_as_calm_for_a_higher_state() -> None:
    need = CFG.deescalation.LATEST_ACCEPTABLE_EXIT
    m = Machine()
    m.step(**{**TREND_UP_HIGH, "price": 1895.0})  # LATEST at once
    warning_only = {**SINGLE["efficiency_high"], **SINGLE["bandwidth_expanding"]}
    evaluations = m.run(need, **warning_only)
    assert [e.after for e in evaluations] == [L] * (need - 1) + [W]


def test_a_missing_hour_breaks_the_warning_streak() -> None:
    m = Machine()
    m.run(2, **TRANSITION_LOW)
    after_gap = m.step(gap=2, **TRANSITION_LOW)
    assert after_gap.warning_streak == 1 and after_gap.after == W
    assert m.step(**TRANSITION_LOW).after == W
    assert m.step(**TRANSITION_LOW).after == L


def test_a_missing_hour_breaks_the_calm_streak() -> None:
    need = CFG.deescalation.WARNING
    m = Machine()
    m.step(**SINGLE["efficiency_high"], **SINGLE["bandwidth_expanding"])
    m.run(need - 1)
    assert m.step(gap=2).after == W  # the state carries over the gap, the count does not
    assert {e.after for e in m.run(need - 2)} == {W}
    assert m.step().after == N


def test_a_refused_analysis_still_sees_price_leaving_the_grid() -> None:
    refused = dict.fromkeys(
        ["verdict", "verdict_1h", "verdict_4h", "confidence", "adx", "efficiency_ratio"]
    )
    quiet = Machine().step(**refused, refused=True, bandwidth_expansion=None)
    assert quiet.after == N
    gone = Machine().step(**refused, refused=True, price=1750.0)
    assert gone.after == M and gone.transition is not None
    assert gone.transition.metrics["verdict"] is None


# -- invariants over random sequences ----------------------------------------------------

verdicts = st.one_of(st.none(), st.sampled_from(list(Verdict)))
random_observation = st.fixed_dictionaries(
    {
        "price": st.one_of(st.floats(1801, 1899), st.floats(1801, 1899), st.floats(1770, 1930)),
        "verdict": verdicts,
        "verdict_1h": verdicts,
        "verdict_4h": verdicts,
        "previous_verdict": verdicts,
        "confidence": st.one_of(st.none(), st.floats(0, 0.95)),
        "adx": st.one_of(st.none(), st.floats(5, 60)),
        "adx_previous": st.one_of(st.none(), st.floats(5, 60)),
        "efficiency_ratio": st.one_of(st.none(), st.floats(0, 1)),
        "bandwidth_expansion": st.one_of(st.none(), st.floats(0.5, 3)),
        "normalized_slope": st.one_of(st.none(), st.floats(-3, 3)),
    }
)
# Long calm or trending stretches too, so that persistence and calm both play a part.
step = st.tuples(
    st.sampled_from([1, 1, 1, 1, 1, 2]),
    st.one_of(
        random_observation,
        st.sampled_from([{}, TRANSITION_LOW, TREND_DOWN_LOW, TREND_UP_HIGH]),
    ),
    st.integers(1, 8),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(step, min_size=1, max_size=25))
def test_the_state_machine_invariants_hold_for_any_sequence(
    steps: list[tuple[int, dict[str, object], int]],
) -> None:
    m = Machine()
    history: list[Evaluation] = []
    for gap, changes, repeat in steps:
        for i in range(repeat):
            e = m.step(gap=gap if i == 0 else 1, **changes)
            check_invariants(e, history)
            history.append(e)


def check_invariants(e: Evaluation, history: list[Evaluation]) -> None:
    o_price = e.transition.metrics["price"] if e.transition else None
    # Escalation is immediate; de-escalation one level at most.
    if e.target.rank > e.before.rank:
        assert e.after == e.target
    assert e.after.rank >= e.before.rank - 1
    if e.after.rank < e.before.rank:
        needed = getattr(CFG.deescalation, e.before.value)
        behind = list(reversed(history))[: needed - 1]
        assert len(behind) == needed - 1
        for back, earlier in enumerate(behind, start=1):
            # Calm evaluations made in the state it leaves, in consecutive hours.
            assert earlier.hour == e.hour - timedelta(hours=back)
            assert earlier.before == earlier.after == e.before
            assert earlier.target.rank < e.before.rank
    # A price outside the grid is always a mandatory exit.
    if any(c.name == "price_outside_grid" and c.met for c in e.mandatory_conditions):
        assert e.after == M
    # A transition is recorded exactly when the state changes, with reasons and figures.
    assert (e.transition is not None) == (e.after != e.before)
    if e.transition is not None:
        assert (e.transition.from_state, e.transition.to_state) == (e.before, e.after)
        assert e.transition.reasons and all(e.transition.reasons)
        assert o_price is not None and "position_in_grid" in e.transition.metrics
    assert e.record().state == e.after


def test_an_adx_line_stops_the_grid_at_once_when_configured_and_never_otherwise() -> None:
    latest = CFG.latest_acceptable_exit.model_copy(update={"adx_above": 25.0})
    with_line = CFG.model_copy(update={"latest_acceptable_exit": latest})
    assert Machine(with_line).step(adx=25.0).after == N  # at the line: not above it
    e = Machine(with_line).step(adx=25.1)
    assert e.after == ExitState.LATEST_ACCEPTABLE_EXIT and "adx_high" in met(e)
    assert [c.reason for c in e.conditions_met if c.name == "adx_high"] == [
        "ADX 25.1 (above 25 stops the grid)"
    ]
    assert "adx_high" not in met(Machine().step(adx=60.0))  # off by default
