"""Lazy migration on read: version 1.0 files (prices x100, no price_scale) stay readable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from market_maker.base.candles import Interval
from market_maker.base.timeutil import HOUR
from market_maker.exchange.replay import load_recorded_minutes
from market_maker.snapshots import Snapshot, SnapshotReader, dumps, parse_snapshot
from tests.conftest import SAMPLE_FILE
from tests.snapshots.helpers import SYMBOL, as_json, check_stored, write_raw


def version_1(snapshot: Snapshot) -> dict[str, Any]:
    """The snapshot as the original design wrote it: same layout, x100, no scale or code version."""
    assert snapshot.price_scale == 100
    data = as_json(snapshot)
    data["schema_version"] = "1.0"
    del data["price_scale"]
    del data["code_version"]
    return data


def test_a_version_1_file_reads_with_price_scale_100_and_equal_prices(
    snapshot: Snapshot,
) -> None:
    migrated, problems = parse_snapshot(json.dumps(version_1(snapshot)))

    assert problems == []
    assert migrated is not None
    assert migrated.schema_version == "2.0"
    assert migrated.price_scale == 100
    assert migrated.code_version == "unknown"
    assert migrated.model_copy(update={"code_version": snapshot.code_version}) == snapshot
    for section in ("minutes", "candles_1h", "candles_4h"):
        assert np.array_equal(migrated.series(section).close, snapshot.series(section).close)


def test_a_version_1_file_carries_the_recorded_prices(snapshot: Snapshot) -> None:
    migrated, _ = parse_snapshot(json.dumps(version_1(snapshot)))
    assert migrated is not None
    recorded = load_recorded_minutes(SAMPLE_FILE).between(snapshot.hour, snapshot.hour + HOUR)

    minutes = migrated.series("minutes")

    assert minutes.interval is Interval.MINUTE
    assert np.array_equal(minutes.t, recorded.t)
    for column in ("open", "high", "low", "close"):
        assert np.allclose(getattr(minutes, column), getattr(recorded, column), rtol=0, atol=1e-9)


def test_a_stored_version_1_file_is_read_through_the_migration_and_left_as_it_is(
    snapshot: Snapshot, tmp_path: Path
) -> None:
    path = write_raw(tmp_path, version_1(snapshot))
    stored = path.read_bytes()

    loaded = SnapshotReader(tmp_path).load_snapshot(SYMBOL, snapshot.hour)

    assert check_stored(path) == []
    assert loaded.price_scale == 100
    assert loaded.minutes == snapshot.minutes
    assert path.read_bytes() == stored  # migration is lazy: nothing is rewritten on read
    assert json.loads(dumps(loaded))["schema_version"] == "2.0"  # written back as current


NEWER = "schema_version '{}' is newer than this code reads (2.1); upgrade market-maker to read it"


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("3.0", NEWER.format("3.0")),
        ("2.2", NEWER.format("2.2")),
        ("0.9", "unknown schema_version '0.9' (known: 1.0, 2.0, 2.1)"),
        ("two", "unknown schema_version 'two' (known: 1.0, 2.0, 2.1)"),
        (None, "unknown schema_version None (known: 1.0, 2.0, 2.1)"),
    ],
    ids=["3.0", "2.2", "0.9", "two", "absent"],
)
def test_unknown_schema_versions_are_refused_with_a_clear_message(
    snapshot: Snapshot, version: str | None, expected: str
) -> None:
    data = as_json(snapshot)
    if version is None:
        del data["schema_version"]
    else:
        data["schema_version"] = version

    migrated, problems = parse_snapshot(json.dumps(data))

    assert migrated is None
    assert [(p.field, p.message) for p in problems] == [("schema_version", expected)]
