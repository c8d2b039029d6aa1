"""The fast read path: a snapshot's candles parsed as arrays, then checked by the rules.

A file in the form the writer produces (prices as integers, volumes as
numbers, open times as ``YYYY-MM-DDTHH:MM:SSZ``) is parsed with orjson and
its candles turned into columns with numpy; its other fields go through
the :class:`Snapshot` model as always. Anything else (an older schema, a
string where a number belongs, a time with an offset, a value the model would
refuse) takes the model path, which explains every problem field by field.
Either way the snapshot is checked by the same rules (:mod:`market_maker.snapshots.rules`).
"""

from __future__ import annotations

from array import array
from datetime import datetime
from operator import itemgetter
from typing import Any

import numpy as np
import orjson
from pydantic import ValidationError

from market_maker.snapshots.arrays import SECTIONS, Candles, Section, SnapshotArrays, empty_sections
from market_maker.snapshots.model import KNOWN_VERSIONS, Snapshot, migrate
from market_maker.snapshots.problems import DEFAULT_LIMITS, Limits, Problem
from market_maker.snapshots.rules import SnapshotColumns, check_snapshot
from market_maker.snapshots.utc_times import utc_seconds
from market_maker.snapshots.validation import parse_snapshot, validate_snapshot

_FIELDS = itemgetter("t", "o", "h", "l", "c", "v")


class LineMemo:
    """Each section's candle lines in the last file read, and their candles: a neighbour's
    1h and 4h windows are the same lines shifted by an hour or four, and a line's bytes
    determine its candle."""

    def __init__(self) -> None:
        self.last: dict[Section, tuple[bytes, Candles]] = {}


def read_snapshot(
    raw: bytes,
    *,
    expected_symbol: str | None = None,
    expected_hour: datetime | None = None,
    limits: Limits = DEFAULT_LIMITS,
    memo: LineMemo | None = None,
) -> tuple[SnapshotArrays | None, list[Problem]]:
    """Parse and validate a snapshot file's bytes: every problem, as the model path finds them."""
    fast = _parse_lines(raw, memo or LineMemo())
    if fast is None:
        fast = _parse_fast(raw)
    if fast is None:
        snap, problems = parse_snapshot(raw)
        if snap is None:
            return None, problems
        problems = validate_snapshot(
            snap, expected_symbol=expected_symbol, expected_hour=expected_hour, limits=limits
        )
        return SnapshotArrays.from_snapshot(snap), problems
    return fast, check_snapshot(
        SnapshotColumns.of_arrays(fast),
        expected_symbol=expected_symbol,
        expected_hour=expected_hour,
        limits=limits,
    )


# -- parsing -----------------------------------------------------------------


_OPENING = {name: f'\n  "{name}": [\n'.encode() for name in SECTIONS}
_CLOSING = b"\n  ]"
_INDENT = b"    "
_SEPARATOR = b",\n    "


def _parse_lines(raw: bytes, memo: LineMemo) -> SnapshotArrays | None:
    """The snapshot when the file is laid out as the writer lays it out (one candle a line)
    and the model accepts it, else None.

    The document is parsed as two parts: the fields with each candle section emptied, and
    the candle lines. A section that begins with the lines the last file's same section
    ended with (the window moved on by an hour) takes their candles from ``memo``; only the
    lines after them are parsed.
    """
    outside: list[bytes] = []
    blocks: list[tuple[Section, bytes]] = []
    kept: list[Candles | None] = []
    items: list[bytes] = []
    counts: list[int] = []
    at = 0
    for name in SECTIONS:
        opening = raw.find(_OPENING[name], at)
        if opening < 0:
            continue
        start = opening + len(_OPENING[name])
        end = raw.find(_CLOSING, start)
        if end < 0 or raw[start : start + 4] != _INDENT:
            return None
        block = raw[start + 4 : end]
        reused, rest = _reuse(block, memo.last.get(name))
        new = rest.split(_SEPARATOR) if rest is not None else []
        if rest is not None and rest.count(b"\n") != len(new) - 1:
            return None  # a line that is not one candle: the whole-document path
        outside.append(raw[at:start])
        blocks.append((name, block))
        kept.append(reused)
        items += new
        counts.append(len(new))
        at = end
    outside.append(raw[at:])
    try:
        data = orjson.loads(b"".join(outside))
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("schema_version") not in KNOWN_VERSIONS:
        return None
    if any(data.get(name) != [] for name in SECTIONS):
        return None  # candles written some other way, or twice: the whole-document path
    parsed = _parse_items(items)
    if parsed is None:
        return None
    sections: dict[str, Candles] = {}
    first = 0
    for (name, block), reused, count in zip(blocks, kept, counts, strict=True):
        part = slice(first, first + count)
        fresh = Candles(parsed.t[part], parsed.prices[:, part], parsed.v[part])
        sections[name] = fresh if reused is None else _joined(reused, fresh)
        memo.last[name] = (block, sections[name])
        first += count
    try:
        header = Snapshot.model_validate(migrate(data))
    except ValidationError:
        return None
    return SnapshotArrays(
        header, *(sections[name] if name in sections else Candles.empty() for name in SECTIONS)
    )


_MAX_SHIFT = 4  # lines the window may have moved on since the last file (hours missing)


def _reuse(block: bytes, last: tuple[bytes, Candles] | None) -> tuple[Candles | None, bytes | None]:
    """(candles of the lines ``block`` shares with the last file's, the lines after them).

    The shared lines are the last block from one of its first lines on, found at the start
    of ``block`` and followed by the end of the block or a separator. Every newline of the
    last block separates two of its candles (it was checked so), and so does the one after
    the shared lines: the block's lines split there as they split alone.
    """
    if last is None:
        return None, block
    previous, candles = last
    view = memoryview(previous)
    at = 0
    for shift in range(min(_MAX_SHIFT, len(candles) - 1) + 1):
        shared = view[at:]
        if block.startswith(shared):
            tail = len(previous) - at
            if len(block) == tail:
                return _tail(candles, shift), None
            if block.startswith(_SEPARATOR, tail):
                return _tail(candles, shift), block[tail + len(_SEPARATOR) :]
        at = previous.find(_SEPARATOR, at)
        if at < 0:
            break
        at += len(_SEPARATOR)
    return None, block


def _tail(candles: Candles, shift: int) -> Candles:
    return Candles(candles.t[shift:], candles.prices[:, shift:], candles.v[shift:])


def _joined(a: Candles, b: Candles) -> Candles:
    if not len(b):
        return a
    return Candles(
        np.concatenate([a.t, b.t]),
        np.concatenate([a.prices, b.prices], axis=1),
        np.concatenate([a.v, b.v]),
    )


def _parse_items(items: list[bytes]) -> Candles | None:
    """The candles of lines of one candle each (else None)."""
    text = b"[" + b",".join(items) + b"]"
    # Each line holds one "{": with every element a flat candle object (checked below),
    # element i is line i, so a line's bytes stand for its candle.
    if text.count(b"{") != len(items):
        return None
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if len(parsed) != len(items):
        return None
    return _candles(parsed)


def _parse_fast(raw: bytes) -> SnapshotArrays | None:
    """The snapshot when the file is in the writer's form and the model accepts it, else None."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("schema_version") not in KNOWN_VERSIONS:
        return None
    data = migrate(data)
    lists = [data.get(name) for name in SECTIONS]
    if not all(isinstance(items, list) for items in lists):
        return None
    # One pass over the three sections: numpy's cost is per call, not per candle.
    every = _candles([c for items in lists for c in items])
    if every is None:
        return None
    sections = []
    start = 0
    for items in lists:
        part = slice(start, start + len(items))
        sections.append(Candles(every.t[part], every.prices[:, part], every.v[part]))
        start += len(items)
    try:
        header = Snapshot.model_validate({**data, **empty_sections()})
    except ValidationError:
        return None
    return SnapshotArrays(header, *sections)


def _candles(items: list[Any]) -> Candles | None:
    if not items:
        return Candles.empty()
    try:
        t, o, h, low, c, v = zip(*map(_FIELDS, items), strict=True)
        # Each has the six keys; a seventh is an unknown key, which the model refuses.
        if sum(map(len, items)) != 6 * len(items):
            return None
        # array() takes what the model's lax int and float take from JSON (bools as 1 and 0)
        # and refuses the rest (floats for prices, strings): those take the model path.
        prices = np.frombuffer(array("q", o + h + low + c), dtype=np.int64)
        volumes = np.frombuffer(array("d", v), dtype=np.float64)
    except (KeyError, TypeError, OverflowError):
        return None
    if not (np.all(volumes >= 0) and np.all(np.isfinite(volumes))):
        return None  # negative, infinite: the model names the candle and field
    times = utc_seconds(t)
    if times is None:
        return None
    return Candles(times, prices.reshape(4, len(items)), volumes)
