"""The regime analysis: one implementation for a single snapshot and for a range of hours.

``analyze_frames`` evaluates any set of hours over continuous 1h/4h candle
series. The live path hands it one snapshot's own windows; the range path
hands it the candles of all stored snapshots. Every window is cut from the
series the same way and the kernels compute a window the same way alone or
in a batch, so a verdict is identical whichever path produced it.

Under an hour (``snapshots.period_minutes``) a period is analysed on the last 1h bar
closed when it ends (:func:`analyze_periods`): the metrics, votes and verdict history
are those of that bar, in hours as always; only the price (the period's last close) and
what depends on it (the grid penalties of the confidence) move within the hour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np

from market_maker.base.candles import CandleSeries
from market_maker.base.timeutil import from_seconds, last_closed_bar, to_seconds
from market_maker.config.regime import METRIC_NAMES, MetricName, RegimeSettings
from market_maker.regime import kernels
from market_maker.regime.classifier import (
    EFFECTS,
    FAMILY,
    MISSING,
    classify,
    confirm,
    score,
    verdict,
)
from market_maker.regime.confidence import (
    GridView,
    base_confidence,
    combine,
    confirmation_penalty,
    grid_penalties,
    missing_metrics,
    short_history,
)
from market_maker.regime.gate_records import GateEvaluation
from market_maker.regime.metrics import VOTE_NAMES, MetricBatch, compute_timeframe, windows
from market_maker.regime.model import (
    ConfirmationRecord,
    HistoryRecord,
    MetricRecord,
    MetricsFile,
    PenaltyRecord,
    RangeRecord,
    Verdict,
    schema_for,
)
from market_maker.regime.range_discovery import METHOD, discover
from market_maker.snapshots.model import GridStatusRecord, Snapshot

FOUR_HOURS_S = 4 * 3600


@dataclass(frozen=True)
class Frames:
    """Continuous candle series of one symbol: closed 1h and 4h candles, oldest first."""

    h1: CandleSeries
    h4: CandleSeries

    @classmethod
    def of(cls, snapshot: Snapshot) -> Frames:
        return cls(snapshot.series("candles_1h"), snapshot.series("candles_4h"))


@dataclass
class TimeframeEvaluation:
    metrics: dict[MetricName, MetricBatch]
    score: np.ndarray
    computable: np.ndarray
    codes: np.ndarray


def evaluate(
    frames: Frames, hours: np.ndarray, cfg: RegimeSettings
) -> tuple[TimeframeEvaluation, ...]:
    """Metrics and verdict codes on 1h and on closed 4h candles at each hour (Unix seconds)."""
    pos = np.searchsorted(frames.h1.t, hours)
    if len(frames.h1) == 0:
        present = np.zeros(len(hours), dtype=bool)
    else:
        present = (pos < len(frames.h1)) & (
            frames.h1.t[np.minimum(pos, len(frames.h1) - 1)] == hours
        )
    ends_1h = np.where(present, pos, -1)
    # The last 4h candle closed when the hour ends: open time + 4h <= hour + 1h.
    ends_4h = np.searchsorted(frames.h4.t, hours + 3600 - FOUR_HOURS_S, side="right") - 1
    out = []
    for timeframe, series, ends in (("1h", frames.h1, ends_1h), ("4h", frames.h4, ends_4h)):
        batches = compute_timeframe(series, ends, cfg.timeframes[timeframe])
        value, computable, weight = score(batches, cfg.weights)
        codes = classify(value, computable, weight, cfg.classification)
        out.append(TimeframeEvaluation(batches, value, computable, codes))
    out[0].codes = np.where(present, out[0].codes, MISSING)
    return tuple(out)


@dataclass
class RegimeBatch:
    """The analysis of many hours in columnar form; :meth:`record` materialises one hour."""

    symbol: str
    hours: np.ndarray
    cfg: RegimeSettings
    h1: TimeframeEvaluation
    h4: TimeframeEvaluation
    final: np.ndarray
    effect: np.ndarray
    age: np.ndarray
    previous: np.ndarray
    base: np.ndarray
    price: np.ndarray
    volatility: np.ndarray
    ranges: dict[str, np.ndarray]
    grids: list[GridStatusRecord | None]
    penalties: list[list[PenaltyRecord]] = field(default_factory=list)
    confidence: np.ndarray = field(default_factory=lambda: np.empty(0))
    period_minutes: int = 60  # ``hours`` are period starts under 60

    def index(self, hour: datetime) -> int:
        at = to_seconds(hour)
        hours = self.hours
        # The hours are usually every period from the first: try where it would sit then.
        i = (at - int(hours[0])) // (60 * self.period_minutes) if len(hours) else 0
        if not (0 <= i < len(hours) and hours[i] == at):
            i = int(np.searchsorted(hours, at))
        if i >= len(hours) or hours[i] != at:
            raise KeyError(f"hour {hour} was not analysed")
        return int(i)

    def record(
        self,
        i: int,
        *,
        snapshot_path: str,
        collected_at: datetime | None,
        config_version: str,
        code_version: str,
    ) -> MetricsFile:
        code = int(self.final[i])
        refused = code < 0
        return MetricsFile(
            schema_version=schema_for(gates=False, period_minutes=self.period_minutes),
            symbol=self.symbol,
            period_minutes=self.period_minutes,
            hour=from_seconds(int(self.hours[i])),
            status="INSUFFICIENT_METRICS" if refused else "OK",
            verdict=verdict(code),
            verdict_1h=verdict(int(self.h1.codes[i])),
            score=_finite(self.h1.score[i]),
            confidence=None if refused else float(self.confidence[i]),
            confidence_base=None if refused else round(float(self.base[i]), 4),
            penalties=self.penalties[i],
            metrics=_metric_records(self.h1.metrics, i, "1h"),
            metrics_computable=int(self.h1.computable[i]),
            confirmation_4h=ConfirmationRecord(
                verdict=verdict(int(self.h4.codes[i])),
                score=_finite(self.h4.score[i]),
                metrics_computable=int(self.h4.computable[i]),
                effect=EFFECTS[int(self.effect[i])],
                metrics=_metric_records(self.h4.metrics, i, "4h"),
            ),
            range=self._range(i),
            history=HistoryRecord(
                hours_in_regime=int(self.age[i]) + 1 if not refused else 0,
                lookback_hours=self.cfg.history_hours,
                previous_verdict=verdict(int(self.previous[i])),
            ),
            price=float(self.price[i]),
            grid=self.grids[i],
            snapshot=snapshot_path,
            snapshot_collected_at=collected_at,
            config_version=config_version,
            code_version=code_version,
        )

    def view(self, i: int, *, confidence: float | None = None) -> BatchHour:
        """Hour ``i`` as the decisions read it (``confidence``: instead of the analysis' own,
        e.g. with the penalties of a grid in force)."""
        refused = int(self.final[i]) < 0
        own = None if refused else float(self.confidence[i])
        hour = from_seconds(int(self.hours[i]))
        return BatchHour(self, i, hour, own if confidence is None or refused else confidence)

    def _range(self, i: int) -> RangeRecord | None:
        r = self.ranges
        if np.isnan(r["lower"][i]):
            return None
        return RangeRecord(
            lower=round(float(r["lower"][i]), 8),
            upper=round(float(r["upper"][i]), 8),
            width_pct=round(float(r["width_pct"][i]), 4),
            inside_share=round(float(r["inside_share"][i]), 4),
            window=self.cfg.range_discovery.window,
            method=METHOD,
        )


@dataclass(frozen=True, slots=True)
class BatchHour:
    """One hour of a batch, read as its metrics file would be read
    (:class:`~market_maker.regime.model.AnalysedHour`), without materialising the file."""

    batch: RegimeBatch
    i: int
    hour: datetime
    confidence: float | None
    gate_evaluation: GateEvaluation | None = None

    @property
    def symbol(self) -> str:
        return self.batch.symbol

    @property
    def price(self) -> float:
        return float(self.batch.price[self.i])

    @property
    def verdict(self) -> Verdict | None:
        return verdict(int(self.batch.final[self.i]))

    @property
    def verdict_1h(self) -> Verdict | None:
        return verdict(int(self.batch.h1.codes[self.i]))

    @property
    def verdict_4h(self) -> Verdict | None:
        return verdict(int(self.batch.h4.codes[self.i]))

    @property
    def previous_verdict(self) -> Verdict | None:
        return verdict(int(self.batch.previous[self.i]))

    @property
    def range(self) -> RangeRecord | None:
        return self.batch._range(self.i)

    def value(self, name: MetricName) -> float | None:
        m = self.batch.h1.metrics[name]
        return None if m.errors[self.i] is not None else float(m.values[self.i])

    def detail(self, name: MetricName, key: str) -> float | None:
        series = self.batch.h1.metrics[name].details.get(key)
        if series is None or not np.isfinite(series[self.i]):
            return None
        return float(series[self.i])


def analyze_frames(
    symbol: str,
    frames: Frames,
    targets: list[datetime],
    cfg: RegimeSettings,
    grids: dict[datetime, GridStatusRecord | None] | None = None,
) -> RegimeBatch:
    """Analyse the ``targets`` hours over ``frames``, with the verdict history behind each."""
    target_s = np.array(sorted({to_seconds(t) for t in targets}), dtype=np.int64)
    lookback = cfg.history_hours
    # Evaluate each target and the lookback hours behind it, each hour once.
    offsets = np.arange(lookback, -1, -1, dtype=np.int64) * 3600
    evaluated = np.unique((target_s[:, None] - offsets[None, :]).ravel())
    ev1, ev4 = evaluate(frames, evaluated, cfg)
    final_all, effect_all = confirm(ev1.codes, ev4.codes)
    final_all = np.where(ev1.codes == MISSING, MISSING, final_all)
    age_all, previous_all = _history(evaluated, final_all, lookback)

    sel = np.searchsorted(evaluated, target_s)
    h1 = _take(ev1, sel)
    h4 = _take(ev4, sel)
    final = final_all[sel]
    ends = np.searchsorted(frames.h1.t, target_s)
    ends = np.where(final == MISSING, -1, ends)
    weights = np.array([getattr(cfg.weights, n) for n in METRIC_NAMES])
    votes = np.stack([h1.metrics[n].votes for n in METRIC_NAMES])
    ok = np.stack([h1.metrics[n].computable for n in METRIC_NAMES])
    batch = RegimeBatch(
        symbol=symbol,
        hours=target_s,
        cfg=cfg,
        h1=h1,
        h4=h4,
        final=final,
        effect=effect_all[sel],
        age=age_all[sel],
        previous=previous_all[sel],
        base=base_confidence(final, votes, ok, weights),
        price=np.where(ends >= 0, frames.h1.close[np.maximum(ends, 0)], np.nan),
        volatility=_volatility(frames.h1, ends, cfg.confidence.grid.volatility_window),
        ranges=discover(frames.h1, ends, cfg.range_discovery),
        grids=[(grids or {}).get(from_seconds(int(t))) for t in target_s],
    )
    _apply_confidence(batch)
    return batch


def analyze_periods(
    symbol: str,
    frames: Frames,
    starts: list[datetime],
    prices: list[float],
    cfg: RegimeSettings,
    period_minutes: int,
    grids: dict[datetime, GridStatusRecord | None] | None = None,
) -> RegimeBatch:
    """Analyse periods shorter than an hour: each on the last 1h bar closed at its end.

    ``prices``: each period's last close. Periods sharing a bar share its metrics, votes,
    verdict and history; their price, grid and so their confidence are their own.
    """
    order = sorted(range(len(starts)), key=lambda k: starts[k])
    starts = [starts[k] for k in order]
    bars = [last_closed_bar(s, period_minutes) for s in starts]
    by_bar = analyze_frames(symbol, frames, bars, cfg)
    sel = np.searchsorted(by_bar.hours, np.array([to_seconds(b) for b in bars], dtype=np.int64))
    batch = RegimeBatch(
        symbol=symbol,
        hours=np.array([to_seconds(s) for s in starts], dtype=np.int64),
        cfg=cfg,
        h1=_take(by_bar.h1, sel),
        h4=_take(by_bar.h4, sel),
        final=by_bar.final[sel],
        effect=by_bar.effect[sel],
        age=by_bar.age[sel],
        previous=by_bar.previous[sel],
        base=by_bar.base[sel],
        price=np.array([prices[k] for k in order], dtype=np.float64),
        volatility=by_bar.volatility[sel],
        ranges={k: v[sel] for k, v in by_bar.ranges.items()},
        grids=[(grids or {}).get(s) for s in starts],
        period_minutes=period_minutes,
    )
    _apply_confidence(batch)
    return batch


def analyze(
    snapshot: Snapshot,
    cfg: RegimeSettings,
    *,
    config_version: str,
    code_version: str,
    path: str,
    grid: GridStatusRecord | Literal["snapshot"] | None = "snapshot",
) -> MetricsFile:
    """The live path: one snapshot, analysed from its own candle windows.

    ``grid``: the grid in force at the hour (from the grid files); by default
    the grid the snapshot recorded at collection.
    """
    in_force = snapshot.grid if grid == "snapshot" else grid
    if snapshot.period_minutes != 60:
        last = snapshot.price(snapshot.minutes[-1].c)
        batch = analyze_periods(
            snapshot.symbol,
            Frames.of(snapshot),
            [snapshot.hour],
            [last],
            cfg,
            snapshot.period_minutes,
            {snapshot.hour: in_force},
        )
    else:
        batch = analyze_frames(
            snapshot.symbol, Frames.of(snapshot), [snapshot.hour], cfg, {snapshot.hour: in_force}
        )
    return batch.record(
        0,
        snapshot_path=path,
        collected_at=snapshot.collected_at,
        config_version=config_version,
        code_version=code_version,
    )


def _history(hours: np.ndarray, final: np.ndarray, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """Per hour: hours its verdict family has held before it (capped) and the previous verdict."""
    k = len(hours)
    age = np.zeros(k, dtype=np.int64)
    previous = np.full(k, MISSING, dtype=np.int64)
    family = np.where(final >= 0, FAMILY[np.maximum(final, 0)], -1)
    for i in range(k):
        if i and hours[i - 1] == hours[i] - 3600:
            previous[i] = final[i - 1]
        if family[i] < 0:
            continue
        j, n = i - 1, 0
        while n < lookback and j >= 0 and hours[j] == hours[i] - (n + 1) * 3600:
            if family[j] != family[i]:
                break
            n, j = n + 1, j - 1
        age[i] = n
    return age, previous


def _take(ev: TimeframeEvaluation, sel: np.ndarray) -> TimeframeEvaluation:
    metrics = {
        name: MetricBatch(
            b.name,
            b.window,
            b.values[sel],
            b.votes[sel],
            [b.errors[i] for i in sel.tolist()],
            b.params,
            {k: v[sel] for k, v in b.details.items()},
        )
        for name, b in ev.metrics.items()
    }
    return TimeframeEvaluation(metrics, ev.score[sel], ev.computable[sel], ev.codes[sel])


def _volatility(series: CandleSeries, ends: np.ndarray, window: int) -> np.ndarray:
    out = np.full(len(ends), np.nan)
    ok = ends >= window - 1
    if ok.any():
        _, _, sigma = kernels.normalized_slope(windows(series.close, ends[ok], window))
        out[ok] = sigma
    return out


def _apply_confidence(batch: RegimeBatch) -> None:
    cfg = batch.cfg.confidence
    k = len(batch.hours)
    batch.penalties = [[] for _ in range(k)]
    batch.confidence = np.full(k, np.nan)
    for i in range(k):
        code = int(batch.final[i])
        if code < 0:
            continue
        missing = [n for n in METRIC_NAMES if batch.h1.metrics[n].errors[i] is not None]
        candidates = [
            missing_metrics(missing, cfg),
            short_history(int(batch.age[i]), cfg),
            confirmation_penalty(code, int(batch.h4.codes[i]), cfg),
        ]
        penalties = [p for p in candidates if p is not None]
        grid = batch.grids[i]
        if grid is not None and grid.running:
            view = GridView(
                grid,
                float(batch.price[i]),
                from_seconds(int(batch.hours[i])),
                float(batch.volatility[i]),
            )
            penalties += grid_penalties(view, cfg.grid)
        batch.penalties[i] = penalties
        batch.confidence[i] = combine(float(batch.base[i]), penalties, cfg)


def _metric_records(
    metrics: dict[MetricName, MetricBatch], i: int, timeframe: str
) -> dict[MetricName, MetricRecord]:
    out = {}
    for name, b in metrics.items():
        error = b.errors[i]
        out[name] = MetricRecord(
            value=None if error else float(b.values[i]),
            timeframe=timeframe,  # type: ignore[arg-type]
            window=b.window,
            vote=None if error else VOTE_NAMES[int(b.votes[i])],  # type: ignore[arg-type]
            error=error,
            params=b.params,
            details={k: float(v[i]) for k, v in b.details.items() if np.isfinite(v[i])},
        )
    return out


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


__all__ = ["Frames", "RegimeBatch", "analyze", "analyze_frames", "analyze_periods", "evaluate"]
