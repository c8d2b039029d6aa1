"""Snapshot validation on real snapshots and on damaged copies of them: every problem, named."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from market_maker.base.timeutil import HOUR
from market_maker.snapshots import Problem, Snapshot, SnapshotReader, dumps, validate_snapshot
from market_maker.snapshots.problems import errors_only
from market_maker.snapshots.rules import validate_sequence
from tests.snapshots.helpers import (
    FIRST_HOUR,
    LAST_HOUR,
    SYMBOL,
    as_json,
    check_stored,
    write_raw,
)


def about(problems: list[Problem], field: str) -> list[str]:
    """Messages of the errors reported on ``field``."""
    return [p.message for p in errors_only(problems) if p.field == field]


def test_a_snapshot_built_from_the_exchange_has_no_problems(
    built: dict[datetime, Snapshot], tmp_path: Path
) -> None:
    for snap in built.values():
        assert validate_snapshot(snap, expected_symbol=SYMBOL, expected_hour=snap.hour) == []
        assert check_stored(write_raw(tmp_path, dumps(snap), snap.hour)) == []


# -- the minutes ---------------------------------------------------------------


def test_a_missing_minute_is_named_by_its_time(snapshot: Snapshot, tmp_path: Path) -> None:
    data = as_json(snapshot)
    del data["minutes"][17]

    messages = about(check_stored(write_raw(tmp_path, data)), "minutes")

    assert any("1 of 60 minutes missing: 05:17" in m for m in messages), messages


def test_several_missing_minutes_are_all_named(snapshot: Snapshot, tmp_path: Path) -> None:
    data = as_json(snapshot)
    data["minutes"] = [m for i, m in enumerate(data["minutes"]) if i not in (0, 30, 59)]

    messages = about(check_stored(write_raw(tmp_path, data)), "minutes")

    assert any("3 of 60 minutes missing: 05:00, 05:30, 05:59" in m for m in messages), messages


def test_a_duplicate_minute_is_named(snapshot: Snapshot, tmp_path: Path) -> None:
    data = as_json(snapshot)
    data["minutes"][18] = dict(data["minutes"][17])

    messages = about(check_stored(write_raw(tmp_path, data)), "minutes")

    assert any("duplicate minute(s): 05:17" in m for m in messages), messages
    assert any("missing: 05:18" in m for m in messages), messages


def test_a_minute_outside_the_hour_is_named(snapshot: Snapshot, tmp_path: Path) -> None:
    data = as_json(snapshot)
    data["minutes"][59]["t"] = "2023-07-10T06:00:00Z"

    messages = about(check_stored(write_raw(tmp_path, data)), "minutes")

    assert any("outside the hour: 06:00" in m for m in messages), messages


# -- OHLC ----------------------------------------------------------------------


def test_a_low_above_the_open_is_an_ohlc_violation(snapshot: Snapshot, tmp_path: Path) -> None:
    data = as_json(snapshot)
    minute = data["minutes"][5]
    minute["l"] = minute["o"] + 1
    minute["h"] = max(minute["h"], minute["l"])

    messages = about(check_stored(write_raw(tmp_path, data)), "minutes")

    assert any(
        "OHLC inconsistent in 1 candle(s): [5] 2023-07-10T05:05:00Z (low above open/close)" in m
        for m in messages
    ), messages


def test_a_high_below_the_close_is_an_ohlc_violation(snapshot: Snapshot, tmp_path: Path) -> None:
    data = as_json(snapshot)
    minute = data["minutes"][6]
    minute["h"] = minute["c"] - 1
    minute["l"] = min(minute["l"], minute["h"], minute["o"])

    messages = about(check_stored(write_raw(tmp_path, data)), "minutes")

    assert any("[6] 2023-07-10T05:06:00Z (high below open/close)" in m for m in messages)


def test_a_non_positive_price_is_an_ohlc_violation(snapshot: Snapshot, tmp_path: Path) -> None:
    data = as_json(snapshot)
    data["minutes"][7]["l"] = 0

    messages = about(check_stored(write_raw(tmp_path, data)), "minutes")

    assert any("[7] 2023-07-10T05:07:00Z (non-positive price" in m for m in messages), messages


def test_an_ohlc_violation_in_a_window_names_that_window(
    snapshot: Snapshot, tmp_path: Path
) -> None:
    data = as_json(snapshot)
    candle = data["candles_4h"][3]
    candle["l"], candle["h"] = candle["h"] + 1, candle["l"]

    problems = check_stored(write_raw(tmp_path, data))

    assert any("low above high" in m for m in about(problems, "candles_4h"))
    assert about(problems, "minutes") == []


def test_a_negative_volume_names_the_candle(snapshot: Snapshot, tmp_path: Path) -> None:
    data = as_json(snapshot)
    data["minutes"][3]["v"] = -1.0

    problems = check_stored(write_raw(tmp_path, data))

    assert [p.field for p in problems] == ["minutes.3.v"]
    assert "greater than or equal to 0" in problems[0].message


# -- the file as a whole -----------------------------------------------------------


def test_a_truncated_file_is_reported_as_invalid_json(snapshot: Snapshot, tmp_path: Path) -> None:
    raw = dumps(snapshot)
    path = write_raw(tmp_path, raw[: len(raw) // 2], snapshot.hour)

    problems = check_stored(path)

    assert len(problems) == 1
    assert problems[0].field == "(file)"
    assert "not valid JSON (truncated or corrupted?)" in problems[0].message
    assert problems[0].file == str(path)
    assert str(path) in str(problems[0])


def test_a_schema_version_from_the_future_asks_for_an_upgrade(
    snapshot: Snapshot, tmp_path: Path
) -> None:
    data = as_json(snapshot)
    data["schema_version"] = "3.0"

    messages = about(check_stored(write_raw(tmp_path, data)), "schema_version")

    assert len(messages) == 1
    assert "'3.0' is newer than this code reads (2.1)" in messages[0]
    assert "upgrade market-maker" in messages[0]


def test_a_file_whose_hour_does_not_match_its_path_is_named(
    snapshot: Snapshot, tmp_path: Path
) -> None:
    path = write_raw(tmp_path, dumps(snapshot), snapshot.hour - HOUR)

    messages = about(check_stored(path), "hour")

    assert messages == [
        "file holds hour 2023-07-10T05:00:00Z but its path says 2023-07-10T04:00:00Z"
    ]


def test_an_hour_candle_that_disagrees_with_its_minutes_is_named(
    snapshot: Snapshot, tmp_path: Path
) -> None:
    data = as_json(snapshot)
    own = data["candles_1h"][-1]
    assert own["t"] == "2023-07-10T05:00:00Z"
    expected_high = own["h"]
    own["h"] += 5
    own["v"] += 10.0

    messages = about(check_stored(write_raw(tmp_path, data)), "candles_1h")

    assert f"hour candle h={expected_high + 5} but its minutes give {expected_high}" in messages
    assert any(m.startswith("hour candle v=") and "minutes sum to" in m for m in messages)


def test_a_missing_hour_candle_is_named(snapshot: Snapshot, tmp_path: Path) -> None:
    data = as_json(snapshot)
    data["candles_1h"].pop()

    messages = about(check_stored(write_raw(tmp_path, data)), "candles_1h")

    assert "no 1h candle for the snapshot's hour 2023-07-10T05:00:00Z" in messages


def test_collection_before_the_hour_closed_is_named(snapshot: Snapshot, tmp_path: Path) -> None:
    data = as_json(snapshot)
    data["collected_at"] = "2023-07-10T05:59:00Z"

    messages = about(check_stored(write_raw(tmp_path, data)), "collected_at")

    assert messages == [
        "2023-07-10T05:59:00Z is before the hour closed (2023-07-10T06:00:00Z): "
        "the hour cannot be complete"
    ]


def test_missing_required_sections_are_each_named(snapshot: Snapshot, tmp_path: Path) -> None:
    data = as_json(snapshot)
    del data["market_summary"]
    del data["candles_4h"]

    problems = check_stored(write_raw(tmp_path, data))

    assert {p.field: p.message for p in problems} == {
        "market_summary": "required section or field is missing",
        "candles_4h": "required section or field is missing",
    }


def test_validation_reports_every_problem_not_just_the_first(
    snapshot: Snapshot, tmp_path: Path
) -> None:
    data = as_json(snapshot)
    del data["minutes"][17]
    data["collected_at"] = "2023-07-10T05:30:00Z"
    data["candles_4h"][0]["h"] = data["candles_4h"][0]["c"] - 1
    data["market_summary"]["low_24h"] = data["market_summary"]["high_24h"] + 1

    problems = errors_only(check_stored(write_raw(tmp_path, data)))

    assert len(problems) >= 4
    fields = {p.field for p in problems}
    assert {"minutes", "collected_at", "candles_4h", "market_summary"} <= fields


# -- across files --------------------------------------------------------------


def test_consecutive_snapshots_built_from_the_exchange_join(
    built: dict[datetime, Snapshot],
) -> None:
    assert validate_sequence(list(built.values())) == []


def test_a_previous_hour_candle_that_differs_from_the_previous_snapshot_is_flagged(
    built: dict[datetime, Snapshot],
) -> None:
    prev, cur = built[LAST_HOUR - HOUR], built[LAST_HOUR]
    seen = cur.candles_1h[-2]
    assert seen.t == prev.hour
    restated = seen.model_copy(update={"c": seen.h})
    cur = cur.model_copy(
        update={"candles_1h": [*cur.candles_1h[:-2], restated, cur.candles_1h[-1]]}
    )
    assert seen.c != seen.h

    flagged = validate_sequence([prev, cur])

    assert len(flagged) == 1
    where, problem = flagged[0]
    assert where is cur
    assert problem.field == "candles_1h"
    assert problem.message == (
        "its candle for 2023-07-10T04:00:00Z differs from the previous snapshot's own hour candle"
    )


def test_a_gap_between_snapshots_is_flagged(built: dict[datetime, Snapshot]) -> None:
    flagged = validate_sequence([built[FIRST_HOUR], built[FIRST_HOUR + 3 * HOUR]])

    assert [(s.hour, p.field) for s, p in flagged] == [(FIRST_HOUR + 3 * HOUR, "hour")]
    assert "2 hour(s) missing before this snapshot" in flagged[0][1].message


def store_all(root: Path, built: dict[datetime, Snapshot]) -> SnapshotReader:
    for snap in built.values():
        write_raw(root, dumps(snap), snap.hour)
    return SnapshotReader(root)


def test_the_reader_validates_a_stored_range_without_problems(
    built: dict[datetime, Snapshot], tmp_path: Path
) -> None:
    report = store_all(tmp_path, built).validate(SYMBOL, FIRST_HOUR, LAST_HOUR)

    assert report.ok
    assert report.problems == []
    assert report.files_checked == len(built)


def test_the_reader_reports_a_deleted_hour_in_a_range(
    built: dict[datetime, Snapshot], tmp_path: Path
) -> None:
    reader = store_all(tmp_path, built)
    deleted = reader.path_for(SYMBOL, FIRST_HOUR + 2 * HOUR)
    deleted.unlink()

    report = reader.validate(SYMBOL, FIRST_HOUR, LAST_HOUR)

    assert not report.ok
    assert report.files_checked == len(built) - 1
    assert [(p.file, p.message) for p in report.errors] == [
        (str(deleted), "no snapshot for this hour")
    ]


def test_the_reader_names_a_corrupted_file_in_a_range(
    built: dict[datetime, Snapshot], tmp_path: Path
) -> None:
    reader = store_all(tmp_path, built)
    corrupted = reader.path_for(SYMBOL, FIRST_HOUR + 1 * HOUR)
    corrupted.write_bytes(corrupted.read_bytes()[:-200])

    report = reader.validate(SYMBOL, FIRST_HOUR, LAST_HOUR)

    assert not report.ok
    assert {p.file for p in report.errors} == {str(corrupted)}
    assert "not valid JSON" in report.errors[0].message


def test_the_reader_flags_a_stored_snapshot_that_does_not_join_its_predecessor(
    built: dict[datetime, Snapshot], tmp_path: Path
) -> None:
    reader = store_all(tmp_path, built)
    data = as_json(built[LAST_HOUR])
    data["candles_1h"][-2]["v"] += 1.0
    path = write_raw(tmp_path, data)

    report = reader.validate(SYMBOL, FIRST_HOUR, LAST_HOUR)

    assert [(p.file, p.field) for p in report.errors] == [(str(path), "candles_1h")]
    assert "2023-07-10T04:00:00Z differs" in report.errors[0].message


def test_a_snapshot_collected_long_after_its_hour_is_valid_as_backfills_are(
    snapshot: Snapshot,
) -> None:
    late = snapshot.model_copy(update={"collected_at": snapshot.hour + timedelta(days=30)})

    assert validate_snapshot(late) == []
