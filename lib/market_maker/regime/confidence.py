"""Confidence: conservative, capped, every penalty recorded with its name, amount and reason."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from market_maker.config.regime import ConfidenceSettings, GridPenaltySettings
from market_maker.regime.classifier import FAMILY, RANGE_WEAK
from market_maker.regime.model import PenaltyRecord
from market_maker.snapshots.model import GridStatusRecord


def base_confidence(
    final: np.ndarray, votes: np.ndarray, computable: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Share of the 1h metric weight that supports the verdict (neutral counts half).

    A range verdict is supported by range votes, TRANSITION and TREND by trend
    votes. ``votes`` and ``computable`` are (6, k); ``weights`` is (6,).
    """
    direction = np.where(final <= RANGE_WEAK, -1, 1)[None, :]
    w = weights[:, None] * computable
    agree = (w * (votes == direction)).sum(axis=0)
    neutral = (w * (votes == 0)).sum(axis=0)
    total = w.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, (agree + 0.5 * neutral) / total, np.nan)


def short_history(age: int, cfg: ConfidenceSettings) -> PenaltyRecord | None:
    """``age``: hours the verdict family has held before this hour (0 = it just changed)."""
    hours = cfg.short_history_hours
    if age >= hours:
        return None
    amount = cfg.short_history_penalty * (hours - age) / hours
    return PenaltyRecord(
        name="short_history",
        amount=round(amount, 4),
        reason=f"the regime has held {age} h, less than {hours} h since it last changed",
    )


def confirmation_penalty(final: int, code_4h: int, cfg: ConfidenceSettings) -> PenaltyRecord | None:
    if code_4h < 0:
        return PenaltyRecord(
            name="no_confirmation",
            amount=cfg.no_confirmation_penalty,
            reason="no 4h verdict (too few closed 4h candles or metrics)",
        )
    if FAMILY[code_4h] != FAMILY[final]:
        return PenaltyRecord(
            name="confirmation_disagrees",
            amount=cfg.disagreement_penalty,
            reason="the 4h verdict belongs to another regime family than the final verdict",
        )
    return None


def missing_metrics(names: list[str], cfg: ConfidenceSettings) -> PenaltyRecord | None:
    if not names:
        return None
    return PenaltyRecord(
        name="missing_metrics",
        amount=round(cfg.missing_metric_penalty * len(names), 4),
        reason=f"{len(names)} of 6 1h metrics not computable: {', '.join(names)}",
    )


@dataclass(frozen=True)
class GridView:
    """What the grid penalties need to know at the analysed hour."""

    grid: GridStatusRecord
    price: float
    hour: datetime
    hourly_volatility: float


def grid_penalties(view: GridView, cfg: GridPenaltySettings) -> list[PenaltyRecord]:
    """Penalties that apply while a grid runs: position, maturity, spacing against volatility."""
    grid = view.grid
    out: list[PenaltyRecord] = []
    width = grid.upper_price - grid.lower_price
    position = (view.price - grid.lower_price) / width if width > 0 else math.nan
    if not 0.0 <= position <= 1.0:
        out.append(
            PenaltyRecord(
                name="price_outside_grid",
                amount=cfg.outside_penalty,
                reason=f"price {view.price:g} is outside the grid "
                f"[{grid.lower_price:g}, {grid.upper_price:g}]",
            )
        )
    else:
        depth = max(cfg.outer_band - position, position - (1.0 - cfg.outer_band), 0.0)
        if depth > 0:
            out.append(
                PenaltyRecord(
                    name="price_in_outer_band",
                    amount=round(cfg.outer_band_penalty * depth / cfg.outer_band, 4),
                    reason=f"price sits at {position:.0%} of the grid, inside its outer "
                    f"{cfg.outer_band:.0%}",
                )
            )
    if grid.running_since is not None:
        age = (view.hour - grid.running_since).total_seconds() / 3600
        if 0 <= age < cfg.maturity_hours:
            out.append(
                PenaltyRecord(
                    name="young_grid",
                    amount=round(cfg.maturity_penalty * (1 - age / cfg.maturity_hours), 4),
                    reason=f"the grid has run {age:.0f} h, less than {cfg.maturity_hours:g} h",
                )
            )
    if grid.levels >= 2 and view.price > 0 and view.hourly_volatility > 0:
        spacing = width / (grid.levels - 1) / view.price
        ratio = spacing / view.hourly_volatility
        if not cfg.spacing_min_ratio <= ratio <= cfg.spacing_max_ratio:
            out.append(
                PenaltyRecord(
                    name="grid_spacing",
                    amount=cfg.spacing_penalty,
                    reason=f"level spacing {spacing:.3%} is {ratio:.2f}x the hourly volatility "
                    f"{view.hourly_volatility:.3%} (outside {cfg.spacing_min_ratio:g}-"
                    f"{cfg.spacing_max_ratio:g}x)",
                )
            )
    return out


def combine(base: float, penalties: list[PenaltyRecord], cfg: ConfidenceSettings) -> float:
    value = min(cfg.cap, base) - sum(p.amount for p in penalties)
    return round(min(cfg.cap, max(cfg.floor, value)), 4)
