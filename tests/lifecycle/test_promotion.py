"""A probationary grid is promoted once it has run a configured time in a confirmed range."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from market_maker.config import load_settings
from market_maker.grids.book import GridBook
from market_maker.grids.model import GridConfig
from market_maker.lifecycle.setup_evaluator import Balance, SetupEvaluator
from market_maker.regime.model import MetricsFile, Verdict


def ranging(august: list[MetricsFile]) -> MetricsFile:
    """A real hour with a discovered range around the price."""
    for m in august:
        if m.range is not None and m.range.lower < m.price < m.range.upper:
            return m
    raise AssertionError("no hour with a range")


def probationary(m: MetricsFile, mode: str = "probationary") -> GridConfig:
    assert m.range is not None
    return GridConfig.model_validate(
        {
            "schema_version": "1.1",
            "id": "eth-probation",
            "symbol": "ETH-USDT",
            "lower_price": round(m.range.lower, 2),
            "upper_price": round(m.range.upper, 2),
            "levels": 5,
            "amount_per_grid": 0.05,
            "profit_per_grid": 0.005,
            "mode": mode,
            "history": [{"enabled": m.hour.isoformat().replace("+00:00", "Z")}],
        }
    )


@pytest.mark.parametrize(("hours", "promoted"), [(23, False), (24, True)])
def test_promotion_after_the_configured_ranging_hours(
    tmp_path: Path, august: list[MetricsFile], hours: int, promoted: bool
) -> None:
    settings = load_settings()
    assert settings.lifecycle.setup.promote_after_hours == 24
    start = ranging(august)
    grid = probationary(start)
    book = GridBook(tmp_path, {grid.id: grid}, {})
    setup = SetupEvaluator(tmp_path, settings, Balance(1000, "t"))
    proposal = None
    for k in range(hours):
        m = start.model_copy(
            update={"hour": start.hour + timedelta(hours=k), "verdict": Verdict.RANGE_OK}
        )
        setup.remember(m)
        proposal = setup.promotion(m, grid, book)
    assert (proposal is not None) is promoted
    if proposal is not None:
        assert proposal.levels >= settings.lifecycle.setup.min_levels
        assert proposal.amount_per_grid > grid.amount_per_grid  # a full grid's capital


def test_a_break_in_the_range_restarts_the_count(tmp_path: Path, august: list[MetricsFile]) -> None:
    settings = load_settings()
    start = ranging(august)
    grid = probationary(start)
    book = GridBook(tmp_path, {grid.id: grid}, {})
    setup = SetupEvaluator(tmp_path, settings, Balance(1000, "t"))
    for k in range(30):
        verdict = Verdict.RANGE_WEAK if k == 20 else Verdict.RANGE_OK
        m = start.model_copy(update={"hour": start.hour + timedelta(hours=k), "verdict": verdict})
        setup.remember(m)
        assert setup.promotion(m, grid, book) is None  # 20 hours, then 9: never 24 in a row


def test_a_full_grid_is_never_promoted(tmp_path: Path, august: list[MetricsFile]) -> None:
    settings = load_settings()
    start = ranging(august)
    grid = probationary(start, mode="full")
    book = GridBook(tmp_path, {grid.id: grid}, {})
    setup = SetupEvaluator(tmp_path, settings, Balance(1000, "t"))
    for k in range(30):
        m = start.model_copy(
            update={"hour": start.hour + timedelta(hours=k), "verdict": Verdict.RANGE_OK}
        )
        setup.remember(m)
    assert setup.promotion(m, grid, book) is None
