"""SnapshotReader: single hours, ranges cached within a process, clear errors for bad hours."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest

from market_maker.base.timeutil import HOUR
from market_maker.snapshots import (
    InvalidSnapshotError,
    Snapshot,
    SnapshotNotFoundError,
    SnapshotReader,
    dumps,
)
from market_maker.snapshots import reader as reader_module
from tests.snapshots.helpers import FIRST_HOUR, LAST_HOUR, SYMBOL, write_raw


@pytest.fixture
def reader(built: dict[datetime, Snapshot], tmp_path: Path) -> SnapshotReader:
    for snap in built.values():
        write_raw(tmp_path, dumps(snap), snap.hour)
    return SnapshotReader(tmp_path)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Files the reader reads to parse, in order."""
    seen: list[Path] = []
    real = reader_module._read

    def counting(where: str, read: object) -> object:
        seen.append(Path(where))
        return real(where, read)  # type: ignore[arg-type]

    monkeypatch.setattr(reader_module, "_read", counting)
    return seen


def test_load_snapshot_returns_the_stored_snapshot(
    reader: SnapshotReader, built: dict[datetime, Snapshot]
) -> None:
    assert reader.load_snapshot(SYMBOL, LAST_HOUR) == built[LAST_HOUR]


def test_load_snapshot_takes_any_moment_inside_the_hour(
    reader: SnapshotReader, built: dict[datetime, Snapshot]
) -> None:
    assert reader.load_snapshot(SYMBOL, LAST_HOUR + HOUR / 2) == built[LAST_HOUR]


def test_load_range_returns_every_stored_hour_oldest_first(
    reader: SnapshotReader, built: dict[datetime, Snapshot]
) -> None:
    loaded = reader.load_range(SYMBOL, FIRST_HOUR, LAST_HOUR)

    assert loaded == list(built.values())
    assert reader.stored_hours(SYMBOL) == list(built)


def test_load_range_skips_hours_without_a_file(reader: SnapshotReader) -> None:
    reader.path_for(SYMBOL, FIRST_HOUR + HOUR).unlink()

    hours = [s.hour for s in reader.load_range(SYMBOL, FIRST_HOUR - 5 * HOUR, LAST_HOUR)]

    assert hours == [FIRST_HOUR, *(FIRST_HOUR + i * HOUR for i in range(2, 6))]


def test_a_second_load_range_does_not_parse_again(
    reader: SnapshotReader, parses: list[Path]
) -> None:
    first = reader.load_range(SYMBOL, FIRST_HOUR, LAST_HOUR)
    parsed_once = len(parses)

    second = reader.load_range(SYMBOL, FIRST_HOUR, LAST_HOUR)

    assert parsed_once == 6
    assert len(parses) == parsed_once
    assert all(a is b for a, b in zip(first, second, strict=True))


def test_a_file_changed_on_disk_is_parsed_again(
    reader: SnapshotReader, parses: list[Path], snapshot: Snapshot
) -> None:
    reader.load_range(SYMBOL, FIRST_HOUR, LAST_HOUR)
    recollected = snapshot.model_copy(update={"code_version": "test-code-recollected"})
    path = write_raw(reader.root, dumps(recollected), recollected.hour)
    os.utime(path, ns=(1, 1))  # a different mtime, whatever the file system's resolution
    parses.clear()

    loaded = reader.load_range(SYMBOL, FIRST_HOUR, LAST_HOUR)

    assert parses == [path]
    assert loaded[-1] == recollected


def test_a_missing_hour_raises_snapshot_not_found(reader: SnapshotReader) -> None:
    hour = LAST_HOUR + HOUR
    with pytest.raises(SnapshotNotFoundError) as caught:
        reader.load_snapshot(SYMBOL, hour)

    message = str(caught.value)
    assert "no snapshot for ETH-USDT at 2023-07-10T06:00:00Z" in message
    assert str(reader.path_for(SYMBOL, hour)) in message


def test_a_corrupt_hour_raises_invalid_snapshot_naming_the_file(reader: SnapshotReader) -> None:
    path = reader.path_for(SYMBOL, FIRST_HOUR)
    path.write_bytes(path.read_bytes()[:100])

    with pytest.raises(InvalidSnapshotError) as caught:
        reader.load_snapshot(SYMBOL, FIRST_HOUR)

    assert caught.value.path == str(path)
    assert f"invalid snapshot {path}" in str(caught.value)
    assert "not valid JSON" in str(caught.value)


def test_a_corrupt_hour_inside_a_range_makes_load_range_raise_naming_it(
    reader: SnapshotReader,
) -> None:
    path = reader.path_for(SYMBOL, FIRST_HOUR + 2 * HOUR)
    path.write_text("{}")

    with pytest.raises(InvalidSnapshotError) as caught:
        reader.load_range(SYMBOL, FIRST_HOUR, LAST_HOUR)

    assert caught.value.path == str(path)
    assert {p.file for p in caught.value.problems} == {str(path)}


def test_a_valid_file_stored_under_the_wrong_hour_is_refused(
    reader: SnapshotReader, snapshot: Snapshot
) -> None:
    misplaced = LAST_HOUR + 3 * HOUR
    write_raw(reader.root, dumps(snapshot), misplaced)

    with pytest.raises(InvalidSnapshotError, match="but its path says 2023-07-10T08:00:00Z"):
        reader.load_snapshot(SYMBOL, misplaced)
