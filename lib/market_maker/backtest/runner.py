"""A backtest from parameters to report: load, preflight, run, gather every figure."""

from __future__ import annotations

import gc
import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from market_maker.backtest.feed import Feed
from market_maker.backtest.parameters import BacktestParameters, apply_overrides
from market_maker.backtest.preflight import clean, preflight, require_ok
from market_maker.backtest.recording import (
    PreflightReport,
    RawRecording,
    compact,
    minute,
    read_recording,
    recorded_span,
)
from market_maker.backtest.results import BacktestReport, DataHealth
from market_maker.backtest.run import BacktestRun, Progress, run_backtest
from market_maker.backtest.scoring import (
    figures,
    grid_figures,
    headline,
    money,
    series,
    summary,
)
from market_maker.backtest.stored import StoredMinutes
from market_maker.backtest.stored import digest as stored_digest
from market_maker.backtest.sweep import POINT_POLICIES, PointFigures, SweepPoint, SweepResult
from market_maker.base.candles import CandleSeries
from market_maker.base.errors import ParameterError
from market_maker.base.timeutil import HOUR, floor_hour
from market_maker.config import Settings


def warmup_hours(settings: Settings) -> int:
    """History the metrics need before the first hour: the snapshot's longest window."""
    return max(settings.snapshots.window_1h, 4 * settings.snapshots.window_4h)


def data_path(params: BacktestParameters, settings: Settings) -> Path:
    path = Path(params.data_file) if params.data_file else settings.replay.data_file
    return path if path.is_absolute() else settings.project_root / path


def check_period(params: BacktestParameters, settings: Settings) -> None:
    """Before a run: the recording exists and spans the period and the warm-up before it,
    by its first and last rows (the preflight then checks every row). A ParameterError names
    the first hour (or the last) the recording allows. Without a recording the minutes come
    from the data repository, brought up to date inside the run: its preflight checks them."""
    if params.data_file is None:
        return
    path = data_path(params, settings)
    first, last = recorded_span(path)
    hours = warmup_hours(settings)
    earliest = floor_hour(first + timedelta(hours=hours) - timedelta(seconds=1)) + HOUR
    if params.start < earliest:
        raise ParameterError(
            f"start {compact(params.start)}: the metrics need {hours} h of warm-up and the "
            f"recording starts at {minute(first)}; start at {compact(earliest)} or later"
        )
    latest = floor_hour(last + timedelta(minutes=1))
    if params.end > latest:
        raise ParameterError(
            f"end {compact(params.end)}: the recording ends at "
            f"{minute(last + timedelta(minutes=1))}; end at {compact(latest)} or earlier"
        )


@dataclass
class LoadedData:
    path: Path
    minutes: CandleSeries
    preflight: PreflightReport
    digest: str  # identifies the recording's content for the run name

    def health(self, allow_gaps: bool) -> DataHealth:
        r = self.preflight
        return DataHealth(
            data_file=str(self.path),
            rows=r.rows,
            first=r.first,
            last=r.last,
            ok=r.ok,
            allow_gaps=allow_gaps,
            findings=r.lines(),
        )


def load(
    params: BacktestParameters, settings: Settings, stored: StoredMinutes | None = None
) -> LoadedData:
    """Read the minutes (the recording ``data_file``; without one, the snapshots ``stored``
    in the data repository) and check their health over the period and the warm-up; a
    failing preflight raises (one line) unless ``allow_gaps``."""
    if params.data_file is None and stored is not None:
        warmup_start = params.start - timedelta(hours=warmup_hours(settings))
        raw = stored.recording(params.symbol, warmup_start, params.end)
        digest = stored_digest(raw)
    else:
        raw = _read_cached(data_path(params, settings))
        stat = raw.path.stat()
        digest = hashlib.sha1(
            f"{raw.path.name}:{stat.st_size}:{len(raw)}:{raw.t[:1].tolist()}:"
            f"{raw.t[-1:].tolist()}".encode(),
            usedforsecurity=False,
        ).hexdigest()
    report = preflight(raw, params.start, params.end, warmup_hours(settings))
    require_ok(report, params.allow_gaps)
    return LoadedData(raw.path, clean(raw, report), report, digest)


@dataclass
class Outcome:
    report: BacktestReport
    run: BacktestRun

    def series(self) -> dict:
        return series(self.run)


def backtest(
    params: BacktestParameters,
    settings: Settings,
    data: LoadedData,
    *,
    code_version: str,
    progress: Progress | None = None,
) -> Outcome:
    """Run ``params`` on ``data`` with the settings (and the parameters' overrides)."""
    effective = apply_overrides(settings, params.overrides)
    feed = _feed(params, effective, data)
    run = run_backtest(params, effective, data.minutes, progress, feed)
    variants = figures(run)
    config_version = effective.config_version
    name = params.run_name(run_digest(params, config_version, data.digest))
    report = BacktestReport(
        name=name,
        symbol=params.symbol,
        start=params.start,
        end=params.end,
        parameters=params,
        preflight=data.health(params.allow_gaps),
        variants=variants,
        headline=headline(variants),
        grids=grid_figures(run),
        hours=run.hour_rows(),
        config_version=config_version,
        code_version=code_version,
    )
    return Outcome(report, run)


def point_figures(params: BacktestParameters, settings: Settings, data: LoadedData) -> PointFigures:
    """A sweep point's figures on one period: :func:`backtest` without the report, and only
    the two policies a point is ranked by, simulated and scored."""
    effective = apply_overrides(settings, params.overrides)
    feed = _feed(params, effective, data)
    system, held = POINT_POLICIES
    run = run_backtest(
        params, effective, data.minutes, feed=feed, policies=POINT_POLICIES, kpis=(system,)
    )
    return PointFigures.of(
        params.start,
        params.end,
        summary(run.variants[system], params.start, params.end),
        money(run.variants[held]),
    )


def point_result(
    point: SweepPoint, settings: Settings, stored: StoredMinutes | None = None
) -> SweepResult:
    """One point of a sweep on its training and its test period (a worker process reads the
    minutes once and keeps their analysis for the next points that share them)."""
    fit = point_figures(point.train, settings, load_cached(point.train, settings, stored))
    held_out = point_figures(point.test, settings, load_cached(point.test, settings, stored))
    return SweepResult.of(point, fit, held_out)


# Allocations between two collections of the youngest objects (Python's default: 700). A
# replay allocates millions of small objects (observations, conditions, evaluations) that
# live until its figures are in; collecting them every 700 allocations costs a replay about
# a tenth of its time (docs/benchmarks.md).
YOUNG_GARBAGE_THRESHOLD = 10_000


def replay_worker() -> None:
    """Set up a worker process that runs replay after replay (a sweep's, a study's): the
    garbage collector looks at young objects less often. Only for processes of their own."""
    young, older, oldest = gc.get_threshold()
    gc.set_threshold(max(YOUNG_GARBAGE_THRESHOLD, young), older, oldest)


_FEEDS: dict[tuple, Feed] = {}
_FEEDS_LOCK = threading.Lock()
# A long-lived process (a worker running sweep after sweep) keeps the last few recordings and
# feeds, not every one it ever read: a year of minutes is about 50 MB.
CACHED = 4


def _remember(cache: dict, key: tuple, value: object) -> None:
    """Keep ``value`` under ``key``, dropping the oldest entry beyond ``CACHED``."""
    if key not in cache and len(cache) >= CACHED:
        cache.pop(next(iter(cache)))
    cache[key] = value


def _feed(params: BacktestParameters, settings: Settings, data: LoadedData) -> Feed:
    """The analysis of a period, kept for the next point of a sweep that only changes the
    grids or the exit rules (the regime settings and the data are part of the key)."""
    key = (data.digest, params.symbol, params.start, params.end, settings.regime.model_dump_json())
    with _FEEDS_LOCK:
        if key not in _FEEDS:
            feed = Feed.build(
                params.symbol, data.minutes, params.start, params.end, settings.regime
            )
            _remember(_FEEDS, key, feed)
        return _FEEDS[key]


_LOADED: dict[tuple, LoadedData] = {}
_RECORDINGS: dict[tuple, RawRecording] = {}


def _read_cached(path: Path) -> RawRecording:
    """The recording at ``path``, read once per process while the file stays the same (a
    sweep's training and test periods come from one file)."""
    stat = path.stat() if path.exists() else None
    key = (str(path), stat and (stat.st_mtime_ns, stat.st_size))
    with _FEEDS_LOCK:
        if stat is not None and key in _RECORDINGS:
            return _RECORDINGS[key]
    raw = read_recording(path)
    with _FEEDS_LOCK:
        if stat is not None:
            _RECORDINGS.clear()  # one recording at a time: two years of minutes are ~50 MB
            _RECORDINGS[key] = raw
    return raw


def load_cached(
    params: BacktestParameters, settings: Settings, stored: StoredMinutes | None = None
) -> LoadedData:
    """:func:`load`, once per process for the same file, period and gap policy (sweep points
    in a worker process share it). The repository's minutes are read each time, from the
    columnar cache, which follows every change of the files."""
    if params.data_file is None and stored is not None:
        return load(params, settings, stored)
    path = data_path(params, settings)
    stat = path.stat() if path.exists() else None
    key = (str(path), stat and (stat.st_mtime_ns, stat.st_size), params.start, params.end,
           params.allow_gaps)  # fmt: skip
    with _FEEDS_LOCK:
        if key in _LOADED:
            return _LOADED[key]
    data = load(params, settings)
    with _FEEDS_LOCK:
        _remember(_LOADED, key, data)
    return data


def run_digest(params: BacktestParameters, config_version: str, data_digest: str) -> str:
    """Same parameters, configuration and data: same name (a rerun finds its report)."""
    payload = json.dumps(
        [params.model_dump(mode="json", exclude={"name"}), config_version, data_digest],
        sort_keys=True,
    )
    return hashlib.sha1(payload.encode(), usedforsecurity=False).hexdigest()
