"""Snapshot validation: every problem is reported, not just the first."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from pydantic import ValidationError

from market_maker.base.timeutil import HOUR, MINUTE, format_utc
from market_maker.snapshots.model import (
    KNOWN_VERSIONS,
    LATEST_VERSION,
    SCHEMA_VERSION,
    CandleRecord,
    Snapshot,
    migrate,
)
from market_maker.snapshots.problems import DEFAULT_LIMITS, Limits, Problem

_CURRENT_VERSION = re.compile(
    rb'^\{\s*"schema_version":\s*"' + re.escape(SCHEMA_VERSION.encode()) + rb'"'
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_LISTED = 20  # candles listed per problem kind before "and N more"
VOLUME_RTOL = 1e-6


def parse_snapshot(text: str | bytes) -> tuple[Snapshot | None, list[Problem]]:
    """Parse JSON text into a Snapshot, migrating older schema versions."""
    if _CURRENT_VERSION.search(text[:200] if isinstance(text, bytes) else text[:200].encode()):
        # Fast path for current files: parse and validate in one pass in pydantic-core.
        try:
            return Snapshot.model_validate_json(text), []
        except ValidationError:
            pass  # fall through to the slow path, which explains every problem
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, [Problem("(file)", f"not valid JSON (truncated or corrupted?): {exc}")]
    if not isinstance(raw, dict):
        return None, [Problem("(file)", "a snapshot must be a JSON object")]
    version = raw.get("schema_version")
    if version not in KNOWN_VERSIONS:
        if _is_newer(version):
            message = (
                f"schema_version {version!r} is newer than this code reads ({LATEST_VERSION}); "
                "upgrade market-maker to read it"
            )
        else:
            message = f"unknown schema_version {version!r} (known: {', '.join(KNOWN_VERSIONS)})"
        return None, [
            Problem("schema_version", message, code="newer_schema" if _is_newer(version) else "")
        ]
    try:
        return Snapshot.model_validate(migrate(raw)), []
    except ValidationError as exc:
        return None, [
            Problem(".".join(str(p) for p in err["loc"]) or "(file)", _pydantic_message(err))
            for err in exc.errors()
        ]


def _pydantic_message(err: Any) -> str:
    if err["type"] == "missing":
        return "required section or field is missing"
    return f"{err['msg']} (got {err.get('input')!r})"[:300]


def _is_newer(version: object) -> bool:
    try:
        return tuple(int(p) for p in str(version).split(".")) > tuple(
            int(p) for p in LATEST_VERSION.split(".")
        )
    except ValueError:
        return False


def validate_snapshot(
    snap: Snapshot,
    *,
    expected_symbol: str | None = None,
    expected_hour: datetime | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> list[Problem]:
    """Check one parsed snapshot on its own (cross-file checks: :func:`validate_sequence`).

    The reference for the array path (``arrays.validate_arrays``), which must report the
    same problems for the same file.
    """
    problems = check_header(snap, expected_symbol, expected_hour, limits.period_minutes)
    problems += _check_minutes(snap)
    for section in ("minutes", "candles_1h", "candles_4h"):
        problems += _check_ohlc(section, getattr(snap, section))
    problems += _check_hour_candle(snap)
    problems += _check_window(snap, "candles_1h", HOUR, limits.window_1h)
    problems += _check_window(snap, "candles_4h", 4 * HOUR, limits.window_4h)
    problems += check_summary(snap)
    return problems


def check_header(
    snap: Snapshot,
    expected_symbol: str | None,
    expected_hour: datetime | None,
    expected_period: int | None = None,
) -> list[Problem]:
    """The fields beside the candles: where the path says the file belongs, and when."""
    problems: list[Problem] = []
    if expected_period is not None and snap.period_minutes != expected_period:
        problems.append(
            Problem(
                "period_minutes",
                f"file holds a {snap.period_minutes}-minute period but a "
                f"{expected_period}-minute one is expected (snapshots.period_minutes)",
            )
        )
    if expected_symbol is not None and snap.symbol != expected_symbol:
        problems.append(
            Problem("symbol", f"file holds {snap.symbol} but its path says {expected_symbol}")
        )
    if expected_hour is not None and snap.hour != expected_hour:
        problems.append(
            Problem(
                "hour",
                f"file holds hour {format_utc(snap.hour)} but its path says "
                f"{format_utc(expected_hour)}",
            )
        )
    if snap.collected_at < snap.end:
        what = "hour" if snap.period_minutes == 60 else "period"
        problems.append(
            Problem(
                "collected_at",
                f"{format_utc(snap.collected_at)} is before the {what} closed "
                f"({format_utc(snap.end)}): the {what} cannot be complete",
            )
        )
    return problems


def _check_minutes(snap: Snapshot) -> list[Problem]:
    problems = []
    times = [m.t for m in snap.minutes]
    n = snap.period_minutes
    expected = [snap.hour + i * MINUTE for i in range(n)]
    inside = set(expected)
    outside = sorted({t for t in times if t not in inside})
    if outside:
        problems.append(
            Problem(
                "minutes",
                f"{len(outside)} candle(s) outside the {period_word(n)}: "
                f"{list_times(outside, short=True)}",
            )
        )
    duplicated = sorted(t for t, n in Counter(times).items() if n > 1)
    if duplicated:
        problems.append(
            Problem("minutes", f"duplicate minute(s): {list_times(duplicated, short=True)}")
        )
    present = set(times)
    missing = [t for t in expected if t not in present]
    if missing:
        problems.append(
            Problem(
                "minutes",
                f"{len(missing)} of {n} minutes missing: {list_times(missing, short=True)}",
            )
        )
    if times != sorted(times):
        problems.append(Problem("minutes", "minutes are not in time order (oldest first)"))
    return problems


def _check_ohlc(section: str, candles: list[CandleRecord]) -> list[Problem]:
    bad: list[str] = []
    for i, c in enumerate(candles):
        reasons = []
        if min(c.o, c.h, c.l, c.c) <= 0:
            reasons.append("non-positive price")
        if c.l > min(c.o, c.c):
            reasons.append("low above open/close")
        if c.h < max(c.o, c.c):
            reasons.append("high below open/close")
        if c.l > c.h:
            reasons.append("low above high")
        if reasons:
            bad.append(f"[{i}] {format_utc(c.t)} ({', '.join(reasons)})")
    if not bad:
        return []
    listed = "; ".join(bad[:MAX_LISTED])
    more = f"; and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
    return [Problem(section, f"OHLC inconsistent in {len(bad)} candle(s): {listed}{more}")]


def _check_hour_candle(snap: Snapshot) -> list[Problem]:
    own = [c for c in snap.candles_1h if c.t == snap.bar_hour]
    if not own:
        return [Problem("candles_1h", no_bar_message(snap))]
    if not snap.minutes or snap.period_minutes != 60:
        # Under an hour the period's minutes are part of an hour whose other minutes are in
        # other files: only the cross-file check compares them.
        return []
    minutes = sorted(snap.minutes, key=lambda m: m.t)
    built = {
        "o": minutes[0].o,
        "h": max(m.h for m in minutes),
        "l": min(m.l for m in minutes),
        "c": minutes[-1].c,
    }
    candle = own[0]
    problems = [
        Problem(
            "candles_1h",
            f"hour candle {key}={getattr(candle, key)} but its minutes give {value}",
        )
        for key, value in built.items()
        if getattr(candle, key) != value
    ]
    volume = math.fsum(m.v for m in minutes)
    if not math.isclose(candle.v, volume, rel_tol=VOLUME_RTOL, abs_tol=1e-9):
        problems.append(
            Problem("candles_1h", f"hour candle v={candle.v} but its minutes sum to {volume}")
        )
    return problems


def _check_window(snap: Snapshot, section: str, step: timedelta, wanted: int) -> list[Problem]:
    candles: list[CandleRecord] = getattr(snap, section)
    problems = []
    times = [c.t for c in candles]
    if any(b <= a for a, b in pairwise(times)):
        problems.append(Problem(section, "candles are not strictly increasing in time"))
    misaligned = [t for t in times if (t - EPOCH) % step]
    if misaligned:
        problems.append(
            Problem(section, f"open times not aligned to {step}: {list_times(misaligned)}")
        )
    unclosed = [t for t in times if t + step > snap.end]
    if unclosed:
        problems.append(
            Problem(
                section,
                f"candles not closed at the end of the {period_word(snap.period_minutes)}: "
                f"{list_times(unclosed)}",
            )
        )
    if len(candles) < wanted:
        problems.append(
            Problem(
                section,
                f"{len(candles)} candles, fewer than the {wanted} wanted "
                "(history at the source may start later)",
                severity="warning",
            )
        )
    gaps = sum(1 for a, b in pairwise(times) if b - a > step)
    if gaps:
        problems.append(
            Problem(section, f"{gaps} gap(s) in the window (missing at the source)", "warning")
        )
    return problems


def check_summary(snap: Snapshot) -> list[Problem]:
    s = snap.market_summary
    problems = []
    if s.last <= 0:
        problems.append(Problem("market_summary.last", f"price must be positive, got {s.last}"))
    if s.low_24h > s.high_24h:
        problems.append(
            Problem("market_summary", f"low_24h {s.low_24h} is above high_24h {s.high_24h}")
        )
    if s.best_bid is not None and s.best_ask is not None and s.best_bid > s.best_ask:
        problems.append(
            Problem("market_summary", f"best_bid {s.best_bid} is above best_ask {s.best_ask}")
        )
    return problems


def validate_sequence(snapshots: list[Snapshot]) -> list[tuple[Snapshot, Problem]]:
    """Consecutive snapshots must join: no missing period, and overlapping 1h candles agree."""
    problems: list[tuple[Snapshot, Problem]] = []
    ordered = sorted(snapshots, key=lambda s: s.hour)
    for prev, cur in pairwise(ordered):
        if cur.hour > prev.end:
            problems.append((cur, gap_problem(prev.hour, cur.hour, prev.period_minutes)))
            continue
        prev_own = next((c for c in prev.candles_1h if c.t == prev.bar_hour), None)
        seen = next((c for c in cur.candles_1h if c.t == prev.bar_hour), None)
        if prev_own is not None and seen is not None and _differs(prev_own, seen, prev, cur):
            problems.append(
                (
                    cur,
                    Problem(
                        "candles_1h",
                        f"its candle for {format_utc(prev.bar_hour)} differs from the previous "
                        "snapshot's own hour candle",
                    ),
                )
            )
    return problems


def period_word(period_minutes: int) -> str:
    """How messages name a snapshot's span: the hour, as always, or the period."""
    return "hour" if period_minutes == 60 else "period"


def no_bar_message(snap: Snapshot) -> str:
    if snap.period_minutes == 60:
        return f"no 1h candle for the snapshot's hour {format_utc(snap.hour)}"
    return (
        f"no 1h candle for {format_utc(snap.bar_hour)}, the last hour closed when the period "
        f"ends ({format_utc(snap.end)})"
    )


def gap_problem(previous: datetime, current: datetime, period_minutes: int) -> Problem:
    """The problem of a sequence that skips periods between two snapshots."""
    step = timedelta(minutes=period_minutes)
    gap = int((current - previous) / step) - 1
    unit = "hour(s)" if period_minutes == 60 else f"{period_minutes}-minute period(s)"
    return Problem(
        "hour",
        f"{gap} {unit} missing before this snapshot (after {format_utc(previous)}): "
        "the sequence does not join",
    )


def _differs(a: CandleRecord, b: CandleRecord, sa: Snapshot, sb: Snapshot) -> bool:
    prices_a = [sa.price(x) for x in (a.o, a.h, a.l, a.c)]
    prices_b = [sb.price(x) for x in (b.o, b.h, b.l, b.c)]
    return prices_a != prices_b or not math.isclose(a.v, b.v, rel_tol=VOLUME_RTOL, abs_tol=1e-9)


def list_times(times: list[datetime], *, short: bool = False) -> str:
    """List timestamps; ``short`` gives HH:MM for minutes inside one hour."""
    shown = ", ".join(t.strftime("%H:%M") if short else format_utc(t) for t in times[:MAX_LISTED])
    return shown + (f" and {len(times) - MAX_LISTED} more" if len(times) > MAX_LISTED else "")
