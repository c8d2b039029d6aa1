"""A recorded 1-minute series read tolerantly (unsorted and duplicated rows kept as written),
and the report of what is wrong with it, period by period.

Periods are half-open, ``start..end`` with ``end`` the close of the last minute
concerned, so a gap ``10:03..10:40`` is 37 missing minutes.
"""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from market_maker.base.errors import DataError, ParameterError
from market_maker.base.timeutil import utc

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


def amount(count: int, kind: str) -> str:
    """``3 minutes``, ``1 extra row``: a finding's count with its unit."""
    unit = UNITS[kind]
    return f"{count} {unit[:-1] if count == 1 else unit}"


def minute(dt: datetime) -> str:
    return utc(dt).strftime("%Y-%m-%dT%H:%MZ")


def compact(dt: datetime) -> str:
    """``2023-01-01T00Z`` on the hour, ``2023-01-01T00:30Z`` otherwise."""
    dt = utc(dt)
    return dt.strftime("%Y-%m-%dT%HZ") if dt.minute == 0 and dt.second == 0 else minute(dt)


def cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|")


def ceil_minute(seconds: int) -> int:
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


def recorded_span(path: Path, *, parameter: str = "data_file") -> tuple[datetime, datetime]:
    """The open times of a recording's first and last rows, the rows between only streamed
    past (a fraction of a second for two years of minutes, where reading them all takes
    seconds): what a command checks a backtest's period against before it starts. Rows in
    time order are assumed here; the preflight checks them all.

    Raises ParameterError if the file does not exist, DataError if it is not a recording.
    """
    where = f"{parameter}: {path}"
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            header, first = f.readline(), f.readline()
            tail = first
            while chunk := f.read(1 << 20):
                tail = (tail + chunk)[-4096:]
    except FileNotFoundError:
        raise ParameterError(f"{parameter}: {path} does not exist") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{where}: cannot be read ({_one_line(exc)})") from None
    found = header.decode(errors="replace").strip()
    if found != HEADER:
        raise DataError(f"{where}: expected columns {HEADER}, found {found!r}")
    lines = tail.strip().splitlines()
    if not first.strip() or not lines:
        raise DataError(f"{where}: holds no candles")
    return _open_time(first, where), _open_time(lines[-1], where)


def _open_time(line: bytes, where: str) -> datetime:
    try:
        ms = float(line.split(b",", 1)[0])
    except ValueError:
        text = line.decode(errors="replace").strip()[:60]
        raise DataError(f"{where}: {text!r} does not start with a timestamp_ms") from None
    return datetime.fromtimestamp(ms // 1000, tz=UTC)


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
        return f"{minute(self.start)}..{minute(self.end)}"

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
            f"{minute(self.first)}..{minute(self.last + timedelta(minutes=1))}"
            if self.first is not None and self.last is not None
            else "nothing"
        )
        head = (
            f"Preflight of `{self.data_file}` for {compact(self.start)}..{compact(self.end)} "
            f"(warm-up from {compact(self.warmup_start)}): {self.rows} rows recorded "
            f"({recorded}), {self.rows_checked} in the checked span; {verdict}."
        )
        if not self.findings:
            return f"{head}\n\nNo findings.\n"
        table = [
            "| kind | period | count | blocking | detail |",
            "|---|---|---:|---|---|",
            *(
                f"| {f.kind} | {f.period} | {amount(f.count, f.kind)} | "
                f"{'yes' if f.blocking else 'no'} | {cell(f.detail)} |"
                for f in self.findings
            ),
        ]
        return head + "\n\n" + "\n".join(table) + "\n"
