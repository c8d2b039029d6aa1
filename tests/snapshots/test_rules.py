"""The rules on what only the model path reads: open times with a fraction of a second or
written with another offset, prices beyond 64 bits. Both read paths check with the same
rules (``snapshots/rules.py``); these files never take the array path."""

from __future__ import annotations

from pathlib import Path

from market_maker.snapshots import Problem, Snapshot
from market_maker.snapshots.problems import errors_only
from tests.snapshots.helpers import as_json, check_stored, write_raw


def about(problems: list[Problem], field: str) -> list[str]:
    return [p.message for p in errors_only(problems) if p.field == field]


def test_a_minute_a_fraction_of_a_second_late_is_not_that_minute(
    snapshot: Snapshot, tmp_path: Path
) -> None:
    data = as_json(snapshot)
    data["minutes"][17]["t"] = "2023-07-10T05:17:00.5Z"

    messages = about(check_stored(write_raw(tmp_path, data)), "minutes")

    assert messages == ["1 candle(s) outside the hour: 05:17", "1 of 60 minutes missing: 05:17"]


def test_a_minute_written_with_another_offset_is_named_as_written(
    snapshot: Snapshot, tmp_path: Path
) -> None:
    data = as_json(snapshot)
    data["minutes"][17]["t"] = "2023-07-10T07:17:00+02:00"  # 05:17 UTC, its own time
    data["minutes"][18]["t"] = "2023-07-10T05:17:00Z"  # the same minute again
    data["minutes"][59]["t"] = "2023-07-10T08:00:00+02:00"  # 06:00 UTC: after the hour

    messages = about(check_stored(write_raw(tmp_path, data)), "minutes")

    assert messages == [
        "1 candle(s) outside the hour: 08:00",
        "duplicate minute(s): 07:17",
        "2 of 60 minutes missing: 05:18, 05:59",
    ]


def test_prices_beyond_64_bits_are_checked_as_any_other(snapshot: Snapshot, tmp_path: Path) -> None:
    data = as_json(snapshot)
    data["minutes"][5]["h"] = 2**70
    own = next(c for c in data["candles_1h"] if c["t"] == data["hour"])
    own["o"] = 2**64

    problems = check_stored(write_raw(tmp_path, data))

    assert about(problems, "minutes") == []
    assert about(problems, "candles_1h") == [
        "OHLC inconsistent in 1 candle(s): [199] 2023-07-10T05:00:00Z (high below open/close)",
        f"hour candle o={2**64} but its minutes give {data['minutes'][0]['o']}",
        f"hour candle h={own['h']} but its minutes give {2**70}",
    ]
