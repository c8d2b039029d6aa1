"""The checks a preflight runs over a recording's span: coverage, gaps, unsorted rows,
duplicates, OHLC sanity, zero-volume stretches; each gives the periods it found."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from market_maker.backtest.recording import (
    MINUTE_S,
    OHLC_CHECKS,
    Finding,
    Kind,
    RawRecording,
    amount,
    minute,
)
from market_maker.base.errors import ParameterError
from market_maker.base.timeutil import from_seconds


@dataclass(frozen=True)
class Periods:
    """Periods of one kind as arrays (seconds, end exclusive), in order of start."""

    start: np.ndarray
    end: np.ndarray
    count: np.ndarray
    blocking: np.ndarray

    @classmethod
    def empty(cls) -> Periods:
        none = np.empty(0, dtype=np.int64)
        return cls(none, none, none, np.empty(0, dtype=bool))


def runs(minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first and of the last minute of each run of consecutive minutes.

    ``minutes`` are sorted and unique open times in seconds.
    """
    if len(minutes) == 0:
        none = np.empty(0, dtype=np.int64)
        return none, none
    breaks = np.flatnonzero(np.diff(minutes) != MINUTE_S)
    return np.r_[0, breaks + 1], np.r_[breaks, len(minutes) - 1]


def listed(
    kind: Kind, periods: Periods, detail: Callable[[int], str], limit: int, noun: str
) -> list[Finding]:
    """Findings for the first ``limit`` periods, then one summary per blocking status."""
    n = len(periods.start)
    found = [
        Finding(
            kind=kind,
            start=from_seconds(int(periods.start[i])),
            end=from_seconds(int(periods.end[i])),
            count=int(periods.count[i]),
            detail=detail(i),
            blocking=bool(periods.blocking[i]),
        )
        for i in range(min(n, limit))
    ]
    # Everything is counted: the summaries carry the rest, so totals per kind stay exact.
    for flag in (True, False):
        rest = np.flatnonzero(periods.blocking[limit:] == flag) + limit
        if len(rest) == 0:
            continue
        total = int(periods.count[rest].sum())
        found.append(
            Finding(
                kind=kind,
                start=from_seconds(int(periods.start[rest].min())),
                end=from_seconds(int(periods.end[rest].max())),
                count=total,
                detail=f"{len(rest)} more {noun} not listed ({amount(total, kind)})",
                blocking=flag,
                periods=len(rest),
            )
        )
    return found


def coverage(
    first: int | None, last: int | None, lo: int, hi: int, start: datetime, hours: int
) -> list[Finding]:
    def finding(a: int, b: int, detail: str) -> Finding:
        return Finding(
            kind="coverage",
            start=from_seconds(a),
            end=from_seconds(b),
            count=(b - a) // MINUTE_S,
            detail=detail,
            blocking=True,
        )

    if first is None or last is None:
        return [finding(lo, hi, "the recording holds no candles")]
    need = f"the run needs candles from {minute(from_seconds(lo))}"
    if hours:
        need += f" ({hours} h of warm-up for the metrics before the start {minute(start)})"
    found = []
    if first > lo:
        found.append(
            finding(
                lo,
                min(first, hi),
                f"the recording starts at {minute(from_seconds(first))}; {need}",
            )
        )
    if last + MINUTE_S < hi:
        found.append(
            finding(
                max(last + MINUTE_S, lo),
                hi,
                f"the recording ends at {minute(from_seconds(last + MINUTE_S))} "
                f"(last candle opens {minute(from_seconds(last))}), "
                f"before the end {minute(from_seconds(hi))}",
            )
        )
    return found


def gaps(minutes: np.ndarray, lo: int, hi: int) -> Periods:
    """Runs of minutes missing in [lo, hi), the part of the span the recording covers."""
    if hi <= lo:
        return Periods.empty()
    edges = np.concatenate(([lo - MINUTE_S], minutes, [hi])).astype(np.int64)
    at = np.flatnonzero(np.diff(edges) > MINUTE_S)
    start, end = edges[at] + MINUTE_S, edges[at + 1]
    return Periods(start, end, (end - start) // MINUTE_S, np.ones(len(at), dtype=bool))


def unsorted(ts: np.ndarray, rows: np.ndarray) -> tuple[Periods, np.ndarray]:
    """Rows that come after a later minute in the file, and the first line of each period."""
    if len(ts) < 2:
        return Periods.empty(), np.empty(0, dtype=np.int64)
    late = np.r_[False, ts[1:] < np.maximum.accumulate(ts)[:-1]]
    if not late.any():
        return Periods.empty(), np.empty(0, dtype=np.int64)
    late_t, late_rows = ts[late], rows[late]
    order = np.argsort(late_t, kind="stable")
    late_t, late_rows = late_t[order], late_rows[order]
    idx = np.flatnonzero(np.r_[True, late_t[1:] != late_t[:-1]])
    minutes = late_t[idx]
    per_minute = np.diff(np.r_[idx, len(late_t)])
    first_row = np.minimum.reduceat(late_rows, idx)
    s, e = runs(minutes)
    periods = Periods(
        minutes[s],
        minutes[e] + MINUTE_S,
        np.add.reduceat(per_minute, s),
        np.ones(len(s), dtype=bool),
    )
    return periods, np.minimum.reduceat(first_row, s) + 2


def duplicates(raw: RawRecording, srows: np.ndarray, st: np.ndarray) -> tuple[Periods, np.ndarray]:
    """Minutes recorded more than once: conflicting values block, identical copies do not.

    Returns the periods and, for each, how many distinct minutes it spans.
    """
    same = st[1:] == st[:-1]
    if not same.any():
        return Periods.empty(), np.empty(0, dtype=np.int64)
    a, b = srows[:-1][same], srows[1:][same]
    differ = np.zeros(len(a), dtype=bool)
    for column in (raw.open, raw.high, raw.low, raw.close, raw.volume):
        x, y = column[a], column[b]
        differ |= ~((x == y) | (np.isnan(x) & np.isnan(y)))
    # One entry per extra row, sorted by time: adjacent copies of a minute are compared,
    # so a minute conflicts if any of its copies differs from the one before it.
    dup_t = st[1:][same]
    idx = np.flatnonzero(np.r_[True, dup_t[1:] != dup_t[:-1]])
    minutes, extra = dup_t[idx], np.diff(np.r_[idx, len(dup_t)])
    conflicting = np.logical_or.reduceat(differ, idx)
    parts = []
    for flag in (True, False):
        sel = conflicting == flag
        s, e = runs(minutes[sel])
        parts.append(
            (
                minutes[sel][s],
                minutes[sel][e] + MINUTE_S,
                np.add.reduceat(extra[sel], s) if len(s) else s,
                np.full(len(s), flag),
                e - s + 1,
            )
        )
    start, end, count, blocking, spans = (np.concatenate(p) for p in zip(*parts, strict=True))
    order = np.argsort(start, kind="stable")
    return Periods(start[order], end[order], count[order], blocking[order]), spans[order]


def violations(raw: RawRecording, rows: np.ndarray) -> np.ndarray:
    """Bit mask of the OHLC checks (see OHLC_CHECKS) each of ``rows`` fails."""
    o, h, lo, c, v = (x[rows] for x in (raw.open, raw.high, raw.low, raw.close, raw.volume))
    finite = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)
    # Comparisons with NaN are false: non-finite prices fail only the first check.
    with np.errstate(invalid="ignore"):
        checks = (
            ~finite,
            (o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0),
            h < np.maximum(o, c),
            lo > np.minimum(o, c),
            h < lo,
            ~(v >= 0),
        )
    bits = np.zeros(len(rows), dtype=np.uint8)
    for bit, failed in enumerate(checks):
        bits |= failed.astype(np.uint8) << bit
    return bits


def ohlc_findings(
    raw: RawRecording, srows: np.ndarray, st: np.ndarray, limit: int
) -> list[Finding]:
    bits = violations(raw, srows)
    bad = bits != 0
    if not bad.any():
        return []
    bad_t, bad_bits, bad_rows = st[bad], bits[bad], srows[bad]
    idx = np.flatnonzero(np.r_[True, bad_t[1:] != bad_t[:-1]])
    minutes = bad_t[idx]
    s, e = runs(minutes)
    # Row ranges of each period within the bad rows, for the listed periods' details.
    bounds = np.r_[idx, len(bad_t)]
    row_lo, row_hi = bounds[s], bounds[e + 1]
    periods = Periods(minutes[s], minutes[e] + MINUTE_S, row_hi - row_lo, np.ones(len(s), bool))

    def detail(i: int) -> str:
        part = bad_bits[row_lo[i] : row_hi[i]]
        failed = [
            f"{name} ({np.count_nonzero(part & (1 << bit))})"
            for bit, name in enumerate(OHLC_CHECKS)
            if np.any(part & (1 << bit))
        ]
        line = int(bad_rows[row_lo[i] : row_hi[i]].min()) + 2
        return f"{row_hi[i] - row_lo[i]} row(s) fail: {', '.join(failed)}; first at line {line}"

    return listed("ohlc", periods, detail, limit, "OHLC-invalid stretch(es)")


def zero_volume(volume: np.ndarray, minutes: np.ndarray, at_least: int) -> Periods:
    zero = minutes[volume == 0]
    s, e = runs(zero)
    length = e - s + 1
    keep = length >= at_least
    s, e = s[keep], e[keep]
    return Periods(zero[s], zero[e] + MINUTE_S, length[keep], np.zeros(len(s), dtype=bool))


def check_parameters(
    start: datetime, end: datetime, warmup_hours: int, zero_volume_minutes: int, listed: int
) -> None:
    if end <= start:
        raise ParameterError(f"end {minute(end)} must be after start {minute(start)}")
    if warmup_hours < 0:
        raise ParameterError(f"warmup_hours must be 0 or more, got {warmup_hours}")
    if zero_volume_minutes < 1:
        raise ParameterError(f"zero_volume_minutes must be 1 or more, got {zero_volume_minutes}")
    if listed < 0:
        raise ParameterError(f"max_findings_listed must be 0 or more, got {listed}")


def sorted_by_time(ts: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows in time order, file order among equal times (so the first copy comes first)."""
    if len(ts) < 2 or bool(np.all(ts[1:] >= ts[:-1])):
        return ts, rows  # the usual case: skip the sort
    order = np.argsort(ts, kind="stable")
    return ts[order], rows[order]
