"""The replay exchange: recorded 1-minute candles served as if live, with a settable clock."""

from __future__ import annotations

import gzip
import io
import threading
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from market_maker.base.candles import CandleSeries, FetchResult, Interval, aggregate
from market_maker.base.errors import ConfigurationError, DataError
from market_maker.base.timeutil import from_seconds, to_seconds, utc
from market_maker.exchange.base import MarketSummary

HEADER = "timestamp_ms,open,high,low,close,volume"

_cache: dict[tuple[str, int, int], dict[Interval, CandleSeries]] = {}
_cache_lock = threading.Lock()


def load_recorded_minutes(path: Path) -> CandleSeries:
    """Read a CSV(.gz) of 1-minute candles (``timestamp_ms,open,high,low,close,volume``)."""
    return _load(path)[Interval.MINUTE]


def _load(path: Path) -> dict[Interval, CandleSeries]:
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ConfigurationError(f"replay.data_file {path} does not exist") from None
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        if key not in _cache:
            minutes = _read_csv(path)
            _cache[key] = {
                Interval.MINUTE: minutes,
                Interval.HOUR: aggregate(minutes, Interval.HOUR),
                Interval.FOUR_HOURS: aggregate(minutes, Interval.FOUR_HOURS),
            }
        return _cache[key]


def _read_csv(path: Path) -> CandleSeries:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"replay.data_file {path}: not a readable gzip file ({exc})") from None
    header = raw.split(b"\n", 1)[0].decode(errors="replace").strip()
    if header != HEADER:
        raise DataError(f"replay.data_file {path}: header must be {HEADER!r}, found {header!r}")
    try:
        rows = np.loadtxt(io.BytesIO(raw), delimiter=",", skiprows=1, ndmin=2)
    except ValueError as exc:
        raise DataError(f"replay.data_file {path}: unreadable row ({exc})") from None
    if rows.shape[1] != 6:
        raise DataError(f"replay.data_file {path}: expected 6 columns, found {rows.shape[1]}")
    rows[:, 0] = rows[:, 0] // 1000
    minutes = CandleSeries.from_rows(Interval.MINUTE, rows)
    if np.any(np.diff(minutes.t) <= 0):
        bad = int(np.flatnonzero(np.diff(minutes.t) <= 0)[0]) + 2
        raise DataError(f"replay.data_file {path}: rows not sorted and unique near line {bad + 1}")
    if np.any(minutes.t % 60):
        raise DataError(f"replay.data_file {path}: timestamps must be whole minutes")
    return minutes


class ReplayExchange:
    """Serves recorded candles for one symbol; 1h and 4h candles are aggregated from the minutes.

    The clock (``now``) defaults to the end of the recording and can be moved
    with :meth:`set_now`. Nothing that has not closed at ``now`` is ever
    returned: this is what makes replays free of lookahead.
    """

    name = "replay"

    def __init__(self, data_file: Path, symbol: str, now: datetime | None = None):
        self.data_file = data_file
        self.symbol = symbol
        self._series = _load(data_file)
        minutes = self._series[Interval.MINUTE]
        if len(minutes) == 0:
            raise DataError(f"replay.data_file {data_file} holds no candles")
        self.first = from_seconds(int(minutes.t[0]))
        self.end = from_seconds(int(minutes.t[-1]) + 60)
        self._now = self.end
        if now is not None:
            self.set_now(now)

    def set_now(self, now: datetime) -> None:
        self._now = utc(now)

    def now(self) -> datetime:
        return self._now

    def candles(
        self, symbol: str, interval: Interval, start: datetime, end: datetime
    ) -> FetchResult:
        self._check_symbol(symbol)
        step = interval.seconds
        closed_end = to_seconds(self._now) // step * step
        end = min(utc(end), from_seconds(closed_end))
        start = utc(start)
        if end <= start:
            return FetchResult(CandleSeries.empty(interval))
        series = self._series[interval].between(start, end)
        # The recording's own bounds are not gaps at the source: report only
        # missing candles inside the recorded span.
        lo, hi = max(start, self.first), min(end, self.end)
        checked = FetchResult.checked(series, lo, hi) if lo < hi else FetchResult(series)
        return checked

    def market_summary(self, symbol: str) -> MarketSummary | None:
        """Last price and 24h figures from the minutes closed at ``now``; no order book."""
        self._check_symbol(symbol)
        # Only minutes closed at ``now``: the minute under way is not known yet.
        closed = from_seconds(to_seconds(self._now) // 60 * 60)
        day = self._series[Interval.MINUTE].between(closed - timedelta(hours=24), closed)
        if len(day) == 0:
            return None
        return MarketSummary(
            as_of=self._now,
            last=float(day.close[-1]),
            high_24h=float(day.high.max()),
            low_24h=float(day.low.min()),
            volume_24h=float(day.volume.sum()),
        )

    def _check_symbol(self, symbol: str) -> None:
        if symbol != self.symbol:
            raise ConfigurationError(
                f"the replay exchange serves {self.symbol} from {self.data_file}; "
                f"{symbol} was asked for (set replay.symbol or replay.data_file)"
            )
