"""The SQLite regime index, derived from metrics files: queries, refresh, delete and rebuild."""

from __future__ import annotations

import shutil
from itertools import groupby, pairwise
from pathlib import Path

import pytest

from market_maker.base.timeutil import HOUR, format_utc, parse_utc
from market_maker.config.regime import RegimeSettings
from market_maker.regime import files
from market_maker.regime.analysis import Frames, analyze_frames
from market_maker.regime.index import Period, RefreshStats, RegimeIndex, Transition
from market_maker.regime.model import MetricsFile, Verdict, metrics_relpath
from tests.regime.helpers import SYMBOL, Recording, hours, record, records, utc

START, END = utc(2023, 7, 8), utc(2023, 7, 18, 23)


@pytest.fixture(scope="module")
def analysed(recording: Recording, regime_settings: RegimeSettings) -> list[MetricsFile]:
    return records(analyze_frames(SYMBOL, recording.frames, hours(START, END), regime_settings))


@pytest.fixture(scope="module")
def written(analysed: list[MetricsFile], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("metrics-files")
    for m in analysed:
        files.write(root, m)
    return root


@pytest.fixture
def data_root(written: Path, tmp_path: Path) -> Path:
    """A private copy of the metrics files: tests change them."""
    root = tmp_path / "data"
    shutil.copytree(written, root)
    return root


@pytest.fixture
def index(data_root: Path) -> RegimeIndex:
    idx = RegimeIndex(data_root / ".state" / "regime-index.sqlite", data_root)
    idx.refresh()
    return idx


def runs(metrics: list[MetricsFile]) -> list[Period]:
    """The expected periods: consecutive hours with one verdict (refused hours end a run)."""
    out: list[Period] = []
    run: list[MetricsFile] = []
    for m in [*metrics, None]:
        if run and (m is None or m.verdict != run[-1].verdict or m.hour - run[-1].hour != HOUR):
            if run[0].verdict is not None:
                conf = [r.confidence for r in run if r.confidence is not None]
                out.append(
                    Period(
                        str(run[0].verdict),
                        format_utc(run[0].hour),
                        format_utc(run[-1].hour),
                        len(run),
                        round(sum(conf) / len(conf), 4),
                    )
                )
            run = []
        if m is not None:
            run.append(m)
    return out


def test_periods_are_runs_of_consecutive_hours_with_one_verdict(
    index: RegimeIndex, analysed: list[MetricsFile]
) -> None:
    periods = index.periods(SYMBOL)
    assert periods == runs(analysed)
    assert sum(p.hours for p in periods) == len(analysed) == index.count(SYMBOL)
    assert len(periods) == len([k for k, _ in groupby(m.verdict for m in analysed)])
    trend = index.periods(SYMBOL, verdict="TREND")
    assert trend == [p for p in periods if p.verdict == "TREND"] and trend


def test_periods_within_a_time_range_are_clipped_to_it(
    index: RegimeIndex, analysed: list[MetricsFile]
) -> None:
    start, end = utc(2023, 7, 13, 5), utc(2023, 7, 15, 17)
    inside = [m for m in analysed if start <= m.hour <= end]
    assert index.periods(SYMBOL, start=start, end=end) == runs(inside)


def longest_period_hours(analysed: list[MetricsFile]) -> list[MetricsFile]:
    best: list[MetricsFile] = []
    for _, group in groupby(analysed, key=lambda m: m.verdict):
        run = list(group)
        best = run if len(run) > len(best) else best
    return best


@pytest.mark.parametrize("gap", ["missing", "refused"])
def test_a_missing_or_refused_hour_splits_a_period(
    index: RegimeIndex,
    analysed: list[MetricsFile],
    data_root: Path,
    recording: Recording,
    regime_settings: RegimeSettings,
    gap: str,
) -> None:
    run = longest_period_hours(analysed)
    assert len(run) >= 5
    middle = run[len(run) // 2]
    path = data_root / metrics_relpath(SYMBOL, middle.hour)
    if gap == "missing":
        path.unlink()
    else:
        too_short = Frames(recording.h1.closed_by(middle.hour + HOUR).last(30), recording.h4)
        refused = record(analyze_frames(SYMBOL, too_short, [middle.hour], regime_settings), 0)
        assert refused.status == "INSUFFICIENT_METRICS"
        files.write(data_root, refused, overwrite=True)

    stats = index.refresh()

    assert (stats.read, stats.removed) == ((0, 1) if gap == "missing" else (1, 0))
    verdict = str(middle.verdict)
    periods = [
        p
        for p in index.periods(SYMBOL, verdict)
        if run[0].hour <= parse_utc(p.start) <= run[-1].hour
    ]
    assert [(p.start, p.end) for p in periods] == [
        (format_utc(run[0].hour), format_utc(middle.hour - HOUR)),
        (format_utc(middle.hour + HOUR), format_utc(run[-1].hour)),
    ]


def test_transitions_list_each_verdict_change_and_filter_by_from_and_to(
    index: RegimeIndex, analysed: list[MetricsFile]
) -> None:
    expected = [
        Transition(format_utc(b.hour), str(a.verdict), str(b.verdict), b.confidence)
        for a, b in pairwise(analysed)
        if a.verdict != b.verdict
    ]
    assert index.transitions(SYMBOL) == expected and expected
    into_trend = index.transitions(SYMBOL, to_verdict="TREND")
    assert into_trend == [t for t in expected if t.to_verdict == "TREND"] and into_trend
    out_of_ok = index.transitions(SYMBOL, from_verdict="RANGE_OK")
    assert out_of_ok == [t for t in expected if t.from_verdict == "RANGE_OK"] and out_of_ok
    both = index.transitions(SYMBOL, from_verdict="RANGE_OK", to_verdict="RANGE_WEAK")
    assert both == [t for t in out_of_ok if t.to_verdict == "RANGE_WEAK"]


def test_the_confidence_distribution_counts_hours_per_tenth(
    index: RegimeIndex, analysed: list[MetricsFile]
) -> None:
    rows = index.confidence_distribution(SYMBOL)
    assert [(row["low"], row["high"]) for row in rows] == [
        (i / 10, (i + 1) / 10) for i in range(10)
    ]
    for row in rows:  # bins are [low, high); 0.95 and above fall in the last one
        inside = [m for m in analysed if row["low"] <= m.confidence < row["high"]]  # type: ignore[operator]
        assert row["hours"] == len(inside), row
    assert sum(row["hours"] for row in rows) == len(analysed)
    weak = index.confidence_distribution(SYMBOL, verdict="RANGE_WEAK")
    assert sum(row["hours"] for row in weak) == sum(m.verdict == "RANGE_WEAK" for m in analysed)


def test_the_verdict_at_an_hour_is_its_metrics_files_verdict(
    index: RegimeIndex, analysed: list[MetricsFile]
) -> None:
    for m in analysed[::17]:
        row = index.verdict_at(SYMBOL, m.hour)
        assert row is not None
        assert (row.hour, row.verdict, row.verdict_1h, row.verdict_4h) == (
            format_utc(m.hour),
            m.verdict,
            m.verdict_1h,
            m.confirmation_4h.verdict,
        )
        assert (row.confidence, row.score, row.price) == (m.confidence, m.score, m.price)
        assert row.path == metrics_relpath(SYMBOL, m.hour).as_posix()
    assert index.verdict_at(SYMBOL, END + HOUR) is None


def test_refresh_reads_only_new_or_changed_files_and_drops_rows_of_deleted_ones(
    data_root: Path, analysed: list[MetricsFile]
) -> None:
    index = RegimeIndex(data_root / "index.sqlite", data_root)
    keep, late = analysed[:-1], analysed[-1]
    (data_root / metrics_relpath(SYMBOL, late.hour)).unlink()
    assert (index.refresh().read, index.count(SYMBOL)) == (len(keep), len(keep))
    assert index.refresh() == RefreshStats(read=0, removed=0, unchanged=len(keep))

    files.write(data_root, late)  # a new hour
    changed = keep[3].model_copy(update={"verdict": Verdict.TREND, "code_version": "other-code"})
    files.write(data_root, changed, overwrite=True)
    (data_root / metrics_relpath(SYMBOL, keep[5].hour)).unlink()

    stats = index.refresh()

    assert (stats.read, stats.removed, stats.unchanged) == (2, 1, len(keep) - 2)
    assert index.count(SYMBOL) == len(analysed) - 1
    assert index.verdict_at(SYMBOL, keep[3].hour).verdict == "TREND"  # type: ignore[union-attr]
    assert index.verdict_at(SYMBOL, keep[5].hour) is None
    assert index.verdict_at(SYMBOL, late.hour) is not None


def answers(index: RegimeIndex, analysed: list[MetricsFile]) -> tuple[object, ...]:
    return (
        index.periods(SYMBOL),
        index.transitions(SYMBOL),
        index.confidence_distribution(SYMBOL),
        [index.verdict_at(SYMBOL, m.hour) for m in analysed],
    )


def test_the_index_can_be_deleted_and_rebuilt_with_identical_answers(
    index: RegimeIndex, data_root: Path, analysed: list[MetricsFile]
) -> None:
    before = answers(index, analysed)
    index.db_path.unlink()
    rebuilt = RegimeIndex(index.db_path, data_root)
    assert rebuilt.refresh().read == len(analysed)
    assert answers(rebuilt, analysed) == before
