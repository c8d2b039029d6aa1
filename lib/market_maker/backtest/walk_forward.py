"""The strategy study: the setup and exit policy chosen walk-forward across symbols, by money.

Every candidate policy (a combination of settings, plus "no grid") is replayed through the
live lifecycle on every cell (a symbol over a recording) of both halves of the data. For each
split the policy with the best objective on the tuning half is chosen, and reported on the
half the choice never saw: every cell, the system against each baseline on the very same
grids with a bootstrap interval over grids, its drawdown, its FER. The shipped policy is the
same choice over both halves together.

The objective, fixed before any run (config/strategy_study.yaml): J = net PnL after fees
minus ``drawdown_penalty`` x the maximum drawdown of the summed equity curve. Not trading
scores 0, so "no grid" wins wherever no candidate earns more than its drawdown costs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import Field

from market_maker.backtest.feed import Feed
from market_maker.backtest.parameters import BacktestParameters, apply_overrides
from market_maker.backtest.preflight import clean, preflight, require_ok
from market_maker.backtest.recording import read_recording
from market_maker.backtest.run import BacktestRun, run_backtest
from market_maker.base.candles import CandleSeries
from market_maker.base.errors import ParameterError
from market_maker.base.timeutil import from_seconds
from market_maker.base.types import FrozenModel, UtcHour
from market_maker.config import Settings
from market_maker.kpis.compute import kpis

SETUP_ON = "lifecycle.setup.enabled"
NO_GRID: dict[str, Any] = {SETUP_ON: False}
HOUR_S = 3600


class StudyCell(FrozenModel):
    symbol: str
    label: str
    file: str = Field(description="The recording, relative to the data folder.")
    start: UtcHour | None = Field(None, description="Default: the first hour after warm-up.")
    end: UtcHour | None = Field(None, description="Default: the recording's last full hour.")


class StudyHalf(FrozenModel):
    name: str
    cells: list[StudyCell]


class StudyBacktest(FrozenModel):
    capital: float = 10_000.0
    fee_rate: float = 0.001
    exit_fee_rate: float = 0.001
    delay_minutes: int = 15
    act_on: str = "LATEST_ACCEPTABLE_EXIT"


class StudyProtocol(FrozenModel):
    half_width_pct: list[float]
    levels: int = 20
    cadence_hours: int = 168


class FerCurve(FrozenModel):
    setting: str
    values: list[float]


class Bootstrap(FrozenModel):
    draws: int = 2000
    interval: float = 0.90
    seed: int = 0


class StudySettings(FrozenModel):
    """config/strategy_study.yaml."""

    drawdown_penalty: float = Field(ge=0)
    halves: list[StudyHalf] = Field(min_length=2, max_length=2)
    knobs: dict[str, list[Any]]
    backtest: StudyBacktest = StudyBacktest()
    protocol: StudyProtocol
    fer_curve: FerCurve
    bootstrap: Bootstrap = Bootstrap()

    def candidates(self) -> list[dict[str, Any]]:
        """No grid first, then every combination of the knobs' values."""
        keys = list(self.knobs)
        combos = itertools.product(*(self.knobs[k] for k in keys))
        return [NO_GRID, *(dict(zip(keys, values, strict=True)) for values in combos)]


def settings_before_study(study: StudySettings) -> dict[str, Any]:
    """The candidate that is the lifecycle as designed before the study: each knob at the
    settings model's own default."""
    from market_maker.config.exit_strategy import LatestExitSettings
    from market_maker.config.lifecycle import SetupSettings

    defaults = {
        "lifecycle.setup": SetupSettings(),
        "exit_strategy.latest_acceptable_exit": LatestExitSettings(),
    }
    out = {}
    for key in study.knobs:
        section, _, name = key.rpartition(".")
        out[key] = getattr(defaults[section], name)
    return out


def load_study(path: Path) -> StudySettings:
    return StudySettings.model_validate(yaml.safe_load(path.read_text()))


@dataclass(frozen=True)
class CellData:
    """A cell's recording, checked and analysed once for every candidate."""

    cell: StudyCell
    minutes: CandleSeries
    start: datetime
    end: datetime
    feed: Feed


def load_cell(cell: StudyCell, data_dir: Path, settings: Settings, warmup_hours: int) -> CellData:
    path = data_dir / cell.file
    if not path.is_file():
        raise ParameterError(f"--data-dir: {path} does not exist (cell {cell.label})")
    raw = read_recording(path)
    first, last = int(raw.t.min()), int(raw.t.max())
    earliest = -(-(first + warmup_hours * HOUR_S) // HOUR_S) * HOUR_S
    start = max(cell.start, from_seconds(earliest)) if cell.start else from_seconds(earliest)
    latest = from_seconds((last + 60) // HOUR_S * HOUR_S)
    end = min(cell.end, latest) if cell.end else latest
    report = preflight(raw, start, end, warmup_hours)
    require_ok(report, allow_gaps=False)
    minutes = clean(raw, report)
    feed = Feed.build(cell.symbol, minutes, start, end, settings.regime)
    return CellData(cell, minutes, start, end, feed)


@dataclass
class Money:
    """One policy over one cell: what it earned, and its equity after every hour."""

    pnl: float
    fees: float
    pairs: int
    grids: int
    per_grid: np.ndarray  # net PnL of each grid
    hours: np.ndarray  # Unix seconds of each hour's start
    curve: np.ndarray  # cumulative PnL at each hour's end
    kpi: dict[str, tuple[float | None, float | None, int]] = field(default_factory=dict)

    @property
    def max_drawdown(self) -> float:
        return max_drawdown(self.curve)


def max_drawdown(curve: np.ndarray) -> float:
    if not len(curve):
        return 0.0
    peak = np.maximum.accumulate(np.r_[0.0, curve])[1:]
    return float(np.max(peak - curve))


def summed(monies: Iterable[Money]) -> np.ndarray:
    """The equity of several cells on one calendar: each cell's curve is 0 before its first
    hour and keeps its final figure after its last."""
    monies = [m for m in monies if len(m.hours)]
    if not monies:
        return np.zeros(0)
    axis = np.unique(np.concatenate([m.hours for m in monies]))
    total = np.zeros(len(axis))
    for m in monies:
        at = np.searchsorted(m.hours, axis, side="right") - 1
        total += np.where(at >= 0, m.curve[np.maximum(at, 0)], 0.0)
    return total


def objective(monies: Iterable[Money], penalty: float) -> tuple[float, float, float]:
    """(J, PnL, drawdown) of cells traded side by side."""
    monies = list(monies)
    pnl = sum(m.pnl for m in monies)
    drawdown = max_drawdown(summed(monies))
    return pnl - penalty * drawdown, pnl, drawdown


def money(run: BacktestRun, variant: str) -> Money:
    v = run.variants[variant]
    hours = np.arange(
        int(run.params.start.timestamp()), int(run.params.end.timestamp()), HOUR_S, dtype=np.int64
    )
    out = Money(
        pnl=float(sum(f.pnl for f in v.fills)),
        fees=float(sum(f.fees for f in v.fills)),
        pairs=sum(f.pairs for f in v.fills),
        grids=len(v.fills),
        per_grid=np.array([f.pnl for f in v.fills]),
        hours=hours,
        curve=run.pnl_curves[variant].astype(float),
    )
    if v.events:
        table = kpis(v.events, run.params.start, run.params.end)
        out.kpi = {k.value: (x.value, x.numerator, x.denominator) for k, x in table.items()}
    return out


def backtest_cell(
    data: CellData,
    study: StudySettings,
    settings: Settings,
    overrides: dict[str, Any],
    *,
    protocol_width: float | None = None,
    scored: bool = False,
) -> BacktestRun:
    """One candidate (settings ``overrides``) over one cell, with the system's own placement
    or, with ``protocol_width``, the protocol's grids."""
    b, p = study.backtest, study.protocol
    values: dict[str, Any] = {
        "symbol": data.cell.symbol,
        "start": data.start,
        "end": data.end,
        "placement": "system" if protocol_width is None else "protocol",
        "capital": b.capital,
        "fee_rate": b.fee_rate,
        "exit_fee_rate": b.exit_fee_rate,
        "delay_minutes": b.delay_minutes,
        "act_on": b.act_on,
        "levels": p.levels,
        "cadence_hours": p.cadence_hours,
    }
    if protocol_width is not None:
        values["half_width_pct"] = protocol_width
    params = BacktestParameters.model_validate(values)
    # Whatever the configuration ships (today "no grid"), a candidate is a policy that places
    # grids: the setup is on under every candidate but "no grid", whose override turns it off.
    tuned = apply_overrides(settings, {SETUP_ON: True, **overrides})
    return run_backtest(params, tuned, data.minutes, feed=data.feed, kpis=scored)


# -- the search ----------------------------------------------------------------------------

Mapper = Callable[[Callable[..., Any], list[Any]], list[Any]]


def serial_map(fn: Callable[..., Any], jobs: list[Any]) -> list[Any]:
    return [fn(job) for job in jobs]


@dataclass(frozen=True)
class SearchJob:
    cell: StudyCell
    data_dir: Path
    study: StudySettings
    settings: Settings
    candidates: list[int]  # indices into study.candidates()


def search_job(job: SearchJob) -> list[tuple[str, int, Money]]:
    """The system's money of some candidates over one cell (run in a worker process)."""
    data = load_cell(job.cell, job.data_dir, job.settings, warmup(job.settings))
    candidates = job.study.candidates()
    out = []
    for k in job.candidates:
        run = backtest_cell(data, job.study, job.settings, candidates[k])
        out.append((job.cell.label, k, money(run, "system")))
    return out


def warmup(settings: Settings) -> int:
    """History the metrics need before the first hour: the snapshot's longest window."""
    return max(settings.snapshots.window_1h, 4 * settings.snapshots.window_4h)


def search(
    study: StudySettings,
    settings: Settings,
    data_dir: Path,
    mapper: Mapper = serial_map,
    chunks: int = 2,
) -> dict[tuple[str, int], Money]:
    """Every candidate's system money on every cell of both halves. A long cell's candidates
    are split in ``chunks`` jobs (each worker analyses its cell once)."""
    n = len(study.candidates())
    jobs = []
    for half in study.halves:
        for cell in half.cells:
            parts = chunks if cell.label.startswith("ETH-20") else 1
            for part in range(parts):
                picked = list(range(part, n, parts))
                jobs.append(SearchJob(cell, data_dir, study, settings, picked))
    results: dict[tuple[str, int], Money] = {}
    for batch in mapper(search_job, jobs):
        for label, k, m in batch:
            results[(label, k)] = m
    return results


@dataclass(frozen=True)
class Choice:
    """The candidate with the best J over some cells, and its figures there."""

    index: int
    overrides: dict[str, Any]
    j: float
    pnl: float
    drawdown: float
    grids: int


def choose(
    study: StudySettings, results: dict[tuple[str, int], Money], labels: list[str]
) -> tuple[Choice, list[Choice]]:
    """The best candidate by J over the cells ``labels`` (ties: the earlier, so no grid
    wins a tie); and every candidate's figures there, best first."""
    candidates = study.candidates()
    scored = []
    for k, overrides in enumerate(candidates):
        monies = [results[(label, k)] for label in labels]
        j, pnl, dd = objective(monies, study.drawdown_penalty)
        grids = sum(m.grids for m in monies)
        scored.append(Choice(k, overrides, round(j, 2), round(pnl, 2), round(dd, 2), grids))
    ranked = sorted(scored, key=lambda c: (-c.j, c.index))
    return ranked[0], ranked


def interval(
    differences: list[np.ndarray], draws: int, level: float, rng: np.random.Generator
) -> tuple[float, float, float]:
    """(sum, low, high): the summed per-grid differences of cells, and a bootstrap interval
    resampling the grids of each cell (stratified by cell)."""
    total = float(sum(d.sum() for d in differences))
    sums = np.zeros(draws)
    for d in differences:
        if len(d):
            picks = rng.integers(0, len(d), size=(draws, len(d)))
            sums += d[picks].sum(axis=1)
    tail = (1 - level) / 2
    return total, float(np.quantile(sums, tail)), float(np.quantile(sums, 1 - tail))


def as_hour(seconds: int) -> datetime:
    return from_seconds(int(seconds))


def periods(data: CellData) -> str:
    return f"{data.start:%Y-%m-%d} .. {(data.end - timedelta(hours=1)):%Y-%m-%d}"
