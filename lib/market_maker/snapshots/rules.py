"""The rules a snapshot follows, each written once, over its candles as columns.

Both read paths check with these rules: the model path (a parsed :class:`Snapshot`,
:func:`market_maker.snapshots.validation.validate_snapshot`) and the array path (a
:class:`SnapshotArrays`, :func:`market_maker.snapshots.fast_read.read_snapshot`). Each
turns what it read into :class:`SnapshotColumns`, whose open times are integer
microseconds: the model takes a time with a fraction of a second, which must not pass for
the whole second. The lists of minutes in the problems show a model's time as it was
written (with its own offset); every other time is shown in UTC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import NamedTuple, TypeVar

import numpy as np

from market_maker.base.timeutil import format_utc
from market_maker.snapshots.arrays import SECTIONS, Candles, Section, SnapshotArrays, price_rows
from market_maker.snapshots.model import CandleRecord, Snapshot
from market_maker.snapshots.problems import DEFAULT_LIMITS, Limits, Problem

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Open times are integer microseconds.
SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US
MAX_LISTED = 20  # candles listed per problem kind before "and N more"
VOLUME_RTOL = 1e-6


_ONE = timedelta(microseconds=1)


def microseconds(moment: datetime) -> int:
    """Microseconds since the epoch: exact, for any aware datetime."""
    return (moment - EPOCH) // _ONE


def moment(us: int) -> datetime:
    return EPOCH + us * _ONE


class Columns(NamedTuple):
    """One candle section: open times (Unix microseconds), prices (integer rows o/h/l/c),
    volumes."""

    t: np.ndarray
    prices: np.ndarray
    v: np.ndarray

    @classmethod
    def of_candles(cls, candles: Candles) -> Columns:
        return cls(candles.t * SECOND_US, candles.prices, candles.v)

    @classmethod
    def of_records(cls, records: list[CandleRecord]) -> Columns:
        if not records:
            return cls.of_candles(Candles.empty())
        return cls(
            np.array([microseconds(r.t) for r in records], dtype=np.int64),
            price_rows(records),
            np.array([r.v for r in records], dtype=np.float64),
        )


@dataclass
class SnapshotColumns:
    """A snapshot as the rules read it: ``header`` for every field but the candles."""

    header: Snapshot
    minutes: Columns
    candles_1h: Columns
    candles_4h: Columns
    # Each minute's time as the model holds it (the first of equal times), for the lists of
    # minutes: a time written with an offset shows its own clock. Empty: all in UTC.
    written: dict[int, datetime] = field(default_factory=dict)

    @classmethod
    def of_arrays(cls, snap: SnapshotArrays) -> SnapshotColumns:
        return cls(
            snap.header,
            Columns.of_candles(snap.minutes),
            Columns.of_candles(snap.candles_1h),
            Columns.of_candles(snap.candles_4h),
        )

    @classmethod
    def of_snapshot(cls, snap: Snapshot) -> SnapshotColumns:
        written: dict[int, datetime] = {}
        for m in snap.minutes:
            written.setdefault(microseconds(m.t), m.t)
        return cls(
            snap,
            Columns.of_records(snap.minutes),
            Columns.of_records(snap.candles_1h),
            Columns.of_records(snap.candles_4h),
            written,
        )

    def section(self, name: Section) -> Columns:
        return getattr(self, name)


def check_snapshot(
    snap: SnapshotColumns,
    *,
    expected_symbol: str | None = None,
    expected_hour: datetime | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> list[Problem]:
    """Check one snapshot on its own (across files: :func:`validate_sequence`)."""
    header = snap.header
    n = header.period_minutes
    start = microseconds(header.hour)
    end = start + n * MINUTE_US
    problems = check_header(header, expected_symbol, expected_hour, limits.period_minutes)
    problems += check_minutes(snap.minutes.t, start, n, snap.written)
    for name in SECTIONS:
        problems += check_ohlc(name, snap.section(name))
    problems += check_hour_candle(snap)
    problems += check_window("candles_1h", snap.candles_1h.t, HOUR_US, end, limits.window_1h, n)
    problems += check_window("candles_4h", snap.candles_4h.t, 4 * HOUR_US, end, limits.window_4h, n)
    problems += check_summary(header)
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


def check_minutes(
    times: np.ndarray, start: int, n: int, written: dict[int, datetime]
) -> list[Problem]:
    """The period's ``n`` minutes from ``start``, each once, in time order."""
    expected = start + MINUTE_US * np.arange(n, dtype=np.int64)
    if np.array_equal(times, expected):
        return []
    problems = []
    outside = np.unique(times[~np.isin(times, expected)])
    if len(outside):
        problems.append(
            Problem(
                "minutes",
                f"{len(outside)} candle(s) outside the {period_word(n)}: "
                f"{list_times(_moments(outside, written), short=True)}",
            )
        )
    values, counts = np.unique(times, return_counts=True)
    duplicated = values[counts > 1]
    if len(duplicated):
        listed = list_times(_moments(duplicated, written), short=True)
        problems.append(Problem("minutes", f"duplicate minute(s): {listed}"))
    missing = expected[~np.isin(expected, times)]
    if len(missing):
        problems.append(
            Problem(
                "minutes",
                f"{len(missing)} of {n} minutes missing: "
                f"{list_times(_moments(missing), short=True)}",
            )
        )
    if np.any(np.diff(times) < 0):
        problems.append(Problem("minutes", "minutes are not in time order (oldest first)"))
    return problems


def check_ohlc(section: str, candles: Columns) -> list[Problem]:
    """Positive prices, the low the least of them and the high the greatest."""
    o, h, low, c = candles.prices
    if ((low > 0) & (low <= np.minimum(o, c)) & (np.maximum(o, c) <= h)).all():
        return []  # the low the least price, and positive: none of the reasons below
    masks = (
        (np.minimum(np.minimum(o, h), np.minimum(low, c)) <= 0, "non-positive price"),
        (low > np.minimum(o, c), "low above open/close"),
        (h < np.maximum(o, c), "high below open/close"),
        (low > h, "low above high"),
    )
    bad_at = np.flatnonzero(np.logical_or.reduce([mask for mask, _ in masks]))
    if not len(bad_at):
        return []
    bad = [
        f"[{i}] {format_utc(moment(int(candles.t[i])))} "
        f"({', '.join(reason for mask, reason in masks if mask[i])})"
        for i in bad_at[:MAX_LISTED].tolist()
    ]
    listed = "; ".join(bad)
    more = f"; and {len(bad_at) - MAX_LISTED} more" if len(bad_at) > MAX_LISTED else ""
    return [Problem(section, f"OHLC inconsistent in {len(bad_at)} candle(s): {listed}{more}")]


def check_hour_candle(snap: SnapshotColumns) -> list[Problem]:
    """The 1h candle of the snapshot's bar is there, and (for an hour) its minutes build it."""
    own = np.flatnonzero(snap.candles_1h.t == microseconds(snap.header.bar_hour))
    if not len(own):
        return [Problem("candles_1h", no_bar_message(snap.header))]
    minutes = snap.minutes
    if not len(minutes.t) or snap.header.period_minutes != 60:
        # Under an hour the period's minutes are part of an hour whose other minutes are in
        # other files: only the cross-file check compares them.
        return []
    order = np.argsort(minutes.t, kind="stable")
    o, h, low, c = minutes.prices
    built = {
        "o": int(o[order[0]]),
        "h": int(h.max()),
        "l": int(low.min()),
        "c": int(c[order[-1]]),
    }
    candle = dict(zip("ohlc", snap.candles_1h.prices[:, own[0]].tolist(), strict=True))
    problems = [
        Problem("candles_1h", f"hour candle {key}={candle[key]} but its minutes give {value}")
        for key, value in built.items()
        if candle[key] != value
    ]
    volume = math.fsum(minutes.v.tolist())
    candle_v = float(snap.candles_1h.v[own[0]])
    if not math.isclose(candle_v, volume, rel_tol=VOLUME_RTOL, abs_tol=1e-9):
        problems.append(
            Problem("candles_1h", f"hour candle v={candle_v} but its minutes sum to {volume}")
        )
    return problems


def check_window(
    section: str, times: np.ndarray, step: int, end: int, wanted: int, n: int
) -> list[Problem]:
    """A window of ``wanted`` candles of ``step``, increasing, aligned, all closed at ``end``
    (a period of ``n`` minutes ends there); fewer candles, or gaps, are warnings."""
    steps = np.diff(times)
    if (
        wanted <= len(times) > 1
        and steps.min() > 0
        and steps.max() <= step
        and times[-1] + step <= end  # the latest, the times increasing
        and not (times % step).any()
    ):
        return []  # none of the problems below (in fewer steps)
    problems = []
    if np.any(steps <= 0):
        problems.append(Problem(section, "candles are not strictly increasing in time"))
    misaligned = times[times % step != 0]
    if len(misaligned):
        label = timedelta(microseconds=step)
        listed = list_times(_moments(misaligned))
        problems.append(Problem(section, f"open times not aligned to {label}: {listed}"))
    unclosed = times[times + step > end]
    if len(unclosed):
        problems.append(
            Problem(
                section,
                f"candles not closed at the end of the {period_word(n)}: "
                f"{list_times(_moments(unclosed))}",
            )
        )
    if len(times) < wanted:
        problems.append(
            Problem(
                section,
                f"{len(times)} candles, fewer than the {wanted} wanted "
                "(history at the source may start later)",
                severity="warning",
            )
        )
    gaps = int(np.count_nonzero(steps > step))
    if gaps:
        problems.append(
            Problem(section, f"{gaps} gap(s) in the window (missing at the source)", "warning")
        )
    return problems


def check_summary(snap: Snapshot) -> list[Problem]:
    """The market summary's prices: positive, and in order."""
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


# -- across files ----------------------------------------------------------------------------

Read = TypeVar("Read", Snapshot, SnapshotArrays)


def validate_sequence(snapshots: list[Read]) -> list[tuple[Read, Problem]]:
    """Consecutive snapshots must join: no missing period, and overlapping 1h candles agree."""
    problems: list[tuple[Read, Problem]] = []
    ordered = sorted(snapshots, key=lambda s: s.hour)
    read = [(s, _header(s), _hour_candles(s)) for s in ordered]
    for (_, before, own), (cur, after, seen) in pairwise(read):
        if after.hour > before.end:
            problems.append((cur, gap_problem(before.hour, after.hour, before.period_minutes)))
            continue
        at = microseconds(before.bar_hour)
        i, j = np.flatnonzero(own.t == at), np.flatnonzero(seen.t == at)
        if len(i) and len(j) and _differs(own, int(i[0]), before, seen, int(j[0]), after):
            problems.append(
                (
                    cur,
                    Problem(
                        "candles_1h",
                        f"its candle for {format_utc(before.bar_hour)} differs from the "
                        "previous snapshot's own hour candle",
                    ),
                )
            )
    return problems


def _header(snap: Snapshot | SnapshotArrays) -> Snapshot:
    return snap.header if isinstance(snap, SnapshotArrays) else snap


def _hour_candles(snap: Snapshot | SnapshotArrays) -> Columns:
    if isinstance(snap, SnapshotArrays):
        return Columns.of_candles(snap.candles_1h)
    return Columns.of_records(snap.candles_1h)


def _differs(a: Columns, i: int, sa: Snapshot, b: Columns, j: int, sb: Snapshot) -> bool:
    prices_a = [sa.price(x) for x in a.prices[:, i].tolist()]
    prices_b = [sb.price(x) for x in b.prices[:, j].tolist()]
    return prices_a != prices_b or not math.isclose(
        float(a.v[i]), float(b.v[j]), rel_tol=VOLUME_RTOL, abs_tol=1e-9
    )


# -- wording ---------------------------------------------------------------------------------


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


def list_times(times: list[datetime], *, short: bool = False) -> str:
    """List timestamps; ``short`` gives HH:MM for minutes inside one hour."""
    shown = ", ".join(t.strftime("%H:%M") if short else format_utc(t) for t in times[:MAX_LISTED])
    return shown + (f" and {len(times) - MAX_LISTED} more" if len(times) > MAX_LISTED else "")


def _moments(times: np.ndarray, written: dict[int, datetime] | None = None) -> list[datetime]:
    """The datetimes of open times, as the model holds them where ``written`` says."""
    written = written or {}
    return [written.get(t) or moment(t) for t in times.tolist()]
