"""The setup evaluation: whether to place a grid this hour, and with which parameters.

Pure: from the hour's analysis (its metrics file live, the backtest's analysis in a replay),
the restart gates, the cooldowns and the capital it returns CREATE_GRID with complete
parameters, or NO_SETUP with every condition that failed. Each condition is a named check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import Field

from market_maker.base.errors import ConfigurationError
from market_maker.base.prices import format_price, round_price
from market_maker.base.types import FrozenModel
from market_maker.config.lifecycle import LifecycleSettings
from market_maker.decisions.model import (
    CapitalRecord,
    Check,
    ProposedGrid,
    SetupMode,
    SetupRecommendation,
)
from market_maker.grids.book import GridBook
from market_maker.grids.model import GridConfig
from market_maker.regime.gate_records import GATES, GateEvaluation
from market_maker.regime.model import AnalysedHour


class SetupEvaluation(FrozenModel):
    recommendation: SetupRecommendation
    mode: SetupMode | None
    grid: ProposedGrid | None
    capital: CapitalRecord | None
    gates: dict[str, str] | None = Field(description="Each restart gate's status, if stopped.")
    checks: list[Check]

    @property
    def reasons(self) -> list[str]:
        failed = [c for c in self.checks if not c.passed]
        return [f"{c.name}: {c.detail}" for c in (failed or self.checks)]


@dataclass(frozen=True)
class Context:
    """What the setup evaluation needs besides the hour's analysis."""

    at: datetime  # when the hour's data was complete (the decision's issue time)
    fee_rate: float
    total_quote: float
    balance_source: str
    allocated_quote: float = 0.0
    stopped_at: datetime | None = None  # the symbol's last stop
    gates: GateEvaluation | None = None  # after that stop
    setup_closed_at: datetime | None = None  # last setup declined (action) or expired
    setup_closed_how: str | None = None


def setup_context(
    metrics: AnalysedHour,
    book: GridBook,
    *,
    period: timedelta,
    fee_rate: float,
    balance: tuple[float, str],
    closed: tuple[datetime | None, str | None] = (None, None),
) -> Context:
    """The setup's context at the hour: capital of the grids running in the symbol's quote,
    the symbol's last stop and the gates after it; ``balance``: (total quote, its source);
    ``closed``: the last setup declined or left to expire (when, how)."""
    quote = metrics.symbol.split("-")[1]
    allocated = sum(
        grid.capital()
        for grid in book.grids.values()
        if grid.running_at(metrics.hour) and grid.symbol.split("-")[1] == quote
    )
    return Context(
        at=metrics.hour + period,
        fee_rate=fee_rate,
        total_quote=balance[0],
        balance_source=balance[1],
        allocated_quote=round(allocated, 8),
        stopped_at=book.last_stop(metrics.symbol, metrics.hour),
        gates=metrics.gate_evaluation,
        setup_closed_at=closed[0],
        setup_closed_how=closed[1],
    )


def promotion_of(
    metrics: AnalysedHour,
    grid: GridConfig,
    ctx: Context,
    *,
    ranging_hours: timedelta,
    period: timedelta,
    cfg: LifecycleSettings,
) -> ProposedGrid | None:
    """A full grid to replace the probationary ``grid`` that has run ``promote_after_hours``
    in a confirmed range (``ranging_hours``: RANGE_OK in a row up to this hour); None
    otherwise."""
    if grid.mode != "probationary" or metrics.range is None:
        return None
    if not grid.running_at(metrics.hour + period):  # replaced or stopped during the hour
        return None
    need = timedelta(hours=cfg.setup.promote_after_hours)
    since = grid.running_since(metrics.hour)
    if ranging_hours < need or since is None or metrics.hour + period - since < need:
        return None
    if not metrics.range.lower < metrics.price < metrics.range.upper:
        return None
    # The probationary grid's own capital comes back when it is replaced.
    unlocked = capital_of(ctx, cfg).unlocked + grid.capital()
    used = min(cfg.capital.grid_allocation_quote, unlocked)
    if used <= 0:
        return None
    proposal, _ = design_grid(metrics, "full", used, ctx.fee_rate, cfg)
    return proposal


def capital_of(ctx: Context, cfg: LifecycleSettings) -> CapitalRecord:
    reserve = cfg.capital.reserve_quote
    if reserve > ctx.total_quote:
        raise ConfigurationError(
            f"lifecycle.capital.reserve_quote {reserve:,.2f} is larger than the quote balance "
            f"{ctx.total_quote:,.2f} ({ctx.balance_source}): no grid could ever be placed"
        )
    unlocked = ctx.total_quote - reserve - ctx.allocated_quote
    return CapitalRecord(
        total=ctx.total_quote,
        reserve=reserve,
        allocated=ctx.allocated_quote,
        unlocked=math.floor(unlocked * 1e8) / 1e8,  # never a cent more than there is
        source=ctx.balance_source,
    )


def check_fees_allow_a_grid(fee_rate: float, cfg: LifecycleSettings) -> None:
    """A fee whose floor leaves no room for min_levels in the widest range is a setting error."""
    s = cfg.setup
    floor = s.fee_cover * 2 * fee_rate
    widest = s.max_width_pct / 100
    if floor * (s.min_levels - 1) >= widest:
        raise ConfigurationError(
            f"grids.fee_rate {fee_rate:.4%} makes every grid unprofitable: the spacing must "
            f"exceed {floor:.2%} ({s.fee_cover:g} x the round-trip fee), and "
            f"{s.min_levels} levels at that spacing do not fit in the widest range "
            f"lifecycle.setup.max_width_pct {s.max_width_pct:g} %"
        )


def daily_volatility(metrics: AnalysedHour) -> float:
    """The hour's volatility of a day: sqrt(24) x the standard deviation of hourly log
    returns over the slope's window (0 when it could not be computed)."""
    hourly = metrics.detail("normalized_slope", "volatility")
    return math.sqrt(24) * hourly if hourly is not None else 0.0


def expected_pairs(metrics: AnalysedHour, grid: ProposedGrid) -> float:
    """Buy/sell pairs a day a random walk with the hour's volatility completes at the grid's
    spacing: (daily volatility / spacing)^2."""
    step = grid.spacing_pct / 100
    return (daily_volatility(metrics) / step) ** 2 if step > 0 else 0.0


def design_grid(
    metrics: AnalysedHour, mode: SetupMode, used: float, fee_rate: float, cfg: LifecycleSettings
) -> tuple[ProposedGrid | None, str]:
    """Levels and sizes inside the discovered range; (None, why) when no grid fits."""
    s = cfg.setup
    assert metrics.range is not None
    lower, upper, price = metrics.range.lower, metrics.range.upper, metrics.price
    if s.range_margin > 0:
        margin = s.range_margin * daily_volatility(metrics)
        lower, upper = lower * (1 - margin), upper * (1 + margin)
    floor = s.fee_cover * 2 * fee_rate
    bandwidth = metrics.value("bollinger_bandwidth") or 0.0
    target = max(floor, s.volatility_spacing * bandwidth / 4)
    if mode == "probationary":
        target *= s.probationary_spacing_factor
    if s.spacing == "arithmetic":
        # The step is smallest relative to price at the top: size it there.
        levels = min(s.max_levels, int((upper - lower) / (target * upper)) + 1)
        step_pct = (upper - lower) / max(levels - 1, 1) / upper
        prices = [lower + i * (upper - lower) / max(levels - 1, 1) for i in range(levels)]
    else:
        levels = min(s.max_levels, int(math.log(upper / lower) / math.log1p(target)) + 1)
        ratio = (upper / lower) ** (1 / max(levels - 1, 1))
        step_pct = 1 - 1 / ratio
        prices = [lower * ratio**i for i in range(levels)]
    if levels < s.min_levels:
        return None, (
            f"only {levels} level(s) fit {format_price(lower)}-{format_price(upper)} at the "
            f"{100 * target:.2f} % "
            f"spacing the fees and volatility need (at least {s.min_levels})"
        )
    # Capital at the start: quote for every buy level at or below price, base for every
    # level above it (bought at the start price to sell there).
    per_unit = sum(p if p <= price else price for p in prices)
    amount = math.floor(used / per_unit * 1e6) / 1e6
    if amount <= 0:
        return None, f"{used:,.2f} quote is too little for {levels} levels"
    grid = ProposedGrid(
        lower_price=round_price(lower),
        upper_price=round_price(upper),
        levels=levels,
        spacing=s.spacing,
        spacing_pct=round(100 * step_pct, 4),
        amount_per_grid=amount,
        profit_per_grid=round(step_pct, 6),
        profit_per_grid_net=round(step_pct - 2 * fee_rate, 6),
    )
    return grid, (
        f"{levels} levels {format_price(grid.lower_price)}-{format_price(grid.upper_price)} "
        f"({s.spacing}, "
        f"{grid.spacing_pct:.2f} % apart, {100 * grid.profit_per_grid_net:.2f} % a pair after "
        f"fees), {amount:g} a level"
    )


def evaluate_setup(metrics: AnalysedHour, ctx: Context, cfg: LifecycleSettings) -> SetupEvaluation:
    """CREATE_GRID with its parameters, or NO_SETUP naming every condition that failed."""
    check_fees_allow_a_grid(ctx.fee_rate, cfg)
    capital = capital_of(ctx, cfg)
    mode = _mode(metrics.confidence, cfg)
    wanted = cfg.capital.grid_allocation_quote * (
        cfg.setup.probationary_allocation if mode == "probationary" else 1.0
    )
    used = min(wanted, max(capital.unlocked, 0.0))
    checks = [
        *_strategy(cfg),
        *_after_stop(ctx, cfg),
        *_after_setup(ctx, cfg),
        _verdict(metrics, cfg),
        _confidence(metrics.confidence, mode, cfg),
        *_autocorrelation(metrics, cfg),
        _range(metrics, cfg),
        _capital(capital, used, wanted),
    ]
    grid = None
    if all(c.passed for c in checks) and mode is not None:
        grid, detail = design_grid(metrics, mode, used, ctx.fee_rate, cfg)
        checks.append(Check(name="grid", passed=grid is not None, detail=detail))
        if grid is not None and cfg.setup.min_pairs_per_day > 0:
            checks.append(_pairs(metrics, grid, cfg))
    ok = grid is not None and all(c.passed for c in checks)
    return SetupEvaluation(
        recommendation="CREATE_GRID" if ok else "NO_SETUP",
        mode=mode if ok else None,
        grid=grid if ok else None,
        capital=capital.model_copy(update={"used": used if ok else None}),
        gates=(
            {g.value: ctx.gates.record(g).status for g in GATES} if ctx.gates is not None else None
        ),
        checks=checks,
    )


def _mode(confidence: float | None, cfg: LifecycleSettings) -> SetupMode | None:
    """The grid the confidence allows: full, probationary, or none."""
    s = cfg.setup
    if confidence is not None and confidence >= s.full_confidence:
        return "full"
    if confidence is not None and confidence >= s.min_confidence:
        return "probationary"
    return None


def _after_stop(ctx: Context, cfg: LifecycleSettings) -> list[Check]:
    """After a stop: the cooldown, then the restart gates."""
    if ctx.stopped_at is None:
        return []
    since = ctx.at - ctx.stopped_at
    need = timedelta(minutes=cfg.cooldowns.after_stop_minutes)
    gates = ctx.gates
    state = ", ".join(f"{g.value} {gates.record(g).status}" for g in GATES) if gates else "none"
    return [
        Check(
            name="cooldown_after_stop",
            passed=since >= need,
            detail=f"grid stopped {_minutes(since)} ago (cooldown {_minutes(need)})",
        ),
        Check(
            name="restart_gates",
            passed=gates is not None and gates.all_passed,
            detail=f"after the stop: {state}",
        ),
    ]


def _after_setup(ctx: Context, cfg: LifecycleSettings) -> list[Check]:
    """After a setup declined or left to expire: its cooldown."""
    if ctx.setup_closed_at is None:
        return []
    since = ctx.at - ctx.setup_closed_at
    need = timedelta(minutes=cfg.cooldowns.after_setup_minutes)
    return [
        Check(
            name="cooldown_after_setup",
            passed=since >= need,
            detail=f"a setup was {ctx.setup_closed_how or 'closed'} {_minutes(since)} ago "
            f"(cooldown {_minutes(need)})",
        )
    ]


def _strategy(cfg: LifecycleSettings) -> list[Check]:
    """The strategy study found no grid that pays: say so first, every hour."""
    if cfg.setup.enabled:
        return []
    return [
        Check(
            name="strategy",
            passed=False,
            detail="no grid recommended: out of sample no placement paid after fees "
            "(lifecycle.setup.enabled: false; docs/strategy.md)",
        )
    ]


def _verdict(metrics: AnalysedHour, cfg: LifecycleSettings) -> Check:
    allowed = cfg.setup.verdicts
    return Check(
        name="verdict",
        passed=metrics.verdict is not None and metrics.verdict in allowed,
        detail=f"{metrics.verdict or 'refused'} (a grid needs {' or '.join(allowed)})",
    )


def _autocorrelation(metrics: AnalysedHour, cfg: LifecycleSettings) -> list[Check]:
    limit = cfg.setup.max_autocorrelation
    if limit is None:
        return []
    value = metrics.value("autocorrelation")
    text = f"{value:+.2f}" if value is not None else "not computable"
    return [
        Check(
            name="autocorrelation",
            passed=value is not None and value <= limit,
            detail=f"lag-1 autocorrelation of hourly returns {text} (at most {limit:+g})",
        )
    ]


def _pairs(metrics: AnalysedHour, grid: ProposedGrid, cfg: LifecycleSettings) -> Check:
    need = cfg.setup.min_pairs_per_day
    pairs = expected_pairs(metrics, grid)
    net = grid.profit_per_grid_net
    return Check(
        name="expected_pairs",
        passed=pairs >= need,
        detail=f"{pairs:.1f} buy/sell pairs a day expected at {grid.spacing_pct:.2f} % spacing "
        f"(daily volatility {100 * daily_volatility(metrics):.2f} %; at least {need:g}), "
        f"{100 * net:.2f} % a pair after fees",
    )


def _confidence(confidence: float | None, mode: SetupMode | None, cfg: LifecycleSettings) -> Check:
    s = cfg.setup
    if mode == "full":
        band = f"full from {s.full_confidence:.2f}"
    elif mode:
        band = f"probationary {s.min_confidence:.2f}-{s.full_confidence:.2f}"
    else:
        band = f"below {s.min_confidence:.2f}: no setup"
    text = f"{confidence:.2f}" if confidence is not None else "none"
    return Check(name="confidence", passed=mode is not None, detail=f"{text} ({band})")


def _range(metrics: AnalysedHour, cfg: LifecycleSettings) -> Check:
    s, r = cfg.setup, metrics.range
    if r is None:
        return Check(
            name="range", passed=False, detail="range discovery found no range (too little history)"
        )
    inside = r.lower < metrics.price < r.upper
    wide = s.min_width_pct <= r.width_pct <= s.max_width_pct
    return Check(
        name="range",
        passed=inside and wide,
        detail=f"{format_price(r.lower)}-{format_price(r.upper)} ({r.width_pct:.1f} % wide, "
        f"allowed {s.min_width_pct:g}-{s.max_width_pct:g} %), price {format_price(metrics.price)} "
        f"{'inside' if inside else 'outside'}",
    )


def _capital(capital: CapitalRecord, used: float, wanted: float) -> Check:
    if capital.unlocked <= 0:
        return Check(
            name="capital",
            passed=False,
            detail=f"nothing unlocked: balance {capital.total:,.2f} - reserve "
            f"{capital.reserve:,.2f} - allocated {capital.allocated:,.2f}",
        )
    if used < wanted:
        return Check(
            name="capital",
            passed=True,
            detail=f"the reserve binds: {used:,.2f} of the {wanted:,.2f} wanted (balance "
            f"{capital.total:,.2f} - reserve {capital.reserve:,.2f} - allocated "
            f"{capital.allocated:,.2f})",
        )
    return Check(
        name="capital", passed=True, detail=f"{used:,.2f} of {capital.unlocked:,.2f} unlocked"
    )


def _minutes(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes < 180 else f"{minutes / 60:.1f} h"
