"""Restart gates after a stop: energy decay, then mean reversion, then tradable volatility.

Evaluated every hour after a symbol's grid was stopped, from that hour's metrics and the
gates' state the hour before. A gate is evaluated only once the one before it has passed
(in an earlier hour or earlier in the same evaluation), and stays passed; a TREND verdict
resets every gate. No setup is recommended for the symbol until all three have passed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from market_maker.base.timeutil import HOUR
from market_maker.base.types import FrozenModel, UtcPeriodStart
from market_maker.config.lifecycle import GateSettings
from market_maker.grids.book import GridBook
from market_maker.regime.gate_records import GATES, Gate, GateEvaluation, GateRecord
from market_maker.regime.model import AnalysedHour, MetricsFile, schema_for


class GateInputs(FrozenModel):
    """What the gates read from an hour's analysis."""

    hour: UtcPeriodStart
    verdict: str | None
    adx: float | None
    adx_previous: float | None
    normalized_slope: float | None
    ou_half_life: float | None
    autocorrelation: float | None
    bollinger_bandwidth: float | None


def _check(gate: Gate, x: GateInputs, cfg: GateSettings) -> tuple[bool, dict, str]:
    """(passes, values, reason) of one gate at this hour."""
    if gate is Gate.ENERGY_DECAY:
        c = cfg.energy_decay
        values = {"adx": x.adx, "adx_previous": x.adx_previous, "slope": x.normalized_slope}
        if x.adx is None or x.normalized_slope is None:
            return False, values, "ADX or slope not computable"
        falling = x.adx_previous is None or x.adx <= x.adx_previous
        ok = x.adx < c.adx_below and falling and abs(x.normalized_slope) <= c.max_abs_slope
        return (
            ok,
            values,
            (
                f"ADX {x.adx:.1f} (below {c.adx_below:g} and falling: "
                f"{'yes' if x.adx < c.adx_below and falling else 'no'}), |slope| "
                f"{abs(x.normalized_slope):.2f} (at most {c.max_abs_slope:g})"
            ),
        )
    if gate is Gate.MEAN_REVERSION:
        c = cfg.mean_reversion
        values = {"ou_half_life": x.ou_half_life, "autocorrelation": x.autocorrelation}
        if x.ou_half_life is None or x.autocorrelation is None:
            return False, values, "half-life or autocorrelation not computable"
        ok = x.ou_half_life <= c.max_half_life_hours and x.autocorrelation <= c.max_autocorrelation
        return (
            ok,
            values,
            (
                f"half-life {x.ou_half_life:.0f} h (at most {c.max_half_life_hours:g}), "
                f"autocorrelation {x.autocorrelation:+.2f} (at most {c.max_autocorrelation:+g})"
            ),
        )
    c = cfg.tradable_volatility
    values = {"bollinger_bandwidth": x.bollinger_bandwidth}
    if x.bollinger_bandwidth is None:
        return False, values, "bandwidth not computable"
    ok = c.min_bandwidth <= x.bollinger_bandwidth <= c.max_bandwidth
    return (
        ok,
        values,
        (
            f"bandwidth {100 * x.bollinger_bandwidth:.2f} % (tradable: "
            f"{100 * c.min_bandwidth:g}-{100 * c.max_bandwidth:g} %)"
        ),
    )


def step(
    previous: GateEvaluation | None, since_stop: datetime, x: GateInputs, cfg: GateSettings
) -> GateEvaluation:
    """The gates after hour ``x``, from their state the hour before (None: just stopped)."""
    if previous is None or previous.since_stop != since_stop:
        previous = GateEvaluation(since_stop=since_stop)
    if x.verdict == "TREND":
        return GateEvaluation(
            since_stop=since_stop,
            reset="TREND: every gate starts again" if previous.next_gate != GATES[0] else None,
        )
    records: dict[str, GateRecord] = {}
    blocked = False
    for gate in GATES:
        before = previous.record(gate)
        if before.status == "passed":
            records[gate.value] = before
            continue
        if blocked:
            records[gate.value] = GateRecord()
            continue
        ok, values, reason = _check(gate, x, cfg)
        records[gate.value] = GateRecord(
            status="passed" if ok else "pending",
            at=x.hour if ok else None,
            values=values,
            reason=reason,
        )
        blocked = not ok
    return GateEvaluation(since_stop=since_stop, **records)


def inputs_of(metrics: AnalysedHour, previous: AnalysedHour | None) -> GateInputs:
    """What the gates read of an hour's analysis (its metrics file, or the backtest's)."""
    return GateInputs(
        hour=metrics.hour,
        verdict=str(metrics.verdict) if metrics.verdict else None,
        adx=metrics.value("adx"),
        adx_previous=previous.value("adx") if previous is not None else None,
        normalized_slope=metrics.value("normalized_slope"),
        ou_half_life=metrics.value("ou_half_life"),
        autocorrelation=metrics.value("autocorrelation"),
        bollinger_bandwidth=metrics.value("bollinger_bandwidth"),
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
