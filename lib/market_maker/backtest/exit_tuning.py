"""Walk-forward tuning of the exit signals: fit and choose on one year, report on another.

For each direction (train year -> test year):

1. fit the break-risk model on the training year's protocol-grid hours (both widths);
2. run every candidate setting on the training year at both widths and choose one by a
   rule fixed in advance: the highest pooled EAW with pooled FER under 30 %, else the
   lowest FER (ties: the lower FER, then fewer alerts);
3. run the configuration as it stood (``before``) and the choice (``after``) on the test
   year, which neither the fit nor the choice read.

The training curve (FER against warned share for every candidate) is kept beside the test
figures of the same candidates, so the trade-off can be seen where it was chosen and where
it was tested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from market_maker.backtest.break_fit import (
    Fit,
    Samples,
    distance_only,
    fit,
    log_loss,
    samples,
)
from market_maker.backtest.exit_signals import Study, study
from market_maker.backtest.parameters import BacktestParameters, parse_parameters
from market_maker.backtest.runner import Outcome, _feed, backtest, load_cached
from market_maker.config import Settings
from market_maker.kpis.model import Kpi

WIDTHS = (4.0, 8.0)
YEARS = {
    "2022": ("2022-01-18T00:00:00Z", "2023-01-01T00:00:00Z"),
    "2023": ("2023-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
}
THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
PERSISTENCE = (3, 0)  # the LATEST persistence rule as it is, and off
EDGE_BAND = (0.10, 0.0)  # the LATEST "trend near an edge" rule as it is, and off
WARNING_GAP = 0.15  # the WARNING condition sits this far below the LATEST threshold
FER_TARGET, EAW_TARGET = 0.30, 0.80
POLICIES = ("system", "static_stop", "no_exit")
# "Before": the rules without the break-risk model, whatever the configuration now says.
BEFORE = {
    "exit_strategy.break_risk.enabled": False,
    "exit_strategy.latest_acceptable_exit.warning_persistence": 3,
    "exit_strategy.latest_acceptable_exit.edge_band": 0.10,
}


@dataclass
class CaseFigures:
    """One run (a year at one width) under one setting."""

    width: float
    fer: tuple[int, int]  # false, judged
    eaw: tuple[int, int]  # warned, breaks
    pnl: dict[str, float]  # per policy
    mec: dict[str, float | None]
    alerts_per_week: dict[int, float]
    study: Study | None = None


@dataclass
class Pooled:
    label: str
    values: dict[str, Any]
    cases: list[CaseFigures]

    def _sum(self, name: str) -> tuple[int, int]:
        pairs = [getattr(c, name) for c in self.cases]
        return sum(a for a, _ in pairs), sum(b for _, b in pairs)

    @property
    def fer(self) -> float | None:
        a, b = self._sum("fer")
        return a / b if b else None

    @property
    def eaw(self) -> float | None:
        a, b = self._sum("eaw")
        return a / b if b else None

    def alerts(self, priority: int) -> float:
        return round(sum(c.alerts_per_week.get(priority, 0.0) for c in self.cases), 2)


@dataclass
class Direction:
    train: str
    test: str
    model: Fit
    chosen: dict[str, Any]
    out_of_sample_log_loss: dict[str, float]  # model and distance-only fit, on the test year
    curve_train: list[Pooled] = field(default_factory=list)
    curve_test: list[Pooled] = field(default_factory=list)
    before: dict[str, Pooled] = field(default_factory=dict)  # year -> figures
    after: dict[str, Pooled] = field(default_factory=dict)


def params_for(data_file: str, year: str, width: float) -> BacktestParameters:
    start, end = YEARS[year]
    return parse_parameters(
        {"data_file": data_file, "start": start, "end": end, "half_width_pct": width}
    )


def run_case(
    data_file: str,
    settings: Settings,
    year: str,
    width: float,
    overrides: dict[str, Any],
    *,
    keep_study: bool = False,
) -> CaseFigures:
    p = params_for(data_file, year, width).model_copy(update={"overrides": overrides})
    outcome: Outcome = backtest(p, settings, load_cached(p, settings), code_version="study")
    v = outcome.report.variants
    kpis = v["system"].kpis
    fer, eaw = kpis[Kpi.FER], kpis[Kpi.EAW]
    st = study(outcome.run, settings.notifications)
    return CaseFigures(
        width=width,
        fer=(int(fer.numerator or 0), fer.denominator),
        eaw=(int(eaw.numerator or 0), eaw.denominator),
        pnl={name: v[name].pnl for name in POLICIES},
        mec={name: v[name].kpis[Kpi.MEC].value for name in POLICIES},
        alerts_per_week=st.alerts_per_week(),
        study=st if keep_study else None,
    )


def year_samples(data_file: str, settings: Settings, year: str) -> Samples:
    out: Samples | None = None
    for width in WIDTHS:
        p = params_for(data_file, year, width)
        s = samples(_feed(p, settings, load_cached(p, settings)), p)
        out = s if out is None else out + s
    assert out is not None
    return out


def model_overrides(model: Fit) -> dict[str, Any]:
    return {"exit_strategy.break_risk.enabled": True} | {
        f"exit_strategy.break_risk.coefficients.{k}": v for k, v in model.coefficients.items()
    }


def candidates(model: Fit) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for persistence in PERSISTENCE:
        for edge in EDGE_BAND:
            for threshold in THRESHOLDS:
                off = [
                    name
                    for name, is_off in (("persistence", persistence == 0), ("edge", edge == 0))
                    if is_off
                ]
                label = f"p>={threshold:.2f}" + (f", {' and '.join(off)} off" if off else "")
                values = model_overrides(model) | {
                    "exit_strategy.break_risk.latest_above": threshold,
                    "exit_strategy.break_risk.warning_above": round(threshold - WARNING_GAP, 2),
                    "exit_strategy.latest_acceptable_exit.warning_persistence": persistence,
                    "exit_strategy.latest_acceptable_exit.edge_band": edge,
                }
                out.append((label, values))
    return out


def choose(curve: list[Pooled]) -> Pooled:
    """The highest EAW with FER under target; else the lowest FER."""

    def fer(p: Pooled) -> float:
        return p.fer if p.fer is not None else 1.0

    def eaw(p: Pooled) -> float:
        return p.eaw if p.eaw is not None else 0.0

    feasible = [p for p in curve if fer(p) < FER_TARGET]
    if feasible:
        return max(feasible, key=lambda p: (eaw(p), -fer(p), -p.alerts(1)))
    return min(curve, key=lambda p: (fer(p), -eaw(p), p.alerts(1)))


def pooled(
    data_file: str,
    settings: Settings,
    year: str,
    label: str,
    overrides: dict[str, Any],
    *,
    keep_study: bool = False,
) -> Pooled:
    cases = [
        run_case(data_file, settings, year, w, overrides, keep_study=keep_study) for w in WIDTHS
    ]
    return Pooled(label, overrides, cases)


def walk_forward(
    data_file: str,
    settings: Settings,
    train: str,
    test: str,
    say: Callable[[str], None] = lambda text: None,
) -> Direction:
    train_data = year_samples(data_file, settings, train)
    test_data = year_samples(data_file, settings, test)
    model = fit(train_data)
    losses = {
        "model": round(log_loss(model, test_data), 4),
        "distance only": round(log_loss(fit(distance_only(train_data)), test_data), 4),
        "base rate only": round(
            log_loss(fit(Samples(0 * train_data.x, train_data.y)), test_data), 4
        ),
    }
    say(f"fitted on {train}: {model.coefficients}; log loss on {test}: {losses}")
    curve_train, curve_test = [], []
    for label, overrides in candidates(model):
        curve_train.append(pooled(data_file, settings, train, label, overrides))
        curve_test.append(pooled(data_file, settings, test, label, overrides))
        say(f"{label}: train FER {curve_train[-1].fer} EAW {curve_train[-1].eaw}")
    best = choose(curve_train)
    direction = Direction(train, test, model, best.values, losses, curve_train, curve_test)
    for year in (train, test):
        direction.before[year] = pooled(
            data_file, settings, year, "before", BEFORE, keep_study=year == test
        )
        direction.after[year] = pooled(
            data_file, settings, year, best.label, best.values, keep_study=year == test
        )
    return direction


def stamp() -> str:
    return f"{datetime.now():%Y-%m-%d}"
