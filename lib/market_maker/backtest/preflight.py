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

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

from market_maker.backtest import recording_checks as checks
from market_maker.backtest.recording import (
    KINDS,
    MINUTE_S,
    Finding,
    PreflightReport,
    RawRecording,
    amount,
    ceil_minute,
    compact,
)
from market_maker.backtest.stored import PARAMETER as STORED
from market_maker.base.candles import CandleSeries, Interval
from market_maker.base.errors import DataError
from market_maker.base.timeutil import from_seconds, to_seconds, utc


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
    checks.check_parameters(start, end, warmup_hours, zero_volume_minutes, max_findings_listed)
    warmup_start = start - timedelta(hours=warmup_hours)
    # Candle open times are whole minutes: t >= x and t < x both hold as for x rounded up.
    lo, hi = ceil_minute(to_seconds(warmup_start)), ceil_minute(to_seconds(end))
    first = int(raw.t.min()) if len(raw) else None
    last = int(raw.t.max()) if len(raw) else None

    rows = np.flatnonzero((raw.t >= lo) & (raw.t < hi))  # file order
    ts = raw.t[rows]
    st, srows = checks.sorted_by_time(ts, rows)
    new = np.r_[True, st[1:] != st[:-1]] if len(st) else np.empty(0, dtype=bool)
    minutes, kept = st[new], srows[new]  # each minute once, its first row kept
    limit = max_findings_listed

    findings = checks.coverage(first, last, lo, hi, start, warmup_hours)
    if first is not None and last is not None:
        gaps = checks.gaps(minutes, max(lo, first), min(hi, last + MINUTE_S))
        findings += checks.listed(
            "gap", gaps, lambda i: f"{gaps.count[i]} minute(s) missing", limit, "gap(s)"
        )
    unsorted, first_line = checks.unsorted(ts, rows)
    findings += checks.listed(
        "unsorted",
        unsorted,
        lambda i: (
            f"{unsorted.count[i]} row(s) come after later minutes in the file, "
            f"first at line {first_line[i]}"
        ),
        limit,
        "unsorted stretch(es)",
    )
    dups, spans = checks.duplicates(raw, srows, st)
    findings += checks.listed(
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
    findings += checks.ohlc_findings(raw, srows, st, limit)
    quiet = checks.zero_volume(raw.volume[kept], minutes, zero_volume_minutes)
    findings += checks.listed(
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
    lo = ceil_minute(to_seconds(report.warmup_start))
    hi = ceil_minute(to_seconds(report.end))
    rows = np.flatnonzero((raw.t >= lo) & (raw.t < hi))
    rows = rows[checks.violations(raw, rows) == 0]
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
        return f"not covered {', '.join(f.period for f in found)} ({amount(total, kind)})"
    return f"{periods} {_NOUNS[kind]} ({amount(total, kind)}), first {found[0].period}"


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
        remedy = "backfill them" if report.parameter == STORED else "use a longer recording"
        advice = (
            f"allow_gaps cannot help with a coverage shortfall: the run needs candles from "
            f"{compact(report.warmup_start)} ({hours} h of warm-up) to {compact(report.end)}, "
            f"so {remedy} or move start/end"
        )
    else:
        advice = "rerun with allow_gaps to run anyway"
    return (
        f"{report.parameter} {report.data_file} fails preflight for "
        f"{compact(report.start)}..{compact(report.end)}: {'; '.join(parts)}; {advice}"
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
