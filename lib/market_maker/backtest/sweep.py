"""Sweeps: many backtests over a grid of values, judged walk-forward.

Every point runs on a training period and on the later test period it never
saw; points are ranked by the test period, so a setting that only fits the
past does not come out on top. The training figures are shown beside the test
figures: a large gap between them is the sign of a fit to noise.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from market_maker.backtest.parameters import OVERRIDABLE, BacktestParameters, parse_parameters
from market_maker.backtest.results import VariantFigures
from market_maker.base.errors import ParameterError
from market_maker.base.types import FrozenModel, UtcHour
from market_maker.kpis.model import Kpi, KpiValue

MAX_POINTS = 1000
FIXED = ("start", "end", "data_file", "symbol", "name", "overrides")
# Which way is better for each ranking figure.
HIGHER_IS_BETTER = {"pnl": True, "pnl_vs_no_exit": True, "SLAR": True, "EAW": True, "PRR": True}
LOWER_IS_BETTER = {"FER": True, "MEC": True, "TTDR": True, "ERT": True}


class SweepPoint(FrozenModel):
    index: int
    values: dict[str, Any]
    train: BacktestParameters
    test: BacktestParameters

    @property
    def whole(self) -> BacktestParameters:
        """The point's parameters over the whole period: what a run of the backtest
        deployment gets, with the split, to run the point."""
        return self.train.model_copy(update={"end": self.test.end})


# The exit policies a point's figures come from: the system, and holding (``pnl_vs_no_exit``).
POINT_POLICIES = ("system", "no_exit")


@dataclass(frozen=True)
class PolicySummary:
    """What a point reads of a policy: the report's money figures and KPIs, without the
    rest of the report (drawdown, months) a point never shows."""

    pnl: float
    grids: int
    fills: int
    kpis: dict[Kpi, KpiValue]


class PointFigures(FrozenModel):
    """A point's figures on one period."""

    start: UtcHour
    end: UtcHour
    pnl: float
    pnl_vs_no_exit: float
    grids: int
    fills: int
    kpis: dict[str, float | None]

    @classmethod
    def of(
        cls,
        start: datetime,
        end: datetime,
        system: VariantFigures | PolicySummary,
        held_pnl: float,
    ) -> PointFigures:
        """From the figures of the two policies a point is ranked by (``POINT_POLICIES``): the
        system's, and holding's PnL."""
        return cls(
            start=start,
            end=end,
            pnl=system.pnl,
            pnl_vs_no_exit=round(system.pnl - held_pnl, 2),
            grids=system.grids,
            fills=system.fills,
            kpis={k.value: system.kpis[k].value for k in Kpi},
        )

    def figure(self, name: str) -> float | None:
        if name in ("pnl", "pnl_vs_no_exit"):
            return getattr(self, name)
        return self.kpis[name]

    def cell(self, name: str) -> str:
        value = self.figure(name)
        if value is None:
            return "-"
        return f"{value:,.2f}" if name in ("pnl", "pnl_vs_no_exit", "MEC") else f"{value:.2f}"

    def row(self, period: str) -> dict[str, Any]:
        """A flat row of a table artifact (``period``: train or test)."""
        return {
            "period": period,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "pnl": self.pnl,
            "pnl_vs_no_exit": self.pnl_vs_no_exit,
            "grids": self.grids,
            "fills": self.fills,
            **self.kpis,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> PointFigures:
        fields = ("start", "end", "pnl", "pnl_vs_no_exit", "grids", "fills")
        return cls.model_validate(
            {f: row[f] for f in fields} | {"kpis": {k.value: row.get(k.value) for k in Kpi}}
        )


class PointRun(FrozenModel):
    """One point run on its own (a run of the backtest deployment with a split): its
    figures on the training and on the test period, published as a two-row table."""

    train: PointFigures
    test: PointFigures

    def rows(self) -> list[dict[str, Any]]:
        return [self.train.row("train"), self.test.row("test")]

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]]) -> PointRun:
        by_period = {row["period"]: PointFigures.from_row(row) for row in rows}
        return cls(train=by_period["train"], test=by_period["test"])

    def result(self, point: SweepPoint) -> SweepResult:
        return SweepResult(index=point.index, values=point.values, train=self.train, test=self.test)


class SweepResult(FrozenModel):
    COLUMNS: ClassVar[tuple[str, ...]] = ("pnl", "pnl_vs_no_exit", "FER", "EAW", "MEC")

    index: int
    values: dict[str, Any]
    train: PointFigures
    test: PointFigures

    @classmethod
    def of(cls, point: SweepPoint, train: PointFigures, test: PointFigures) -> SweepResult:
        return cls(index=point.index, values=point.values, train=train, test=test)


def sweep_points(
    base: BacktestParameters, values: dict[str, list[Any]], split: datetime
) -> list[SweepPoint]:
    """Every combination of ``values``; each a pair of runs, [start, split) and [split, end)."""
    if not base.start < split < base.end:
        raise ParameterError(
            f"split {split:%Y-%m-%dT%HZ} must fall strictly between start "
            f"{base.start:%Y-%m-%dT%HZ} and end {base.end:%Y-%m-%dT%HZ}"
        )
    if not values:
        raise ParameterError("values: give at least one parameter with the values to try")
    for key, options in values.items():
        is_field = key in BacktestParameters.model_fields and key not in FIXED
        if not is_field and not key.startswith(OVERRIDABLE):
            raise ParameterError(
                f"values: {key!r} is neither a backtest parameter nor a setting under "
                f"{', '.join(OVERRIDABLE)} (start, end, symbol and data are fixed by base)"
            )
        if not isinstance(options, list) or not options:
            raise ParameterError(f"values.{key}: give a non-empty list of values")
    count = 1
    for options in values.values():
        count *= len(options)
    if count > MAX_POINTS:
        raise ParameterError(f"values: {count} points, more than {MAX_POINTS}")
    keys = list(values)
    out = []
    for index, combo in enumerate(itertools.product(*(values[k] for k in keys))):
        chosen = dict(zip(keys, combo, strict=True))
        data = base.model_dump(mode="json", exclude={"name"})
        overrides = dict(base.overrides)
        for key, value in chosen.items():
            if key in BacktestParameters.model_fields:
                data[key] = value
            else:
                overrides[key] = value
        data["overrides"] = overrides
        train, test = split_at(parse_parameters(data), split)
        out.append(SweepPoint(index=index, values=chosen, train=train, test=test))
    return out


def batches(points: list[SweepPoint], count: int) -> list[list[SweepPoint]]:
    """``points`` dealt into at most ``count`` batches, one task run each: a task run costs
    the orchestration a few tenths of a second, a point about half a second, so a sweep runs
    its points a batch at a time. Dealt round-robin, each batch takes points from the whole
    range of the values (wide grids run longer than narrow ones), and the batches take about
    as long as each other."""
    if count < 1:
        raise ParameterError(f"batches: {count} is not a positive count")
    dealt: list[list[SweepPoint]] = [[] for _ in range(min(count, len(points)))]
    for k, point in enumerate(points):
        dealt[k % len(dealt)].append(point)
    return dealt


def split_at(
    params: BacktestParameters, split: datetime
) -> tuple[BacktestParameters, BacktestParameters]:
    """The training run [start, split) and the test run [split, end) of ``params``."""
    if not params.start < split < params.end:
        raise ParameterError(
            f"split {split:%Y-%m-%dT%HZ} must fall strictly between start "
            f"{params.start:%Y-%m-%dT%HZ} and end {params.end:%Y-%m-%dT%HZ}"
        )
    data = params.model_dump(mode="json", exclude={"name"})
    return parse_parameters(data | {"end": split}), parse_parameters(data | {"start": split})


def rank(results: list[SweepResult], by: str) -> list[SweepResult]:
    """Best first by ``by`` on the test period; points without a figure come last."""
    if by not in HIGHER_IS_BETTER and by not in LOWER_IS_BETTER:
        known = ", ".join([*HIGHER_IS_BETTER, *LOWER_IS_BETTER])
        raise ParameterError(f"rank_by: {by!r} is not one of {known}")
    sign = -1.0 if by in HIGHER_IS_BETTER else 1.0

    def key(r: SweepResult) -> tuple[int, float, int]:
        value = r.test.figure(by)
        return (1, 0.0, r.index) if value is None else (0, sign * value, r.index)

    return sorted(results, key=key)
