"""The restart gates: strictly in order, passed gates stay passed, TREND resets them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from market_maker.config.lifecycle import GateSettings
from market_maker.lifecycle.restart_gates import GateInputs, step
from market_maker.regime.gate_records import GATES, Gate, GateEvaluation

CFG = GateSettings()
STOP = datetime(2023, 8, 17, 2, 10, tzinfo=UTC)
H0 = datetime(2023, 8, 17, 3, tzinfo=UTC)


def inputs(k: int, **values: float | str | None) -> GateInputs:
    calm = {
        "verdict": "RANGE_WEAK",
        "adx": 20.0,
        "adx_previous": 21.0,
        "normalized_slope": 0.3,
        "ou_half_life": 30.0,
        "autocorrelation": -0.1,
        "bollinger_bandwidth": 0.02,
    }
    return GateInputs(hour=H0 + timedelta(hours=k), **{**calm, **values})


def test_a_trending_market_passes_no_gate() -> None:
    g = step(None, STOP, inputs(0, verdict="TREND", adx=45.0), CFG)
    assert [g.record(x).status for x in GATES] == ["not_evaluated"] * 3
    assert not g.all_passed and g.next_gate is Gate.ENERGY_DECAY


def test_gates_pass_one_by_one_and_the_later_ones_wait_for_the_earlier() -> None:
    g = step(None, STOP, inputs(0, adx=27.0), CFG)  # still above the trend line
    assert [g.record(x).status for x in GATES] == ["pending", "not_evaluated", "not_evaluated"]
    g = step(g, STOP, inputs(1, autocorrelation=0.2), CFG)  # energy gone, still persistent
    assert [g.record(x).status for x in GATES] == ["passed", "pending", "not_evaluated"]
    assert g.energy_decay.at == H0 + timedelta(hours=1)
    g = step(g, STOP, inputs(2, adx=29.0, bollinger_bandwidth=0.06), CFG)  # gate 1 stays passed
    assert [g.record(x).status for x in GATES] == ["passed", "passed", "pending"]
    g = step(g, STOP, inputs(3), CFG)
    assert g.all_passed and g.tradable_volatility.at == H0 + timedelta(hours=3)
    assert "bandwidth 2.00 %" in (g.tradable_volatility.reason or "")


def test_trend_resets_every_gate_and_says_so() -> None:
    g = step(None, STOP, inputs(0), CFG)
    assert g.all_passed
    g = step(g, STOP, inputs(1, verdict="TREND"), CFG)
    assert [g.record(x).status for x in GATES] == ["not_evaluated"] * 3
    assert g.reset and "TREND" in g.reset


def test_a_new_stop_starts_the_gates_again() -> None:
    g = step(None, STOP, inputs(0), CFG)
    later = STOP + timedelta(days=3)
    assert step(g, later, inputs(1, adx=40.0), CFG).energy_decay.status == "pending"


STATUS = {"passed": 2, "pending": 1, "not_evaluated": 0}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "verdict": st.sampled_from(["RANGE_OK", "RANGE_WEAK", "TRANSITION", "TREND"]),
                "adx": st.one_of(st.none(), st.floats(5, 60)),
                "adx_previous": st.one_of(st.none(), st.floats(5, 60)),
                "normalized_slope": st.one_of(st.none(), st.floats(-3, 3)),
                "ou_half_life": st.one_of(st.none(), st.floats(1, 500)),
                "autocorrelation": st.one_of(st.none(), st.floats(-0.5, 0.5)),
                "bollinger_bandwidth": st.one_of(st.none(), st.floats(0.001, 0.2)),
            }
        ),
        min_size=1,
        max_size=40,
    )
)
def test_gates_keep_their_order_and_reset_on_trend(hours: list[dict]) -> None:
    g: GateEvaluation | None = None
    for k, values in enumerate(hours):
        before = g
        g = step(g, STOP, inputs(k, **values), CFG)
        ranks = [STATUS[g.record(x).status] for x in GATES]
        # Ordered: a gate is never further along than the one before it, and a gate after a
        # gate that has not passed is not evaluated at all.
        for a, b in pairwise(ranks):
            assert b <= a and (a == 2 or b == 0)
        if values["verdict"] == "TREND":
            assert ranks == [0, 0, 0]
            continue
        if before is not None:
            for x in GATES:  # passed gates stay passed, with the hour they passed
                if before.record(x).status == "passed":
                    assert g.record(x) == before.record(x)
        for x in GATES:
            record = g.record(x)
            assert (record.status == "passed") == (record.at is not None)
            if record.status == "passed" and (
                before is None or before.record(x).status != "passed"
            ):
                assert record.at == inputs(k).hour
