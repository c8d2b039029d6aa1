"""Writing snapshot files: validated, atomic, deterministic bytes that parse back unchanged."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from market_maker.base.timeutil import HOUR
from market_maker.exchange.replay import ReplayExchange
from market_maker.snapshots import (
    InvalidSnapshotError,
    Snapshot,
    check_file,
    dumps,
    parse_snapshot,
    snapshot_relpath,
    write_snapshot,
)
from tests.conftest import SAMPLE_FILE
from tests.snapshots.helpers import LAST_HOUR, SYMBOL, build_hours


def broken(snapshot: Snapshot) -> Snapshot:
    """The same hour with two defects: a minute missing and collected before the hour closed."""
    return snapshot.model_copy(
        update={
            "minutes": snapshot.minutes[:-1],
            "collected_at": snapshot.hour + HOUR / 2,
        }
    )


def files_in(directory: Path) -> list[str]:
    """Every entry, hidden ones (temporary files) included."""
    return sorted(p.name for p in directory.iterdir())


def test_write_snapshot_puts_the_file_at_its_contract_path(
    snapshot: Snapshot, tmp_path: Path
) -> None:
    path = write_snapshot(tmp_path, snapshot)

    assert path == tmp_path / "snapshots/ETH-USDT/2023/07/10/05.json"
    assert path.relative_to(tmp_path) == snapshot_relpath(SYMBOL, snapshot.hour)
    assert path.read_bytes() == dumps(snapshot)
    assert files_in(path.parent) == ["05.json"]


def test_an_invalid_snapshot_raises_listing_every_problem(
    snapshot: Snapshot, tmp_path: Path
) -> None:
    with pytest.raises(InvalidSnapshotError) as caught:
        write_snapshot(tmp_path, broken(snapshot))

    error = caught.value
    assert {p.field for p in error.problems} == {"minutes", "collected_at", "candles_1h"}
    assert any("missing: 05:59" in p.message for p in error.problems)
    expected_path = str(tmp_path / snapshot_relpath(SYMBOL, snapshot.hour))
    assert error.path == expected_path
    assert all(p.file == expected_path for p in error.problems)
    assert str(error).startswith(f"invalid snapshot {expected_path}:")


def test_an_invalid_snapshot_leaves_the_existing_file_byte_for_byte_unchanged(
    snapshot: Snapshot, tmp_path: Path
) -> None:
    path = write_snapshot(tmp_path, snapshot)
    before = path.read_bytes()
    mtime = path.stat().st_mtime_ns

    with pytest.raises(InvalidSnapshotError):
        write_snapshot(tmp_path, broken(snapshot))

    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == mtime
    assert files_in(path.parent) == ["05.json"]  # no temporary file left behind


def test_an_invalid_snapshot_for_a_new_hour_creates_no_file(
    snapshot: Snapshot, tmp_path: Path
) -> None:
    with pytest.raises(InvalidSnapshotError):
        write_snapshot(tmp_path, broken(snapshot))

    directory = tmp_path / snapshot_relpath(SYMBOL, snapshot.hour).parent
    assert files_in(directory) == []


def test_a_valid_snapshot_replaces_the_stored_one(snapshot: Snapshot, tmp_path: Path) -> None:
    path = write_snapshot(tmp_path, snapshot)
    recollected = snapshot.model_copy(update={"collected_at": snapshot.collected_at + HOUR})

    write_snapshot(tmp_path, recollected)

    assert path.read_bytes() == dumps(recollected)
    assert files_in(path.parent) == ["05.json"]


def test_dumps_gives_the_same_bytes_for_the_same_snapshot(snapshot: Snapshot) -> None:
    # Built a second time from a fresh exchange: an equal snapshot, a distinct object.
    exchange = ReplayExchange(SAMPLE_FILE, SYMBOL, now=LAST_HOUR + HOUR)
    again = build_hours(exchange, LAST_HOUR, LAST_HOUR)[LAST_HOUR]

    assert again is not snapshot
    assert dumps(again) == dumps(snapshot)
    assert dumps(snapshot) == dumps(snapshot)


def test_dumps_writes_one_candle_per_line(snapshot: Snapshot) -> None:
    lines = dumps(snapshot).decode().splitlines()

    candle_lines = [line for line in lines if line.startswith('    {"t": "')]
    sections = (snapshot.minutes, snapshot.candles_1h, snapshot.candles_4h)
    assert len(candle_lines) == sum(len(section) for section in sections) == 360
    assert json.loads(dumps(snapshot))["schema_version"] == "2.0"


def test_dumps_round_trips_through_parse(built: dict[datetime, Snapshot]) -> None:
    for snap in built.values():
        assert parse_snapshot(dumps(snap)) == (snap, [])


def test_a_written_file_reads_back_equal(snapshot: Snapshot, tmp_path: Path) -> None:
    path = write_snapshot(tmp_path, snapshot)

    assert check_file(path, symbol=SYMBOL, hour=snapshot.hour) == (snapshot, [])
