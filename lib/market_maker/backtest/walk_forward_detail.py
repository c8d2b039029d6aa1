"""The out-of-sample side of the strategy study: each split's chosen policy on the half its
choice never saw, cell by cell, against every baseline on the very same grids; the protocol
grids' exit comparison; the FER against the share of breaks warned; the targets."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from market_maker.backtest.results import BASELINES
from market_maker.backtest.run import BacktestRun
from market_maker.backtest.walk_forward import (
    NO_GRID,
    Choice,
    Mapper,
    Money,
    StudyCell,
    StudySettings,
    backtest_cell,
    choose,
    interval,
    load_cell,
    max_drawdown,
    money,
    objective,
    serial_map,
    summed,
    warmup,
)
from market_maker.config import Settings

POLICIES = ("system", "system_stop_order", "no_exit", "static_stop", "adx_rule")


@dataclass
class CellDetail:
    """One cell of a report half under one placement: every policy's money."""

    label: str
    placement: str  # "system", or "protocol ±x %"
    policies: dict[str, Money]
    fer: tuple[float, int] = (0.0, 0)  # the system's false exits, exit signals judged
    warned: tuple[float, int] = (0.0, 0)  # breaks warned ahead, breaks

    def difference(self, baseline: str) -> np.ndarray:
        """System minus ``baseline``, grid by grid (not trading: the system's own PnL)."""
        system = self.policies["system"].per_grid
        if baseline == "no_trading":
            return system
        return system - self.policies[baseline].per_grid


@dataclass(frozen=True)
class DetailJob:
    cell: StudyCell
    data_dir: Path
    study: StudySettings
    settings: Settings
    overrides: dict[str, Any]


def detail_job(job: DetailJob) -> list[CellDetail]:
    """The chosen policy over one cell: its own placement, the protocol grids, and the FER
    curve's points (each as the ±5 % protocol grids under one break-risk line)."""
    study, settings = job.study, job.settings
    data = load_cell(job.cell, job.data_dir, settings, warmup(settings))
    own = backtest_cell(data, study, settings, job.overrides, scored=True)
    out = [_detail(data.cell.label, "system", own)]
    for width in study.protocol.half_width_pct:
        run = backtest_cell(data, study, settings, job.overrides, protocol_width=width, scored=True)
        out.append(_detail(data.cell.label, f"protocol ±{width:g} %", run))
    curve = study.fer_curve
    for value in curve.values:
        overrides = {**job.overrides, curve.setting: value}
        run = backtest_cell(data, study, settings, overrides, protocol_width=5.0, scored=True)
        out.append(_detail(data.cell.label, f"curve {value:g}", run))
    return out


def _detail(label: str, placement: str, run: BacktestRun) -> CellDetail:
    policies = {name: money(run, name) for name in POLICIES}
    fer = policies["system"].kpi.get("FER", (None, 0.0, 0))
    eaw = policies["system"].kpi.get("EAW", (None, 0.0, 0))
    return CellDetail(label, placement, policies, (fer[1] or 0.0, fer[2]), (eaw[1] or 0.0, eaw[2]))


@dataclass
class PolicyReport:
    """One candidate on the half its choice never saw."""

    choice: Choice  # its figures on the tuning half
    oos: Choice  # and on the report half
    cells: list[CellDetail]  # the system's own placement, per report cell
    protocol: list[CellDetail]
    curve: list[CellDetail]
    intervals: dict[str, dict[str, tuple[float, float, float]]] = field(default_factory=dict)
    targets: dict[str, Any] = field(default_factory=dict)


@dataclass
class SplitReport:
    """Tuned on one half, reported on the other: the chosen policy, and the best policy that
    places grids (the trade-off when the choice is not to trade)."""

    tuned_on: str
    reported_on: str
    ranking: list[Choice]
    chosen: PolicyReport
    trade_off: PolicyReport | None


def split_reports(
    study: StudySettings,
    settings: Settings,
    data_dir: Path,
    results: dict[tuple[str, int], Money],
    mapper: Mapper = serial_map,
) -> list[SplitReport]:
    """Both directions: tune on one half (J only), report every cell of the other."""
    reports = []
    halves = study.halves
    for tuned, reported in ((halves[0], halves[1]), (halves[1], halves[0])):
        choice, ranking = choose(study, results, [c.label for c in tuned.cells])
        placing = next((c for c in ranking if c.overrides != NO_GRID), None)
        picked = [choice] + ([placing] if placing is not None and placing != choice else [])
        _, on_report_half = choose(study, results, [c.label for c in reported.cells])
        jobs = [
            DetailJob(cell, data_dir, study, settings, c.overrides)
            for c in picked
            for cell in reported.cells
        ]
        batches = mapper(detail_job, jobs)
        n = len(reported.cells)
        policies = [
            _policy_report(
                study,
                c,
                next(x for x in on_report_half if x.index == c.index),
                [d for batch in batches[k * n : (k + 1) * n] for d in batch],
            )
            for k, c in enumerate(picked)
        ]
        trade_off = policies[1] if len(policies) > 1 else None
        reports.append(SplitReport(tuned.name, reported.name, ranking, policies[0], trade_off))
    return reports


def _policy_report(
    study: StudySettings, choice: Choice, oos: Choice, details: list[CellDetail]
) -> PolicyReport:
    policy = PolicyReport(
        choice,
        oos,
        [d for d in details if d.placement == "system"],
        [d for d in details if d.placement.startswith("protocol")],
        [d for d in details if d.placement.startswith("curve")],
    )
    _intervals(policy, study)
    policy.targets = targets(policy)
    return policy


def _intervals(report: PolicyReport, study: StudySettings) -> None:
    b = study.bootstrap
    rng = np.random.default_rng(b.seed)
    for cell in report.cells:
        report.intervals[cell.label] = {
            name: interval([cell.difference(name)], b.draws, b.interval, rng) for name in BASELINES
        }
    report.intervals["all"] = {
        name: interval([c.difference(name) for c in report.cells], b.draws, b.interval, rng)
        for name in BASELINES
    }


def targets(report: PolicyReport) -> dict[str, Any]:
    """The four targets, out of sample, for the system's own placement and exits."""
    cells = report.cells
    pnl = sum(c.policies["system"].pnl for c in cells)
    beats = [
        c.label
        for c in cells
        if all(c.policies["system"].pnl >= c.policies[p].pnl - 1e-9 for p in POLICIES[1:])
        and c.policies["system"].pnl >= -1e-9
    ]
    dd = max_drawdown(summed(c.policies["system"] for c in cells))
    dd_static = max_drawdown(summed(c.policies["static_stop"] for c in cells))
    false, judged = (sum(c.fer[i] for c in cells) for i in (0, 1))
    return {
        "pnl": round(pnl, 2),
        "pnl_positive": pnl > 0,
        "cells_beating_every_baseline": f"{len(beats)}/{len(cells)}",
        "beats_in_75pct": len(beats) >= 0.75 * len(cells),
        "max_drawdown": round(dd, 2),
        "static_stop_max_drawdown": round(dd_static, 2),
        "drawdown_at_most_static": dd <= dd_static + 1e-9,
        "fer": f"{false:g}/{judged}",
        "fer_below_30pct": (false / judged < 0.30) if judged else None,
    }


def final_choice(
    study: StudySettings, results: dict[tuple[str, int], Money]
) -> tuple[Choice, list[Choice]]:
    """The shipped policy: the same choice over both halves' cells together."""
    labels = [c.label for half in study.halves for c in half.cells]
    return choose(study, results, labels)


def summary(monies: list[Money], penalty: float) -> tuple[float, float, float]:
    return objective(monies, penalty)
