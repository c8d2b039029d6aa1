"""The exit-signal study: the break-risk fit, the classification of signals and breaks."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.main import main
from market_maker.alerts.policy import priority
from market_maker.backtest.break_fit import HORIZON, Samples, fit, samples
from market_maker.backtest.exit_signals import PRIORITY, count_alerts, study, tables
from market_maker.backtest.feed import Feed
from market_maker.backtest.parameters import parse_parameters
from market_maker.backtest.run import run_backtest
from market_maker.base.candles import CandleSeries
from market_maker.config import Settings
from market_maker.config.models import NotificationSettings, RateLimits
from market_maker.exit_strategy.break_risk import FEATURES
from market_maker.kpis.compute import kpis
from market_maker.kpis.model import Kpi
from tests.conftest import SAMPLE_FILE

START = datetime(2023, 7, 3, tzinfo=UTC)
END = datetime(2023, 8, 31, tzinfo=UTC)
VALUES = {"start": START, "end": END, "half_width_pct": 3.0, "cadence_hours": 72}


def test_labels_are_the_next_day_of_closes_and_never_read_past_the_period(
    sample_minutes: CandleSeries, default_settings: Settings
) -> None:
    p = parse_parameters(VALUES)
    feed = Feed.build("ETH-USDT", sample_minutes, START, END, default_settings.regime)
    data = samples(feed, p)
    assert data.x.shape == (len(data.y), len(FEATURES)) and len(data.y) > 500
    assert 0 < data.y.mean() < 1  # the sample has both: grids that broke, hours that held
    assert np.isfinite(data.x).all()
    # Cut the period: the hours it keeps are labelled as in the long run (the same grids,
    # the same closes), and the hours whose horizon would cross the cut are dropped, not
    # guessed from a shorter future.
    cut = datetime(2023, 8, 1, tzinfo=UTC)
    shorter = samples(
        Feed.build("ETH-USDT", sample_minutes, START, cut, default_settings.regime),
        p.model_copy(update={"end": cut}),
    )
    n = len(shorter.y)
    assert 0 < n < len(data.y)
    assert np.array_equal(shorter.y, data.y[:n]) and np.allclose(shorter.x, data.x[:n])
    hours = (cut - START).total_seconds() / 3600
    assert n <= hours - HORIZON


@settings(max_examples=20, deadline=None)
@given(
    st.tuples(
        st.floats(-1, 1),
        st.floats(-2, -0.5),
        st.floats(-0.5, 0.5),
        st.floats(-1, 1),
        st.floats(-0.5, 0.5),
    ),
    st.integers(0, 2**31 - 1),
)
def test_the_fit_recovers_the_coefficients_it_was_drawn_from(
    true: tuple[float, ...], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    n = 20_000
    x = np.column_stack(
        [
            np.log(rng.uniform(0.05, 10, n)),
            rng.normal(0, 1.5, n),
            rng.uniform(0, 1, n),
            np.log(rng.uniform(0.5, 3, n)),
        ]
    )
    z = true[0] + x @ np.array(true[1:])
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(float)
    got = fit(Samples(x, y))
    fitted = np.array([got.coefficients["intercept"], *(got.coefficients[f] for f in FEATURES)])
    # Within 5 standard errors of the fit (from its Fisher information): a fixed tolerance
    # fails by chance on draws whose features carry little information.
    design = np.column_stack([np.ones(n), x])
    p = 1 / (1 + np.exp(-(design @ fitted)))
    covariance = np.linalg.inv(design.T @ (design * (p * (1 - p))[:, None]))
    assert np.all(np.abs(fitted - np.array(true)) < 5 * np.sqrt(np.diag(covariance)) + 0.01)
    assert got.samples == n and 0 < got.base_rate < 1


def test_the_study_classifies_exactly_the_kpis_signals_and_breaks(
    sample_minutes: CandleSeries, default_settings: Settings
) -> None:
    run = run_backtest(parse_parameters(VALUES), default_settings, sample_minutes)
    result = study(run)
    events = run.variants["system"].events
    judged = Counter(
        e.outcome
        for e in events
        if e.kind == "exit_signal" and e.outcome in ("false_exit", "true_exit")
    )
    assert Counter(s.outcome for s in result.signals) == judged
    assert Counter(b.outcome for b in result.breaks) == Counter(
        e.outcome for e in events if e.kind == "break"
    )
    assert result.breaks, "the sample's grids of ±3 % break"
    for s in result.signals:
        assert s.conditions and s.driver != "none" and s.distance is not None
    for b in result.breaks:
        assert (b.lead is None) == (b.outcome == "missed")
        assert b.outcome != "warned" or (b.lead is not None and b.lead > 2)
    # Every classification counts every case once (conditions: at least once).
    for title, (_, rows) in tables([result]).items():
        total = sum(int(r[-2]) for r in rows)
        n = len(result.signals) if title.startswith("exit signals") else len(result.breaks)
        assert total >= n if "(each)" in title else total == n
    # The same events the KPIs count: false exits are FER's numerator, warned breaks EAW's.
    table = kpis(events, START, END)
    assert table[Kpi.FER].numerator == sum(s.outcome == "false_exit" for s in result.signals)
    assert table[Kpi.EAW].numerator == sum(b.outcome == "warned" for b in result.breaks)


def test_alerts_follow_the_live_rate_limits(
    sample_minutes: CandleSeries, default_settings: Settings
) -> None:
    run = run_backtest(parse_parameters(VALUES), default_settings, sample_minutes)
    settings = NotificationSettings()
    alerts = count_alerts(run, settings)
    # An escalation to a state not alerted within its rate limit notifies at once.
    first = Counter()
    for t in run.tracks:
        seen: set[str] = set()
        for e in t.evaluations:
            if e.after.rank > e.before.rank and e.after.value not in seen:
                first[PRIORITY[e.after]] += 1
            seen.add(e.after.value)
    for p, n in first.items():
        assert alerts[p] >= n
    # Without rate limits worth the name, every hour in a state above NORMAL alerts (a
    # WARNING that held since the hour before quietly), and every ease back to NORMAL.
    tiny = RateLimits(WARNING=1e-9, LATEST_ACCEPTABLE_EXIT=1e-9, MANDATORY_EXIT=1e-9)
    every_hour = count_alerts(run, settings.model_copy(update={"rate_limit_hours": tiny}))
    above = Counter(
        priority(e.before, e.after, settings)
        for t in run.tracks
        for e in t.evaluations
        if e.after.rank or e.before.rank
    )
    assert every_hour == above
    assert above[-1] > 0  # some WARNINGs held: their repeats are quiet


@pytest.mark.parametrize(
    ("data", "out", "says"),
    [
        ("missing.csv.gz", "page.md", "missing.csv.gz does not exist"),
        (None, "nowhere/page.md", "--out: folder"),
    ],
)
def test_the_study_command_fails_in_one_line_before_running_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture, data: str | None, out: str, says: str
) -> None:
    data_file = str(tmp_path / data) if data else str(SAMPLE_FILE)
    code = main(["exit-signal-study", "--data-file", data_file, "--out", str(tmp_path / out)])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert says in err and len(err.splitlines()) == 1
    assert not list(tmp_path.rglob("*.md"))
