"""Preflight of recorded candles: tolerant reading, findings, cleaning, the blocking rule."""

from __future__ import annotations

import gzip
import os
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market_maker.backtest.preflight import PreflightFailed, clean, preflight, require_ok
from market_maker.backtest.recording import (
    HEADER,
    Finding,
    PreflightReport,
    RawRecording,
    read_recording,
)
from market_maker.base.candles import Interval
from market_maker.base.errors import DataError, ParameterError
from market_maker.base.timeutil import to_seconds
from tests.conftest import SHARED_DATA

T0 = datetime(2023, 1, 1, tzinfo=UTC)
SPOT = SHARED_DATA / "ETHUSDT-1m-2025-05-20_2025-08-18-binance-spot.csv.gz"


def minute(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def candles(n: int, *, first: int = 0) -> np.ndarray:
    """Sound rows (time_s, open, high, low, close, volume) for minutes first .. first+n-1."""
    i = np.arange(first, first + n)
    close = 100 + np.sin(i / 7.0)
    open_ = np.r_[close[0], close[:-1]]
    return np.column_stack(
        [
            to_seconds(T0) + 60 * i,
            open_,
            np.maximum(open_, close) + 0.5,
            np.minimum(open_, close) - 0.5,
            close,
            1 + (i % 5),
        ]
    )


def write(path: Path, rows: np.ndarray, *, header: str = HEADER) -> Path:
    lines = [header]
    for r in rows:
        lines.append(f"{int(r[0]) * 1000}," + ",".join(repr(float(x)) for x in r[1:]))
    text = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(text) if path.suffix == ".gz" else text)
    return path


def recording(rows: np.ndarray, path: Path = Path("memory.csv")) -> RawRecording:
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    columns = (rows[:, k].copy() for k in range(1, 6))
    return RawRecording(path, rows[:, 0].astype(np.int64), *columns)


def check(rows: np.ndarray, start: int, end: int, warmup_hours: int = 0, **kw) -> PreflightReport:
    return preflight(recording(rows), minute(start), minute(end), warmup_hours, **kw)


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize("name", ["m.csv", "m.csv.gz"])
def test_reads_plain_and_gzipped_files_as_written(tmp_path: Path, name: str) -> None:
    rows = candles(10)[[0, 1, 2, 5, 3, 3, 9]]  # unsorted and duplicated: kept as read
    raw = read_recording(write(tmp_path / name, rows))
    assert raw.path == tmp_path / name
    assert raw.t.dtype == np.int64
    assert raw.t.tolist() == rows[:, 0].astype(int).tolist()
    for k, column in enumerate((raw.open, raw.high, raw.low, raw.close, raw.volume), start=1):
        np.testing.assert_array_equal(column, rows[:, k])


def test_a_header_only_file_is_an_empty_recording(tmp_path: Path) -> None:
    raw = read_recording(write(tmp_path / "m.csv", np.empty((0, 6))))
    assert len(raw) == 0
    report = preflight(raw, T0, minute(60), 0)
    assert [(f.kind, f.count, f.detail) for f in report.findings] == [
        ("coverage", 60, "the recording holds no candles")
    ]
    assert report.first is None and report.last is None


def test_missing_file_names_the_parameter(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv.gz"
    with pytest.raises(ParameterError) as info:
        read_recording(path, parameter="backtest.data_file")
    assert str(info.value) == f"backtest.data_file: {path} does not exist"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("time,o,h,l,c,v\n1,2,3,4,5,6\n", f"expected columns {HEADER}, found 'time,o,h,l,c,v'"),
        ("", "found ''"),
        (f"{HEADER}\n60000,1,2,1,1,1\n120000,1,2,x,1,1\n", "line 3: 'x' is not a number"),
        (f"{HEADER}\n60000,1,2,1,1,1\n120000,1,2,1,1\n", "line 3 has 5 field(s), expected 6"),
        (f"{HEADER}\n60000,1,2,1,1,1\n120500,1,2,1,1,1\n", "whole minutes"),
        (f"{HEADER}\n60000,1,2,1,1,1\nnan,1,2,1,1,1\n", "line 3 has nan"),
    ],
)
def test_unreadable_files_fail_with_one_line_naming_file_and_line(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "m.csv"
    path.write_text(content)
    with pytest.raises(DataError) as info:
        read_recording(path)
    message = str(info.value)
    assert message.startswith(f"data_file: {path}: ")
    assert expected in message
    assert "\n" not in message


def test_a_corrupt_gzip_file_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "m.csv.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="not a readable gzip file"):
        read_recording(path)


# --------------------------------------------------------------------------- findings


def test_a_sound_recording_has_no_findings() -> None:
    report = check(candles(300), 120, 300, warmup_hours=2)
    assert report.ok and report.findings == ()
    assert report.warmup_start == minute(0)
    assert (report.rows, report.rows_checked) == (300, 300)
    assert report.lines() == []
    assert "No findings." in report.markdown()
    require_ok(report, allow_gaps=False)


def test_missing_minutes_are_merged_into_blocking_gaps() -> None:
    rows = np.delete(candles(100), [10, 11, 12, 50], axis=0)
    report = check(rows, 0, 100)
    gaps = report.of_kind("gap")
    assert [(g.start, g.end, g.count, g.blocking) for g in gaps] == [
        (minute(10), minute(13), 3, True),
        (minute(50), minute(51), 1, True),
    ]
    assert gaps[0].line() == (
        "gap 2023-01-01T00:10Z..2023-01-01T00:13Z: 3 minute(s) missing (blocking)"
    )
    assert not report.ok


def test_gaps_at_the_span_edges_are_found_when_the_recording_extends_beyond() -> None:
    rows = np.delete(candles(100), [20, 21, 78, 79], axis=0)  # span is minutes 21..79
    report = check(rows, 21, 79)
    assert [(g.start, g.end, g.count) for g in report.findings] == [
        (minute(21), minute(22), 1),
        (minute(78), minute(79), 1),
    ]
    assert all(f.kind == "gap" for f in report.findings)


def test_failure_message_is_one_line_and_allow_gaps_lets_the_run_proceed() -> None:
    rows = np.delete(candles(24 * 60), np.r_[63:100, 200:210, 300], axis=0)
    report = check(rows, 0, 24 * 60)
    with pytest.raises(PreflightFailed) as info:
        require_ok(report, allow_gaps=False)
    assert str(info.value) == (
        "data_file memory.csv fails preflight for 2023-01-01T00Z..2023-01-02T00Z: "
        "3 gap(s) (48 minutes), first 2023-01-01T01:03Z..2023-01-01T01:40Z; "
        "rerun with allow_gaps to run anyway"
    )
    assert isinstance(info.value, DataError)
    assert info.value.report is report
    require_ok(report, allow_gaps=True)
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value) and again.report == report


def test_coverage_shortfalls_name_the_period_and_the_warm_up_and_block_even_with_allow_gaps():
    rows = candles(600, first=100)  # minutes 100..699
    report = check(rows, 180, 720, warmup_hours=2)  # needs minutes 60..719
    coverage = report.of_kind("coverage")
    assert [(f.start, f.end, f.count) for f in coverage] == [
        (minute(60), minute(100), 40),
        (minute(700), minute(720), 20),
    ]
    assert "2 h of warm-up" in coverage[0].detail
    assert "starts at 2023-01-01T01:40Z" in coverage[0].detail
    assert "ends at 2023-01-01T11:40Z" in coverage[1].detail
    assert report.of_kind("gap") == []  # uncovered edges are not reported twice
    with pytest.raises(PreflightFailed) as info:
        require_ok(report, allow_gaps=True)
    message = str(info.value)
    assert "not covered 2023-01-01T01:00Z..2023-01-01T01:40Z, " in message
    assert "allow_gaps cannot help" in message and "\n" not in message


def test_a_recording_outside_the_span_is_one_coverage_finding() -> None:
    report = check(candles(60), 120, 180)
    assert [(f.kind, f.start, f.end, f.count) for f in report.findings] == [
        ("coverage", minute(120), minute(180), 60)
    ]
    assert report.rows_checked == 0


def test_identical_duplicates_are_listed_but_conflicting_ones_block() -> None:
    rows = candles(60)
    conflicting = rows[[30, 31]].copy()
    conflicting[:, 5] += 1
    report = check(np.vstack([rows, rows[[10, 11, 12, 11]], conflicting]), 0, 60)
    dups = report.of_kind("duplicate")
    assert [(f.start, f.end, f.count, f.blocking) for f in dups] == [
        (minute(10), minute(13), 4, False),
        (minute(30), minute(32), 2, True),
    ]
    assert "identical" in dups[0].detail and "conflicting" in dups[1].detail
    # Appended rows come after later minutes: they are also out of order.
    assert [f.count for f in report.of_kind("unsorted")] == [4, 2]
    assert str(PreflightFailed(report)).count("conflicting duplicates (2 extra rows)") == 1


def test_identical_duplicates_in_order_do_not_block() -> None:
    rows = candles(60)
    report = check(np.insert(rows, 21, rows[20], axis=0), 0, 60)
    assert [(f.kind, f.count, f.blocking) for f in report.findings] == [("duplicate", 1, False)]
    assert report.ok


def test_unsorted_rows_are_reported_with_their_line() -> None:
    rows = candles(60)
    swapped = np.vstack([rows[:10], rows[20:30], rows[10:20], rows[30:]])
    report = check(swapped, 0, 60)
    [finding] = report.findings
    assert (finding.kind, finding.start, finding.end, finding.count) == (
        "unsorted",
        minute(10),
        minute(20),
        10,
    )
    assert "first at line 22" in finding.detail  # rows[10] is the 21st row, on line 22
    assert finding.blocking


def test_ohlc_violations_are_merged_with_their_reasons() -> None:
    rows = candles(60)
    rows[5, 2] = max(rows[5, 1], rows[5, 4]) - 0.01  # high below open or close, above low
    rows[6, 3] = min(rows[6, 1], rows[6, 4]) + 0.01  # low above open or close, below high
    rows[6, 5] = -1  # negative volume
    rows[20, 4] = np.nan
    rows[40, 2], rows[40, 3] = 1, 2  # high below low (and below open/close)
    rows[41, 1] = 0
    report = check(rows, 0, 60)
    ohlc = report.of_kind("ohlc")
    assert [(f.start, f.end, f.count) for f in ohlc] == [
        (minute(5), minute(7), 2),
        (minute(20), minute(21), 1),
        (minute(40), minute(42), 2),
    ]
    assert ohlc[0].detail == (
        "2 row(s) fail: high below open/close (1), low above open/close (1), "
        "negative or non-finite volume (1); first at line 7"
    )
    assert ohlc[1].detail.startswith("1 row(s) fail: non-finite price (1);")
    assert "high below low (1)" in ohlc[2].detail and "non-positive price (1)" in ohlc[2].detail
    assert all(f.blocking for f in ohlc) and not report.ok


def test_long_zero_volume_stretches_are_listed_without_blocking() -> None:
    rows = candles(300)
    rows[10:20, 5] = 0  # too short to report
    rows[100:190, 5] = 0
    report = check(rows, 0, 300, zero_volume_minutes=60)
    assert [(f.kind, f.start, f.end, f.count, f.blocking) for f in report.findings] == [
        ("zero_volume", minute(100), minute(190), 90, False)
    ]
    assert report.ok
    assert len(check(rows, 0, 300, zero_volume_minutes=10).findings) == 2


def test_rows_outside_the_checked_span_are_not_judged() -> None:
    rows = candles(120)
    rows[5, 2] = -1
    report = check(np.vstack([rows, rows[:3]]), 60, 120)
    assert report.findings == () and report.rows == 123 and report.rows_checked == 60


def test_findings_beyond_the_limit_are_counted_in_a_summary() -> None:
    rows = np.delete(candles(200), np.arange(5, 195, 10), axis=0)  # 19 single-minute gaps
    report = check(rows, 0, 200, max_findings_listed=3)
    gaps = report.of_kind("gap")
    assert len(gaps) == 4
    assert [g.periods for g in gaps] == [1, 1, 1, 16]
    assert sum(g.count for g in gaps) == 19
    assert gaps[-1].detail == "16 more gap(s) not listed (16 minutes)"
    assert (gaps[-1].start, gaps[-1].end) == (minute(35), minute(186))
    assert "19 gap(s) (19 minutes)" in str(PreflightFailed(report))


def test_markdown_is_a_table_of_the_findings() -> None:
    rows = np.delete(candles(100), [10], axis=0)
    text = check(rows, 0, 100).markdown()
    assert "| kind | period | count | blocking | detail |" in text
    assert "| gap | 2023-01-01T00:10Z..2023-01-01T00:11Z | 1 minute | yes |" in text
    assert "blocked by 1 finding(s)" in text


@pytest.mark.parametrize(
    ("start", "end", "warmup", "message"),
    [(10, 10, 0, "must be after start"), (0, 10, -1, "warmup_hours")],
)
def test_bad_parameters_are_refused(start: int, end: int, warmup: int, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        check(candles(10), start, end, warmup)


def test_findings_are_frozen_models() -> None:
    finding = check(np.delete(candles(10), [5], axis=0), 0, 10).findings[0]
    assert isinstance(finding, Finding)
    with pytest.raises(ValueError, match="frozen"):
        finding.count = 3  # type: ignore[misc]


# --------------------------------------------------------------------------- clean


def test_clean_sorts_deduplicates_and_drops_invalid_rows(tmp_path: Path) -> None:
    rows = candles(60)
    broken = rows[7].copy()
    broken[2] = 0  # high below everything: invalid
    changed = rows[8].copy()
    changed[5] = 99  # a later, conflicting copy: the first copy is kept
    messy = np.vstack([broken, rows[30:], rows[:30], changed, rows[40]])
    messy[1 + 30 + 20, 4] = np.nan  # minute 20 has no sound copy: it becomes a gap
    raw = read_recording(write(tmp_path / "m.csv.gz", messy))
    report = preflight(raw, minute(0), minute(60), 0)
    minutes = clean(raw, report)
    assert minutes.interval is Interval.MINUTE
    expected = np.delete(rows, [20], axis=0)
    assert minutes.t.tolist() == expected[:, 0].astype(int).tolist()
    assert np.all(np.diff(minutes.t) > 0)
    np.testing.assert_array_equal(minutes.high, expected[:, 2])  # minute 7's sound copy kept
    assert minutes.volume[8] == rows[8, 5]


def test_clean_keeps_only_the_checked_span_and_refuses_another_files_report() -> None:
    raw = recording(candles(200))
    minutes = clean(raw, preflight(raw, minute(100), minute(150), 1))
    assert (minutes.t[0], minutes.t[-1]) == (to_seconds(minute(40)), to_seconds(minute(149)))
    other = recording(candles(200), Path("other.csv"))
    with pytest.raises(ValueError, match=r"other\.csv"):
        clean(raw, preflight(other, minute(100), minute(150), 1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(min_value=3, max_value=400),
    data=st.data(),
)
def test_removed_minutes_are_all_found_and_clean_undoes_a_shuffle(n: int, data) -> None:
    rows = candles(n)
    inner = st.integers(min_value=1, max_value=n - 2)  # the edges would be coverage findings
    removed = data.draw(st.sets(inner, max_size=n - 2), label="removed")
    kept = np.delete(rows, sorted(removed), axis=0)
    report = check(kept, 0, n, max_findings_listed=data.draw(st.integers(0, 5), label="limit"))
    assert {f.kind for f in report.findings} <= {"gap"}
    assert sum(f.count for f in report.findings) == len(removed)
    assert report.ok == (not removed)

    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    shuffled = kept[np.random.default_rng(seed).permutation(len(kept))]
    raw = recording(shuffled)
    minutes = clean(raw, preflight(raw, minute(0), minute(n), 0))
    assert minutes.t.tolist() == kept[:, 0].astype(int).tolist()
    for k, column in enumerate(
        (minutes.open, minutes.high, minutes.low, minutes.close, minutes.volume), start=1
    ):
        np.testing.assert_array_equal(column, kept[:, k])


# --------------------------------------------------------------------------- recorded data


@pytest.fixture(scope="module")
def spot_file() -> Path:
    """The 2025 spot recording beside the project (../shared/data), as conftest finds it."""
    if not SPOT.exists():
        message = f"recorded data not found at {SPOT} (set MARKET_MAKER_SHARED_DATA)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: in CI a green run must mean these tests ran")
        pytest.skip(message)
    return SPOT


def test_the_spot_recording_is_complete_over_a_month(spot_file: Path) -> None:
    raw = read_recording(spot_file)
    assert len(raw) == 130_708  # 2025-05-20T00:00 .. 2025-08-18T18:27, no minute missing
    june = preflight(raw, datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC), 168)
    assert june.findings == () and june.ok
    assert june.rows_checked == (30 * 24 + 168) * 60
    assert june.first == datetime(2025, 5, 20, tzinfo=UTC)
    assert june.last == datetime(2025, 8, 18, 18, 27, tzinfo=UTC)
    minutes = clean(raw, june)
    assert len(minutes) == june.rows_checked and np.all(np.diff(minutes.t) == 60)

    # A month running past the end of the recording: the tail is not covered.
    august = preflight(raw, datetime(2025, 8, 1, tzinfo=UTC), datetime(2025, 9, 1, tzinfo=UTC), 168)
    [shortfall] = august.findings
    assert (shortfall.kind, shortfall.start, shortfall.end) == (
        "coverage",
        datetime(2025, 8, 18, 18, 28, tzinfo=UTC),
        datetime(2025, 9, 1, tzinfo=UTC),
    )
    with pytest.raises(PreflightFailed, match="allow_gaps cannot help"):
        require_ok(august, allow_gaps=True)


def test_the_two_year_recording_has_no_gaps_only_short_zero_volume_outages(
    two_years_file: Path,
) -> None:
    raw = read_recording(two_years_file)
    report = preflight(raw, datetime(2022, 1, 8, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC), 168)
    assert report.findings == () and report.rows_checked == 1_051_200
    # The exchange outages (flat zero-volume minutes) are all shorter than an hour.
    outages = preflight(
        raw,
        datetime(2022, 1, 8, tzinfo=UTC),
        datetime(2024, 1, 1, tzinfo=UTC),
        168,
        zero_volume_minutes=1,
    )
    assert [(f.start, f.count) for f in outages.findings] == [
        (datetime(2022, 5, 1, 22, 26, tzinfo=UTC), 29),
        (datetime(2022, 5, 28, 16, 40, tzinfo=UTC), 35),
        (datetime(2023, 9, 12, 8, 34, tzinfo=UTC), 19),
        (datetime(2023, 11, 14, 11, 39, tzinfo=UTC), 3),
    ]
    assert outages.ok
