"""Refusal, the confirmation rules, and confidence: capped, floored, every penalty explained."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market_maker.base.candles import CandleSeries, Interval
from market_maker.base.timeutil import HOUR
from market_maker.config.regime import RegimeSettings
from market_maker.regime import classifier
from market_maker.regime.analysis import Frames, analyze_frames
from market_maker.regime.classifier import (
    EFFECTS,
    MISSING,
    RANGE_OK,
    RANGE_WEAK,
    REFUSED,
    TRANSITION,
    TREND,
)
from market_maker.regime.model import MetricRecord, MetricsFile, PenaltyRecord
from market_maker.snapshots.model import GridStatusRecord
from tests.regime.helpers import SYMBOL, Recording, hours, record, records, utc

JULY = (utc(2023, 7, 1), utc(2023, 7, 31, 23))
LOOKBACK = 40  # extra hours analysed before July, to recount each hour's regime age
QUIET_HOUR = utc(2023, 7, 20, 12)  # RANGE_OK, held for days, no penalty of its own


def analyse(
    recording: Recording,
    cfg: RegimeSettings,
    target: datetime,
    *,
    bars_1h: int | None = None,
    h4: CandleSeries | None = None,
    grid: GridStatusRecord | None = None,
) -> MetricsFile:
    """The hour over the recording, its 1h history cut to ``bars_1h`` bars if given."""
    h1 = recording.h1.closed_by(target + HOUR)
    if bars_1h is not None:
        h1 = h1.last(bars_1h)
    frames = Frames(h1, recording.h4.closed_by(target + HOUR) if h4 is None else h4)
    grids = {target: grid} if grid else None
    return record(analyze_frames(SYMBOL, frames, [target], cfg, grids), 0)


def names(metrics: MetricsFile) -> list[str]:
    return [p.name for p in metrics.penalties]


def penalty(metrics: MetricsFile, name: str) -> PenaltyRecord:
    found = [p for p in metrics.penalties if p.name == name]
    assert len(found) == 1, f"{name} not in {names(metrics)}"
    return found[0]


@pytest.fixture(scope="module")
def july(recording: Recording, regime_settings: RegimeSettings) -> list[MetricsFile]:
    """Every hour of July 2023, preceded by LOOKBACK hours of June."""
    span = hours(JULY[0] - LOOKBACK * HOUR, JULY[1])
    return records(analyze_frames(SYMBOL, recording.frames, span, regime_settings))


# -- refusal --------------------------------------------------------------------------------


def test_with_only_three_computable_metrics_the_analysis_refuses(
    recording: Recording, regime_settings: RegimeSettings
) -> None:
    # 72 bars: efficiency ratio (21), slope (48) and bandwidth (26) only; ADX needs 150,
    # autocorrelation 73, the OU fit 169.
    refused = analyse(recording, regime_settings, QUIET_HOUR, bars_1h=72)
    assert refused.status == "INSUFFICIENT_METRICS"
    assert refused.metrics_computable == 3
    assert refused.verdict is None and refused.verdict_1h is None
    assert refused.confidence is None and refused.confidence_base is None
    assert refused.penalties == []
    assert refused.metrics["adx"].error == "needs 150 bars, has 72"
    assert refused.metrics["adx"].value is None and refused.metrics["adx"].vote is None
    assert refused.metrics["autocorrelation"].error == "needs 73 bars, has 72"


def test_with_four_computable_metrics_the_analysis_decides_and_pays_for_the_missing_two(
    recording: Recording, regime_settings: RegimeSettings
) -> None:
    decided = analyse(recording, regime_settings, QUIET_HOUR, bars_1h=73)
    assert decided.status == "OK"
    assert decided.metrics_computable == 4
    assert decided.verdict is not None and decided.confidence is not None
    missing = penalty(decided, "missing_metrics")
    assert missing.amount == pytest.approx(2 * regime_settings.confidence.missing_metric_penalty)
    assert "adx" in missing.reason and "ou_half_life" in missing.reason


def test_without_any_4h_candle_the_verdict_stands_unconfirmed_and_costs_confidence(
    recording: Recording, regime_settings: RegimeSettings
) -> None:
    lone = analyse(
        recording, regime_settings, QUIET_HOUR, h4=CandleSeries.empty(Interval.FOUR_HOURS)
    )
    assert lone.confirmation_4h.verdict is None
    assert lone.confirmation_4h.metrics_computable == 0
    assert lone.confirmation_4h.effect == EFFECTS[3]
    assert lone.verdict == lone.verdict_1h
    no_4h = penalty(lone, "no_confirmation")
    assert no_4h.amount == regime_settings.confidence.no_confirmation_penalty
    assert "4h" in no_4h.reason


# -- votes, classification and confirmation ---------------------------------------------------


def expected_vote(name: str, m: MetricRecord) -> str:
    """The vote the file's own params give the value (the bandwidth also weighs expansion)."""
    assert m.value is not None
    p = m.params
    if name == "bollinger_bandwidth":
        expansion = m.details["expansion"]
        if m.value > p["max_tradable"] or expansion > p["expansion_trend_above"]:
            return "trend"
        tradable = p["min_tradable"] <= m.value <= p["max_tradable"]
        return "range" if tradable and expansion < p["expansion_range_below"] else "neutral"
    value = abs(m.value) if name == "normalized_slope" else m.value
    if value > p["trend_above"]:
        return "trend"
    return "range" if value < p["range_below"] else "neutral"


def test_each_vote_follows_its_metrics_thresholds(
    july: list[MetricsFile], regime_settings: RegimeSettings
) -> None:
    seen: Counter[str] = Counter()
    for m in july:
        for name, metric in [*m.metrics.items(), *m.confirmation_4h.metrics.items()]:
            assert metric.vote == expected_vote(name, metric), (m.hour, name, metric)
            seen[metric.vote] += 1
    assert set(seen) == {"range", "neutral", "trend"}
    adx = july[-1].metrics["adx"].params
    assert (adx["range_below"], adx["trend_above"]) == (
        regime_settings.timeframes["1h"].adx.range_below,
        regime_settings.timeframes["1h"].adx.trend_above,
    )


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (1.0, TREND),
        (0.5, TREND),
        (0.49, TRANSITION),
        (0.15, TRANSITION),
        (0.14, RANGE_WEAK),
        (-0.34, RANGE_WEAK),
        (-0.35, RANGE_OK),
        (-1.0, RANGE_OK),
    ],
)
def test_the_score_thresholds_give_the_four_verdicts(
    regime_settings: RegimeSettings, score: float, expected: int
) -> None:
    code = classifier.classify(
        np.array([score]), np.array([6]), np.array([6.0]), regime_settings.classification
    )
    assert code.tolist() == [expected]


def test_fewer_than_four_computable_metrics_classify_as_refused(
    regime_settings: RegimeSettings,
) -> None:
    code = classifier.classify(
        np.array([0.9, 0.9]), np.array([3, 4]), np.array([3.0, 4.0]), regime_settings.classification
    )
    assert code.tolist() == [REFUSED, TREND]


@pytest.mark.parametrize(
    ("code_1h", "code_4h", "final", "effect"),
    [
        (RANGE_OK, TRANSITION, TRANSITION, 1),
        (RANGE_OK, TREND, TRANSITION, 1),
        (RANGE_WEAK, TRANSITION, TRANSITION, 1),
        (RANGE_WEAK, TREND, TRANSITION, 1),
        (RANGE_OK, RANGE_WEAK, RANGE_OK, 0),
        (RANGE_WEAK, RANGE_OK, RANGE_WEAK, 0),
        (TRANSITION, TREND, TREND, 2),
        (TRANSITION, TRANSITION, TRANSITION, 0),
        (TRANSITION, RANGE_OK, TRANSITION, 0),
        (TREND, RANGE_OK, TREND, 0),
        (TREND, RANGE_WEAK, TREND, 0),
        (TREND, TRANSITION, TREND, 0),
        (TREND, REFUSED, TREND, 3),
        (RANGE_OK, REFUSED, RANGE_OK, 3),
        (REFUSED, TREND, REFUSED, 0),
        (MISSING, TREND, MISSING, 0),
    ],
)
def test_the_4h_confirmation_rules(code_1h: int, code_4h: int, final: int, effect: int) -> None:
    got_final, got_effect = classifier.confirm(np.array([code_1h]), np.array([code_4h]))
    assert (got_final.tolist(), got_effect.tolist()) == ([final], [effect])


def test_the_confirmation_never_softens_a_verdict_and_never_softens_a_1h_trend() -> None:
    codes_1h, codes_4h = np.meshgrid(np.arange(-2, 4), np.arange(-2, 4))
    final, _ = classifier.confirm(codes_1h.ravel(), codes_4h.ravel())
    assert (final >= codes_1h.ravel()).all()
    assert (final[codes_1h.ravel() == TREND] == TREND).all()


# -- confidence and its penalties over July 2023 ---------------------------------------------


def test_confidence_stays_between_the_floor_and_095_and_is_the_base_less_the_penalties(
    july: list[MetricsFile], regime_settings: RegimeSettings
) -> None:
    cfg = regime_settings.confidence
    for m in july[LOOKBACK:]:
        assert m.confidence is not None and m.confidence_base is not None
        assert cfg.floor <= m.confidence <= 0.95
        expected = min(cfg.cap, m.confidence_base) - sum(p.amount for p in m.penalties)
        assert m.confidence == pytest.approx(max(cfg.floor, min(cfg.cap, expected)), abs=2e-4)


def test_base_confidence_is_the_share_of_votes_supporting_the_verdict(
    july: list[MetricsFile],
) -> None:
    for m in july[LOOKBACK:]:
        wanted = "range" if m.verdict in ("RANGE_OK", "RANGE_WEAK") else "trend"
        votes = [r.vote for r in m.metrics.values() if r.error is None]
        share = (votes.count(wanted) + 0.5 * votes.count("neutral")) / len(votes)
        assert m.confidence_base == pytest.approx(share, abs=1e-4), m.hour


def test_a_regime_younger_than_36_hours_pays_a_short_history_penalty_shrinking_with_age(
    july: list[MetricsFile], regime_settings: RegimeSettings
) -> None:
    cfg = regime_settings.confidence
    families = [m.verdict.family if m.verdict else None for m in july]
    young = 0
    for i in range(LOOKBACK, len(july)):
        m, age = july[i], 0
        while age < 36 and families[i - age - 1] == families[i]:
            age += 1
        assert m.history.hours_in_regime == age + 1, m.hour
        if age < cfg.short_history_hours:
            young += 1
            short = penalty(m, "short_history")
            assert short.amount == pytest.approx(
                cfg.short_history_penalty * (36 - age) / 36, abs=1e-4
            )
            assert f"held {age} h" in short.reason
        else:
            assert "short_history" not in names(m)
    assert 0 < young < len(july) - LOOKBACK


def test_a_4h_verdict_of_another_family_costs_confidence_as_a_disagreement(
    july: list[MetricsFile], regime_settings: RegimeSettings
) -> None:
    disagreements = 0
    for m in july[LOOKBACK:]:
        confirmation = m.confirmation_4h.verdict
        assert m.verdict is not None and confirmation is not None
        if confirmation.family != m.verdict.family:
            disagreements += 1
            assert penalty(m, "confirmation_disagrees").amount == (
                regime_settings.confidence.disagreement_penalty
            )
        else:
            assert "confirmation_disagrees" not in names(m)
        assert "no_confirmation" not in names(m)
    assert disagreements > 0


CONFIDENCE_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@CONFIDENCE_SETTINGS
@given(
    data=st.data(),
    low=st.floats(0.7, 1.2),
    width=st.floats(0.001, 0.5),
    levels=st.integers(2, 400),
    age_hours=st.integers(-10, 200),
)
def test_confidence_never_exceeds_095_nor_falls_below_the_floor_on_any_real_hour(
    recording: Recording,
    regime_settings: RegimeSettings,
    data: st.DataObject,
    low: float,
    width: float,
    levels: int,
    age_hours: int,
) -> None:
    i = data.draw(st.integers(1200, len(recording.h1) - 1), label="hour index")
    target = recording.hour_at(i)
    price = float(recording.h1.close[i])
    grid = GridStatusRecord(
        grid_id="g",
        running=True,
        lower_price=price * low,
        upper_price=price * (low + width),
        levels=levels,
        running_since=target - age_hours * HOUR,
    )
    span = hours(target - 30 * HOUR, target)
    batch = analyze_frames(SYMBOL, recording.frames, span, regime_settings, {target: grid})
    floor = regime_settings.confidence.floor
    for m in records(batch):
        assert m.confidence is not None
        assert floor <= m.confidence <= 0.95, m


# -- grid penalties ---------------------------------------------------------------------------


def a_grid(price: float, *, low: float, high: float, levels: int, age: int) -> GridStatusRecord:
    return GridStatusRecord(
        grid_id="eth-grid-1",
        running=True,
        lower_price=round(price * low, 2),
        upper_price=round(price * high, 2),
        levels=levels,
        running_since=QUIET_HOUR - age * HOUR,
    )


# (low, high) as multiples of the price; levels chosen against the hourly volatility (~0.3 %).
GRID_CASES = {
    "well_placed": ((0.97, 1.03), 21, 72, {}),
    "price_outside_grid": ((1.01, 1.07), 21, 72, {"price_outside_grid": 0.25}),
    # price at 5 % of the grid: 0.10 deep into the 15 % outer band -> 0.10 * 0.10 / 0.15
    "price_in_outer_band": ((0.997, 1.057), 21, 72, {"price_in_outer_band": 0.0667}),
    "young_grid": ((0.97, 1.03), 21, 6, {"young_grid": 0.0375}),
    "spacing_too_wide": ((0.97, 1.03), 2, 72, {"grid_spacing": 0.05}),
    "spacing_too_tight": ((0.97, 1.03), 400, 72, {"grid_spacing": 0.05}),
}


@pytest.mark.parametrize("case", list(GRID_CASES))
def test_a_running_grid_adds_its_penalties_by_name_amount_and_reason(
    recording: Recording, regime_settings: RegimeSettings, case: str
) -> None:
    (low, high), levels, age, expected = GRID_CASES[case]
    alone = analyse(recording, regime_settings, QUIET_HOUR)
    assert alone.penalties == [] and alone.confidence is not None
    grid = a_grid(alone.price, low=low, high=high, levels=levels, age=age)

    with_grid = analyse(recording, regime_settings, QUIET_HOUR, grid=grid)

    assert with_grid.grid == grid
    got = {p.name: p.amount for p in with_grid.penalties}
    assert got == pytest.approx(expected, abs=1e-4)
    assert all(p.reason for p in with_grid.penalties)
    assert with_grid.confidence == pytest.approx(
        alone.confidence - sum(expected.values()), abs=1e-4
    )


def test_a_stopped_grid_costs_nothing(
    recording: Recording, regime_settings: RegimeSettings
) -> None:
    alone = analyse(recording, regime_settings, QUIET_HOUR)
    grid = a_grid(alone.price, low=1.01, high=1.07, levels=2, age=1)
    stopped = analyse(
        recording, regime_settings, QUIET_HOUR, grid=grid.model_copy(update={"running": False})
    )
    assert stopped.penalties == [] and stopped.confidence == alone.confidence


def test_the_penalty_reasons_name_the_numbers_that_triggered_them(
    recording: Recording, regime_settings: RegimeSettings
) -> None:
    price = analyse(recording, regime_settings, QUIET_HOUR).price
    grid = a_grid(price, low=1.01, high=1.07, levels=2, age=6)
    reasons = {
        p.name: p.reason
        for p in analyse(recording, regime_settings, QUIET_HOUR, grid=grid).penalties
    }
    assert f"{price:g}" in reasons["price_outside_grid"]
    assert "6 h" in reasons["young_grid"]
    assert "hourly volatility" in reasons["grid_spacing"]
