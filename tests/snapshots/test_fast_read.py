"""The array read path against the model path: the same files accepted, the same problems.

Both paths check with the same rules (``snapshots/rules.py``); what differs is how they
read a file into columns. The model path (``parse_snapshot`` with one pydantic model per
candle, then ``validate_snapshot``) is the reference. Every generated file starts from a
real snapshot of the recorded sample and is then damaged in ways the writer
never would: any value in any candle field, candles removed, duplicated,
swapped or given extra keys, times off the grid or written another way, OHLC
swapped, header fields moved; laid out as the writer lays files out or not.
"""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market_maker.base.timeutil import format_utc
from market_maker.snapshots import Snapshot, SnapshotReader, dumps, fast_read, utc_times
from market_maker.snapshots.arrays import SECTIONS
from market_maker.snapshots.fast_read import LineMemo, read_snapshot
from market_maker.snapshots.io import dumps_data
from market_maker.snapshots.validation import parse_snapshot, validate_snapshot
from tests.snapshots.helpers import SYMBOL, as_json, write_raw

FIELDS = ("t", "o", "h", "l", "c", "v")

values = st.one_of(
    st.integers(min_value=-5, max_value=5),
    st.integers(min_value=150_000, max_value=200_000),
    st.sampled_from([0, -1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 + 7, -(2**63) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1.0, 168114.0, 0.5, -0.0, 1e308, 1e-320]),
    st.booleans(),
    st.none(),
    st.sampled_from(["168114", "1.5", "x", "", [], {}, [1], {"o": 1}]),
)


def time_texts(base: Any) -> st.SearchStrategy[str]:
    """The candle's own time written otherwise, moved, or not a time."""
    base = base if isinstance(base, str) and len(base) == 20 else "2023-07-10T05:00:00Z"
    day, clock = base[:10], base[11:19]
    return st.one_of(
        st.sampled_from(
            [
                base.replace("Z", "+00:00"),
                base.replace("Z", "+01:00"),
                base.replace("Z", ".000Z"),
                base.replace("Z", ".5Z"),
                base.replace("Z", "z"),
                base.replace("T", " "),
                base.replace("T", "t"),
                base[:-1],
                f"{day}T{clock}",
                "2023-02-30T00:00:00Z",
                "2023-07-10T24:00:00Z",
                "2023-07-10T23:60:00Z",
                "2023-07-10T23:59:60Z",
                "1969-12-31T23:00:00Z",
                "0000-01-01T00:00:00Z",
                "2024-02-29T00:00:00Z",
                "2023-02-29T00:00:00Z",
                "2023-07-10T05:30:00Z",
                "2023-07-10T05:00:30Z",
                "2023-07-10T06:00:00Z",
                "2023-07-10T04:59:00Z",
                "+2023-07-10T05:00:00Z",
                "2023-7-10T05:00:00Z",
                "２０２３-07-10T05:00:00Z",
            ]
        ),
        st.integers(min_value=1_688_940_000, max_value=1_689_000_000).map(
            lambda s: format_utc(datetime.fromtimestamp(s).astimezone())
        ),
    )


@st.composite
def damaged(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        section = draw(st.sampled_from(SECTIONS))
        candles = data[section]
        if not candles:
            continue
        i = draw(st.integers(min_value=0, max_value=len(candles) - 1))
        kind = draw(
            st.sampled_from(
                ["value", "value", "time", "remove", "duplicate", "swap", "extra", "drop", "ohlc"]
            )
        )
        candle = candles[i]
        if kind == "value":
            candle[draw(st.sampled_from(FIELDS[1:]))] = draw(values)
        elif kind == "time":
            candle["t"] = draw(st.one_of(time_texts(candle.get("t")), values))
        elif kind == "remove":
            del candles[i]
        elif kind == "duplicate":
            candles.insert(i, dict(candle))
        elif kind == "swap":
            j = draw(st.integers(min_value=0, max_value=len(candles) - 1))
            candles[i], candles[j] = candles[j], candles[i]
        elif kind == "extra":
            candle[draw(st.sampled_from(["x", "T", "volume"]))] = 1
        elif kind == "drop":
            candle.pop(draw(st.sampled_from(FIELDS)), None)
        else:
            a, b = draw(st.permutations(["o", "h", "l", "c"]))[:2]
            candle[a], candle[b] = candle.get(b), candle.get(a)
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        field = draw(st.sampled_from(["collected_at", "hour", "symbol", "price_scale", "grid"]))
        data[field] = draw(st.one_of(values, st.just("2023-07-10T04:00:00Z")))
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        data[draw(st.sampled_from(SECTIONS))] = []
    return data


def render(data: dict[str, Any], layout: str) -> bytes:
    """As the writer lays a file out (one candle a line), or otherwise."""
    if layout == "compact":
        return json.dumps(data).encode()
    if layout == "indented":
        return json.dumps(data, indent=2).encode()
    return dumps_data(data)


def reference(raw: bytes, hour: datetime) -> tuple[Snapshot | None, list[Any]]:
    snap, problems = parse_snapshot(raw)
    if snap is None:
        return None, problems
    return snap, validate_snapshot(snap, expected_symbol=SYMBOL, expected_hour=hour)


def assert_same(raw: bytes, hour: datetime, memo: LineMemo | None) -> None:
    snap, expected = reference(raw, hour)
    arrays, problems = read_snapshot(raw, expected_symbol=SYMBOL, expected_hour=hour, memo=memo)
    assert problems == expected
    assert (arrays is None) == (snap is None)
    if snap is None or arrays is None:
        return
    assert arrays.header == snap.model_copy(update={s: [] for s in SECTIONS})
    for section in SECTIONS:
        ours, theirs = arrays.series(section), snap.series(section)
        for field in ("t", "open", "high", "low", "close", "volume"):
            assert np.array_equal(getattr(ours, field), getattr(theirs, field)), (section, field)
    if not any(p.severity == "error" for p in problems):
        assert arrays.to_snapshot() == snap


@pytest.fixture(scope="module")
def base(built: dict[datetime, Snapshot]) -> dict[str, Any]:
    return as_json(next(reversed(built.values())))


@pytest.fixture(scope="module")
def earlier(built: dict[datetime, Snapshot]) -> list[bytes]:
    """The files of the hours before the base's, latest first: a range's neighbours."""
    return [dumps(snap) for snap in reversed(built.values())][1:]


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.data(), layout=st.sampled_from(["writer", "writer", "writer", "compact", "indented"])
)
def test_the_array_path_accepts_and_rejects_exactly_what_the_model_path_does(
    base: dict[str, Any], earlier: list[bytes], data: st.DataObject, layout: str
) -> None:
    hour = datetime.fromisoformat(base["hour"])
    raw = render(data.draw(damaged(base)), layout)
    # The memo holds the lines of the file read before, as in a range: the undamaged file
    # itself, or one of the hours before (its windows a line or a few behind).
    before = data.draw(st.sampled_from([render(base, "writer"), *earlier]))
    memo = LineMemo()
    read_snapshot(before, memo=memo)
    assert_same(raw, hour, memo)
    assert_same(raw, hour, None)
    if data.draw(st.booleans()):  # and the times seen so far forgotten
        utc_times.forget_times()
        assert_same(raw, hour, None)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.integers(min_value=0, max_value=2**34).map(
                lambda s: format_utc(datetime.fromtimestamp(s, UTC))
            ),
            time_texts(None),
            st.text(max_size=22),
            st.builds(
                lambda a, b: a[:10] + b[10:],
                time_texts(None),
                st.integers(min_value=0, max_value=2**34).map(
                    lambda s: format_utc(datetime.fromtimestamp(s, UTC))
                ),
            ),
            values,
        ),
        min_size=1,
        max_size=6,
    ),
    forget=st.booleans(),
)
def test_times_read_from_known_days_and_times_of_day_are_the_times_parsed(
    values: list[Any], forget: bool
) -> None:
    """Known days and times of day stand for a time as a character-by-character parse."""
    if forget:
        utc_times.forget_times()
    expected = utc_times.parse_times(tuple(values))
    for _ in range(2):  # unknown, then known
        got = utc_times.utc_seconds(tuple(values))
        assert (got is None) == (expected is None)
        if expected is not None and got is not None:
            assert got.tolist() == expected.tolist()


def test_every_real_snapshot_reads_the_same_both_ways(built: dict[datetime, Snapshot]) -> None:
    memo = LineMemo()
    for hour, snap in built.items():
        assert_same(dumps(snap), hour, memo)


@pytest.mark.parametrize(
    ("section", "field", "value", "where"),
    [
        ("minutes", "o", 1.5, "minutes.3.o"),
        ("candles_1h", "v", -2.0, "candles_1h.3.v"),
        ("candles_4h", "t", "2023-07-10T05:00:00", "candles_4h.3.t"),
        ("minutes", "h", 0, "minutes"),
        ("candles_4h", "t", "2023-07-10T05:30:00Z", "candles_4h"),
    ],
)
def test_a_reader_problem_names_the_file_and_the_field(
    base: dict[str, Any], tmp_path: Path, section: str, field: str, value: Any, where: str
) -> None:
    data = copy.deepcopy(base)
    data[section][3][field] = value
    path = write_raw(tmp_path, render(data, "writer"), datetime.fromisoformat(base["hour"]))
    reader = SnapshotReader(tmp_path)

    _, problems = reader.check_arrays(SYMBOL, datetime.fromisoformat(base["hour"]))
    errors = [p for p in problems if p.severity == "error"]

    assert errors
    assert {p.file for p in problems} == {str(path)}
    assert errors[0].field == where
    assert str(path) in str(errors[0]) and where in str(errors[0])
    assert reader.check(SYMBOL, datetime.fromisoformat(base["hour"]))[1] == problems


def test_an_infinite_volume_is_refused_like_a_negative_one(base: dict[str, Any]) -> None:
    data = copy.deepcopy(base)
    data["minutes"][0]["v"] = math.inf
    raw = json.dumps(data).encode()  # Python writes Infinity; the model refuses it

    snap, problems = read_snapshot(raw)

    assert snap is None
    assert [p.field for p in problems] == ["minutes.0.v"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d,
        lambda d: d["minutes"].insert(5, dict(d["minutes"][5])),
        lambda d: d["minutes"][7].update(l=d["minutes"][7]["h"] + 1),
        lambda d: d["candles_1h"][2].update(t="2023-07-01T05:30:00Z"),
        lambda d: d["candles_4h"].reverse(),
        lambda d: d["minutes"][0].update(o=0, v=0),
    ],
)
def test_files_as_the_writer_lays_them_out_take_the_array_path(
    base: dict[str, Any], damage: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Semantic problems are found on arrays: the model path is not needed to name them."""
    data = copy.deepcopy(base)
    damage(data)
    raw = render(data, "writer")
    snap, expected = reference(raw, datetime.fromisoformat(base["hour"]))

    def refuse(raw: bytes) -> None:
        raise AssertionError("the model path was taken")

    monkeypatch.setattr(fast_read, "parse_snapshot", refuse)
    arrays, problems = read_snapshot(
        raw, expected_symbol=SYMBOL, expected_hour=datetime.fromisoformat(base["hour"])
    )

    assert problems == expected
    assert arrays is not None and snap is not None
