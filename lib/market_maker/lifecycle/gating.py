"""Restart gates attached to the hours' metrics files: a fold over consecutive hours."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from market_maker.grids.book import GridBook
from market_maker.lifecycle.gates import GateInputs, step
from market_maker.lifecycle.settings import GateSettings
from market_maker.regime.model import MetricsFile, schema_for
from market_maker.timeutil import HOUR


def _value(metrics: MetricsFile | None, name: str) -> float | None:
    if metrics is None:
        return None
    record = metrics.metrics.get(name)  # type: ignore[call-overload]
    return record.value if record is not None else None


def inputs_of(metrics: MetricsFile, previous: MetricsFile | None) -> GateInputs:
    return GateInputs(
        hour=metrics.hour,
        verdict=str(metrics.verdict) if metrics.verdict else None,
        adx=_value(metrics, "adx"),
        adx_previous=_value(previous, "adx"),
        normalized_slope=_value(metrics, "normalized_slope"),
        ou_half_life=_value(metrics, "ou_half_life"),
        autocorrelation=_value(metrics, "autocorrelation"),
        bollinger_bandwidth=_value(metrics, "bollinger_bandwidth"),
    )


def with_gates(
    metrics: MetricsFile, previous: MetricsFile | None, book: GridBook, cfg: GateSettings
) -> MetricsFile:
    """``metrics`` with the restart gates of its hour when the symbol's grid was stopped
    and none runs; as it was otherwise. ``previous`` is the hour before (None: missing,
    and the gates start again: a gap never lets a gate pass unseen)."""
    stop = book.last_stop(metrics.symbol, metrics.hour)
    if stop is None:
        if metrics.gate_evaluation is None:
            return metrics
        return metrics.model_copy(
            update={
                "gate_evaluation": None,
                "schema_version": schema_for(gates=False, period_minutes=metrics.period_minutes),
            }
        )
    before = previous.gate_evaluation if previous is not None else None
    gates = step(before, stop, inputs_of(metrics, previous), cfg)
    return metrics.model_copy(
        update={
            "gate_evaluation": gates,
            "schema_version": schema_for(gates=True, period_minutes=metrics.period_minutes),
        }
    )


def attach(
    records: Iterable[MetricsFile],
    book: GridBook,
    cfg: GateSettings,
    stored: Callable[[str, datetime], MetricsFile | None],
) -> list[MetricsFile]:
    """Gates for hours in order; the hour before the first (or a gap) is read by ``stored``."""
    out: list[MetricsFile] = []
    for metrics in records:
        previous = out[-1] if out and out[-1].hour == metrics.hour - HOUR else None
        if previous is None:
            previous = stored(metrics.symbol, metrics.hour - HOUR)
        out.append(with_gates(metrics, previous, book, cfg))
    return out
