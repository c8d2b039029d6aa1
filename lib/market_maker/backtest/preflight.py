"""Preflight of a recorded 1-minute series before a backtest: read tolerantly, report, clean.

The replay exchange's loader rejects a recording that is unsorted or holds
duplicated rows. A backtest over months of history would rather be told what
is wrong, where, and whether it matters: :func:`read_recording` keeps the rows
as written, :func:`preflight` checks the span a run needs (warm-up included),
:func:`require_ok` stops a run whose findings block it, and :func:`clean`
yields the sorted, de-duplicated minutes the run proceeds with.

Periods are half-open, ``start..end`` with ``end`` the close of the last
minute concerned, so a gap ``10:03..10:40`` is 37 missing minutes.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from market_maker.base.candles import CandleSeries, Interval
from market_maker.base.errors import DataError, ParameterError
from market_maker.base.timeutil import from_seconds, to_seconds, utc

HEADER = "timestamp_ms,open,high,low,close,volume"
COLUMNS = len(HEADER.split(","))
MINUTE_S = 60
MINUTE_MS = 60_000

Kind = Literal["coverage", "gap", "duplicate", "unsorted", "ohlc", "zero_volume"]
KINDS: tuple[Kind, ...] = ("coverage", "gap", "unsorted", "duplicate", "ohlc", "zero_volume")

# What a finding's ``count`` counts, by kind.
UNITS: dict[str, str] = {
    "coverage": "minutes",
    "gap": "minutes",
    "duplicate": "extra rows",
    "unsorted": "rows",
    "ohlc": "rows",
    "zero_volume": "minutes",
}

# Bit flags of the OHLC checks, in the order their names are listed.
OHLC_CHECKS = (
    "non-finite price",
    "non-positive price",
    "high below open/close",
    "low above open/close",
    "high below low",
    "negative or non-finite volume",
)


def _amount(count: int, kind: str) -> str:
    """``3 minutes``, ``1 extra row``: a finding's count with its unit."""
    unit = UNITS[kind]
    return f"{count} {unit[:-1] if count == 1 else unit}"


def _minute(dt: datetime) -> str:
    return utc(dt).strftime("%Y-%m-%dT%H:%MZ")


def _compact(dt: datetime) -> str:
    """``2023-01-01T00Z`` on the hour, ``2023-01-01T00:30Z`` otherwise."""
    dt = utc(dt)
    return dt.strftime("%Y-%m-%dT%HZ") if dt.minute == 0 and dt.second == 0 else _minute(dt)


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|")


def _ceil_minute(seconds: int) -> int:
    return -(-seconds // MINUTE_S) * MINUTE_S


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True, eq=False)
class RawRecording:
    """A recording's rows in file order, unsorted and duplicated rows included.

    ``t`` is each candle's open time in Unix seconds (int64). Row ``i`` is on
    line ``i + 2`` of the file (line 1 is the header) unless it has blank lines.
    """

    path: Path
    t: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    parameter: str = "data_file"

    def __len__(self) -> int:
        return int(self.t.shape[0])


def read_recording(path: Path, *, parameter: str = "data_file") -> RawRecording:
    """Read a CSV(.gz) of 1-minute candles without rejecting unsorted or duplicated rows.

    Raises ParameterError if the file does not exist and DataError (one line
    naming ``parameter`` and the file) if it cannot be read as candles.
    """
    where = f"{parameter}: {path}"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ParameterError(f"{parameter}: {path} does not exist") from None
    except OSError as exc:
        raise DataError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{where}: not a readable gzip file ({exc})") from None
    header, _, body = data.partition(b"\n")
    found = header.decode(errors="replace").strip()
    if found != HEADER:
        raise DataError(f"{where}: expected columns {HEADER}, found {found!r}")
    rows = _parse_rows(body, where)
    ms = rows[:, 0]
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(ms) | (ms % MINUTE_MS != 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = np.format_float_positional(ms[row], trim="-")
        raise DataError(
            f"{where}: timestamp_ms must be whole minutes (multiples of 60000); "
            f"line {row + 2} has {value}"
        )
    return RawRecording(
        path=path,
        t=(ms // 1000).astype(np.int64),
        open=rows[:, 1].copy(),
        high=rows[:, 2].copy(),
        low=rows[:, 3].copy(),
        close=rows[:, 4].copy(),
        volume=rows[:, 5].copy(),
        parameter=parameter,
    )


def _parse_rows(body: bytes, where: str) -> np.ndarray:
    if not body.strip():
        return np.empty((0, COLUMNS))
    # numpy's C parser reads the two-year file (~1 M rows) in about a second;
    # comments=None because a '#' in a candle file is damage, not a comment.
    try:
        rows = np.loadtxt(io.BytesIO(body), delimiter=",", comments=None, ndmin=2)
    except ValueError as exc:
        raise DataError(f"{where}: {_first_bad_line(body) or _one_line(exc)}") from None
    if rows.shape[1] != COLUMNS:
        problem = _first_bad_line(body) or f"expected {COLUMNS} columns, found {rows.shape[1]}"
        raise DataError(f"{where}: {problem}")
    return rows


def _first_bad_line(body: bytes) -> str | None:
    """Name the first unreadable line; only run once the fast parser has failed."""
    for number, line in enumerate(body.split(b"\n"), start=2):
        line = line.rstrip(b"\r")
        if not line:
            continue
        fields = line.split(b",")
        if len(fields) != COLUMNS:
            return f"line {number} has {len(fields)} field(s), expected {COLUMNS}"
        for field in fields:
            try:
                float(field)
            except ValueError:
                text = field.decode(errors="replace")
                return f"line {number}: {text!r} is not a number"
    return None


def _one_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- report


class Finding(BaseModel):
    """One problem over one period (or, with ``periods`` > 1, a summary of those not listed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind
    start: datetime
    end: datetime
    count: int
    detail: str
    blocking: bool
    periods: int = 1

    @property
    def period(self) -> str:
        return f"{_minute(self.start)}..{_minute(self.end)}"

    def line(self) -> str:
        status = "blocking" if self.blocking else "not blocking"
        return f"{self.kind} {self.period}: {self.detail} ({status})"


class PreflightReport(BaseModel):
    """What the recording holds over [warmup_start, end) and what is wrong with it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    parameter: str = "data_file"
    data_file: Path
    start: datetime
    end: datetime
    warmup_start: datetime
    rows: int  # rows in the whole recording
    rows_checked: int  # rows whose open time falls in [warmup_start, end)
    first: datetime | None  # open time of the earliest candle recorded
    last: datetime | None  # open time of the latest candle recorded
    findings: tuple[Finding, ...] = ()

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    @property
    def ok(self) -> bool:
        return not self.blocking

    def of_kind(self, kind: Kind) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def lines(self) -> list[str]:
        """One human line per finding."""
        return [f.line() for f in self.findings]

    def markdown(self) -> str:
        """A heading sentence and a table of the findings."""
        verdict = "ok" if self.ok else f"blocked by {len(self.blocking)} finding(s)"
        recorded = (
            f"{_minute(self.first)}..{_minute(self.last + timedelta(minutes=1))}"
            if self.first is not None and self.last is not None
            else "nothing"
        )
        head = (
            f"Preflight of `{self.data_file}` for {_compact(self.start)}..{_compact(self.end)} "
            f"(warm-up from {_compact(self.warmup_start)}): {self.rows} rows recorded "
            f"({recorded}), {self.rows_checked} in the checked span; {verdict}."
        )
        if not self.findings:
            return f"{head}\n\nNo findings.\n"
        table = [
            "| kind | period | count | blocking | detail |",
            "|---|---|---:|---|---|",
            *(
                f"| {f.kind} | {f.period} | {_amount(f.count, f.kind)} | "
                f"{'yes' if f.blocking else 'no'} | {_cell(f.detail)} |"
                for f in self.findings
            ),
        ]
        return head + "\n\n" + "\n".join(table) + "\n"


# --------------------------------------------------------------------------- preflight


@dataclass(frozen=True)
class _Periods:
    """Periods of one kind as arrays (seconds, end exclusive), in order of start."""

    start: np.ndarray
    end: np.ndarray
    count: np.ndarray
    blocking: np.ndarray

    @classmethod
    def empty(cls) -> _Periods:
        none = np.empty(0, dtype=np.int64)
        return cls(none, none, none, np.empty(0, dtype=bool))


def _runs(minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first and of the last minute of each run of consecutive minutes.

    ``minutes`` are sorted and unique open times in seconds.
    """
    if len(minutes) == 0:
        none = np.empty(0, dtype=np.int64)
        return none, none
    breaks = np.flatnonzero(np.diff(minutes) != MINUTE_S)
    return np.r_[0, breaks + 1], np.r_[breaks, len(minutes) - 1]


def _listed(
    kind: Kind, periods: _Periods, detail: Callable[[int], str], limit: int, noun: str
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
                detail=f"{len(rest)} more {noun} not listed ({_amount(total, kind)})",
                blocking=flag,
                periods=len(rest),
            )
        )
    return found


def _coverage(
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
    need = f"the run needs candles from {_minute(from_seconds(lo))}"
    if hours:
        need += f" ({hours} h of warm-up for the metrics before the start {_minute(start)})"
    found = []
    if first > lo:
        found.append(
            finding(
                lo,
                min(first, hi),
                f"the recording starts at {_minute(from_seconds(first))}; {need}",
            )
        )
    if last + MINUTE_S < hi:
        found.append(
            finding(
                max(last + MINUTE_S, lo),
                hi,
                f"the recording ends at {_minute(from_seconds(last + MINUTE_S))} "
                f"(last candle opens {_minute(from_seconds(last))}), "
                f"before the end {_minute(from_seconds(hi))}",
            )
        )
    return found


def _gaps(minutes: np.ndarray, lo: int, hi: int) -> _Periods:
    """Runs of minutes missing in [lo, hi), the part of the span the recording covers."""
    if hi <= lo:
        return _Periods.empty()
    edges = np.concatenate(([lo - MINUTE_S], minutes, [hi])).astype(np.int64)
    at = np.flatnonzero(np.diff(edges) > MINUTE_S)
    start, end = edges[at] + MINUTE_S, edges[at + 1]
    return _Periods(start, end, (end - start) // MINUTE_S, np.ones(len(at), dtype=bool))


def _unsorted(ts: np.ndarray, rows: np.ndarray) -> tuple[_Periods, np.ndarray]:
    """Rows that come after a later minute in the file, and the first line of each period."""
    if len(ts) < 2:
        return _Periods.empty(), np.empty(0, dtype=np.int64)
    late = np.r_[False, ts[1:] < np.maximum.accumulate(ts)[:-1]]
    if not late.any():
        return _Periods.empty(), np.empty(0, dtype=np.int64)
    late_t, late_rows = ts[late], rows[late]
    order = np.argsort(late_t, kind="stable")
    late_t, late_rows = late_t[order], late_rows[order]
    idx = np.flatnonzero(np.r_[True, late_t[1:] != late_t[:-1]])
    minutes = late_t[idx]
    per_minute = np.diff(np.r_[idx, len(late_t)])
    first_row = np.minimum.reduceat(late_rows, idx)
    s, e = _runs(minutes)
    periods = _Periods(
        minutes[s],
        minutes[e] + MINUTE_S,
        np.add.reduceat(per_minute, s),
        np.ones(len(s), dtype=bool),
    )
    return periods, np.minimum.reduceat(first_row, s) + 2


def _duplicates(
    raw: RawRecording, srows: np.ndarray, st: np.ndarray
) -> tuple[_Periods, np.ndarray]:
    """Minutes recorded more than once: conflicting values block, identical copies do not.

    Returns the periods and, for each, how many distinct minutes it spans.
    """
    same = st[1:] == st[:-1]
    if not same.any():
        return _Periods.empty(), np.empty(0, dtype=np.int64)
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
        s, e = _runs(minutes[sel])
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
    return _Periods(start[order], end[order], count[order], blocking[order]), spans[order]


def _violations(raw: RawRecording, rows: np.ndarray) -> np.ndarray:
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


def _ohlc(raw: RawRecording, srows: np.ndarray, st: np.ndarray, limit: int) -> list[Finding]:
    bits = _violations(raw, srows)
    bad = bits != 0
    if not bad.any():
        return []
    bad_t, bad_bits, bad_rows = st[bad], bits[bad], srows[bad]
    idx = np.flatnonzero(np.r_[True, bad_t[1:] != bad_t[:-1]])
    minutes = bad_t[idx]
    s, e = _runs(minutes)
    # Row ranges of each period within the bad rows, for the listed periods' details.
    bounds = np.r_[idx, len(bad_t)]
    row_lo, row_hi = bounds[s], bounds[e + 1]
    periods = _Periods(minutes[s], minutes[e] + MINUTE_S, row_hi - row_lo, np.ones(len(s), bool))

    def detail(i: int) -> str:
        part = bad_bits[row_lo[i] : row_hi[i]]
        failed = [
            f"{name} ({np.count_nonzero(part & (1 << bit))})"
            for bit, name in enumerate(OHLC_CHECKS)
            if np.any(part & (1 << bit))
        ]
        line = int(bad_rows[row_lo[i] : row_hi[i]].min()) + 2
        return f"{row_hi[i] - row_lo[i]} row(s) fail: {', '.join(failed)}; first at line {line}"

    return _listed("ohlc", periods, detail, limit, "OHLC-invalid stretch(es)")


def _zero_volume(volume: np.ndarray, minutes: np.ndarray, at_least: int) -> _Periods:
    zero = minutes[volume == 0]
    s, e = _runs(zero)
    length = e - s + 1
    keep = length >= at_least
    s, e = s[keep], e[keep]
    return _Periods(zero[s], zero[e] + MINUTE_S, length[keep], np.zeros(len(s), dtype=bool))


def _check_parameters(
    start: datetime, end: datetime, warmup_hours: int, zero_volume_minutes: int, listed: int
) -> None:
    if end <= start:
        raise ParameterError(f"end {_minute(end)} must be after start {_minute(start)}")
    if warmup_hours < 0:
        raise ParameterError(f"warmup_hours must be 0 or more, got {warmup_hours}")
    if zero_volume_minutes < 1:
        raise ParameterError(f"zero_volume_minutes must be 1 or more, got {zero_volume_minutes}")
    if listed < 0:
        raise ParameterError(f"max_findings_listed must be 0 or more, got {listed}")


def _sorted_by_time(ts: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows in time order, file order among equal times (so the first copy comes first)."""
    if len(ts) < 2 or bool(np.all(ts[1:] >= ts[:-1])):
        return ts, rows  # the usual case: skip the sort
    order = np.argsort(ts, kind="stable")
    return ts[order], rows[order]


def preflight(
    raw: RawRecording,
    start: datetime,
    end: datetime,
    warmup_hours: int,
    *,
    zero_volume_minutes: int = 60,
    max_findings_listed: int = 50,
) -> PreflightReport:
    """Check the recording over [start - warmup_hours, end) and report what is wrong.

    Coverage shortfalls, gaps, unsorted rows, conflicting duplicates and OHLC
    violations block; identical duplicates and zero-volume stretches of at
    least ``zero_volume_minutes`` are listed without blocking. At most
    ``max_findings_listed`` periods are listed per kind, the rest summarised.
    """
    start, end = utc(start), utc(end)
    _check_parameters(start, end, warmup_hours, zero_volume_minutes, max_findings_listed)
    warmup_start = start - timedelta(hours=warmup_hours)
    # Candle open times are whole minutes: t >= x and t < x both hold as for x rounded up.
    lo, hi = _ceil_minute(to_seconds(warmup_start)), _ceil_minute(to_seconds(end))
    first = int(raw.t.min()) if len(raw) else None
    last = int(raw.t.max()) if len(raw) else None

    rows = np.flatnonzero((raw.t >= lo) & (raw.t < hi))  # file order
    ts = raw.t[rows]
    st, srows = _sorted_by_time(ts, rows)
    new = np.r_[True, st[1:] != st[:-1]] if len(st) else np.empty(0, dtype=bool)
    minutes, kept = st[new], srows[new]  # each minute once, its first row kept
    limit = max_findings_listed

    findings = _coverage(first, last, lo, hi, start, warmup_hours)
    if first is not None and last is not None:
        gaps = _gaps(minutes, max(lo, first), min(hi, last + MINUTE_S))
        findings += _listed(
            "gap", gaps, lambda i: f"{gaps.count[i]} minute(s) missing", limit, "gap(s)"
        )
    unsorted, first_line = _unsorted(ts, rows)
    findings += _listed(
        "unsorted",
        unsorted,
        lambda i: (
            f"{unsorted.count[i]} row(s) come after later minutes in the file, "
            f"first at line {first_line[i]}"
        ),
        limit,
        "unsorted stretch(es)",
    )
    dups, spans = _duplicates(raw, srows, st)
    findings += _listed(
        "duplicate",
        dups,
        lambda i: (
            f"{spans[i]} minute(s) recorded more than once, "
            + (
                f"with conflicting values ({dups.count[i]} extra row(s))"
                if dups.blocking[i]
                else f"identical copies ({dups.count[i]} extra row(s); the first is kept)"
            )
        ),
        limit,
        "duplicate stretch(es)",
    )
    findings += _ohlc(raw, srows, st, limit)
    quiet = _zero_volume(raw.volume[kept], minutes, zero_volume_minutes)
    findings += _listed(
        "zero_volume",
        quiet,
        lambda i: f"{quiet.count[i]} consecutive minute(s) with zero volume",
        limit,
        "zero-volume stretch(es)",
    )
    return PreflightReport(
        parameter=raw.parameter,
        data_file=raw.path,
        start=start,
        end=end,
        warmup_start=warmup_start,
        rows=len(raw),
        rows_checked=len(rows),
        first=from_seconds(first) if first is not None else None,
        last=from_seconds(last) if last is not None else None,
        findings=tuple(findings),
    )


# --------------------------------------------------------------------------- outcome


def clean(raw: RawRecording, report: PreflightReport) -> CandleSeries:
    """The minutes of the report's span [warmup_start, end), sorted and unique.

    Rows failing the OHLC checks are dropped first, so a minute whose first
    copy is broken keeps a sound later copy; otherwise the first copy is kept
    and a minute with no sound row becomes a gap.
    """
    if raw.path != report.data_file:
        raise ValueError(f"report is for {report.data_file}, not {raw.path}")
    lo = _ceil_minute(to_seconds(report.warmup_start))
    hi = _ceil_minute(to_seconds(report.end))
    rows = np.flatnonzero((raw.t >= lo) & (raw.t < hi))
    rows = rows[_violations(raw, rows) == 0]
    t = raw.t[rows]
    if len(t) > 1 and not bool(np.all(t[1:] > t[:-1])):
        _, first = np.unique(t, return_index=True)  # index of each minute's first row
        rows = rows[first]
    return CandleSeries(
        Interval.MINUTE,
        raw.t[rows],
        raw.open[rows],
        raw.high[rows],
        raw.low[rows],
        raw.close[rows],
        raw.volume[rows],
    )


_NOUNS = {
    "gap": "gap(s)",
    "unsorted": "unsorted stretch(es)",
    "duplicate": "stretch(es) of conflicting duplicates",
    "ohlc": "OHLC-invalid stretch(es)",
}


def _kind_summary(kind: str, found: Sequence[Finding]) -> str:
    periods = sum(f.periods for f in found)
    total = sum(f.count for f in found)
    if kind == "coverage":
        return f"not covered {', '.join(f.period for f in found)} ({_amount(total, kind)})"
    return f"{periods} {_NOUNS[kind]} ({_amount(total, kind)}), first {found[0].period}"


def _failure_message(report: PreflightReport, allow_gaps: bool) -> str:
    blocking = report.blocking
    kinds = ("coverage",) if allow_gaps else KINDS
    parts = [
        _kind_summary(kind, found)
        for kind in kinds
        if (found := [f for f in blocking if f.kind == kind])
    ]
    if any(f.kind == "coverage" for f in blocking):
        hours = round((report.start - report.warmup_start).total_seconds() / 3600)
        advice = (
            f"allow_gaps cannot help with a coverage shortfall: the run needs candles from "
            f"{_compact(report.warmup_start)} ({hours} h of warm-up) to {_compact(report.end)}, "
            f"so use a longer recording or move start/end"
        )
    else:
        advice = "rerun with allow_gaps to run anyway"
    return (
        f"{report.parameter} {report.data_file} fails preflight for "
        f"{_compact(report.start)}..{_compact(report.end)}: {'; '.join(parts)}; {advice}"
    )


class PreflightFailed(DataError):
    """The recording has blocking findings; ``report`` holds them all."""

    def __init__(self, report: PreflightReport, allow_gaps: bool = False):
        self.report = report
        self.allow_gaps = allow_gaps
        super().__init__(_failure_message(report, allow_gaps))

    def __reduce__(self):  # a failed run's result is pickled by Prefect: keep it readable
        return (type(self), (self.report, self.allow_gaps))


def require_ok(report: PreflightReport, allow_gaps: bool) -> None:
    """Raise PreflightFailed if findings block the run.

    ``allow_gaps`` lets a run proceed over gaps and the other blocking findings
    (:func:`clean` sorts, de-duplicates and drops invalid rows), but never over
    a coverage shortfall: the metrics would start without their warm-up.
    """
    blocking = report.blocking
    if not blocking:
        return
    if allow_gaps and all(f.kind != "coverage" for f in blocking):
        return
    raise PreflightFailed(report, allow_gaps)
