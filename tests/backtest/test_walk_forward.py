"""The strategy study's money objective, computed by hand on a small case, and how it
chooses: the best J, "no grid" winning a tie."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from market_maker.backtest.walk_forward import (
    NO_GRID,
    Money,
    StudyCell,
    choose,
    interval,
    load_study,
    max_drawdown,
    objective,
    summed,
)

ROOT = Path(__file__).resolve().parents[2]
H = 3600


def cell(hours: list[int], curve: list[float], per_grid: list[float] | None = None) -> Money:
    grids = per_grid if per_grid is not None else [curve[-1]]
    return Money(
        pnl=curve[-1],
        fees=0.0,
        pairs=0,
        grids=len(grids),
        per_grid=np.array(grids, dtype=float),
        hours=np.array([h * H for h in hours], dtype=np.int64),
        curve=np.array(curve, dtype=float),
    )


def test_the_objective_by_hand_on_two_cells_traded_side_by_side() -> None:
    a = cell([0, 1, 2], [100.0, -50.0, 20.0])
    b = cell([1, 2, 3], [10.0, 30.0, -40.0])
    # On one calendar: a keeps 20 after its last hour, b is 0 before its first.
    # hour 0: 100 + 0; hour 1: -50 + 10; hour 2: 20 + 30; hour 3: 20 - 40.
    assert summed([a, b]).tolist() == [100.0, -40.0, 50.0, -20.0]
    # The peak is 100 (hour 0), the trough -40 (hour 1): a drawdown of 140.
    assert max_drawdown(summed([a, b])) == 140.0
    j, pnl, dd = objective([a, b], 0.5)
    assert (pnl, dd) == (-20.0, 140.0) and j == -20.0 - 0.5 * 140.0 == -90.0
    # A loss from the start counts from zero: no grid's equity.
    assert max_drawdown(np.array([-10.0, -30.0, 5.0])) == 30.0
    assert objective([], 0.5) == (0.0, 0.0, 0.0)


def test_the_best_j_is_chosen_and_no_grid_wins_a_tie() -> None:
    study = load_study(ROOT / "config" / "strategy_study.yaml")
    assert study.candidates()[0] == NO_GRID
    assert len(study.candidates()) == 1 + 2 ** len(study.knobs)
    flat = cell([0, 1], [0.0, 0.0], [])
    results = {("X", k): flat for k in range(len(study.candidates()))}
    results[("X", 5)] = cell([0, 1], [30.0, 10.0])  # J = 10 - 0.5 x 20 = 0: a tie
    choice, _ = choose(study, results, ["X"])
    assert choice.index == 0 and choice.overrides == NO_GRID
    results[("X", 7)] = cell([0, 1], [5.0, 40.0])  # J = 40: chosen
    choice, ranking = choose(study, results, ["X"])
    assert choice.index == 7 and (choice.j, choice.pnl, choice.drawdown) == (40.0, 40.0, 0.0)
    assert ranking[0] == choice and ranking[1].j == 0.0


def test_the_bootstrap_interval_resamples_the_grids_of_each_cell() -> None:
    rng = np.random.default_rng(1)
    same = [np.array([2.0, 2.0, 2.0]), np.array([-1.0])]
    assert interval(same, 500, 0.9, rng) == (5.0, 5.0, 5.0)  # nothing to resample
    spread = [np.array([-10.0, 0.0, 10.0])]
    total, low, high = interval(spread, 2000, 0.9, rng)
    assert total == 0.0 and low < 0 < high
    assert low >= -30 and high <= 30  # three grids of at most 10 each
    assert interval([], 10, 0.9, rng) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("half", [0, 1])
def test_the_halves_share_no_cell_and_no_symbol_reserved_for_evaluation(half: int) -> None:
    study = load_study(ROOT / "config" / "strategy_study.yaml")
    labels = [c.label for c in study.halves[half].cells]
    others = [c.label for c in study.halves[1 - half].cells]
    assert not set(labels) & set(others)
    assert not any("BTC" in c.symbol or "BTC" in c.file for c in study.halves[half].cells)


def test_every_candidate_but_no_grid_places_grids_whatever_the_configuration_ships() -> None:
    """The shipped configuration may say "no grid" (the setup off): the study still replays
    each candidate with the setup on, and "no grid" alone with it off."""
    from market_maker.backtest.parameters import apply_overrides
    from market_maker.backtest.walk_forward import SETUP_ON, backtest_cell, load_cell, money
    from market_maker.config import load_settings
    from tests.conftest import SAMPLE_FILE

    settings = apply_overrides(load_settings(), {SETUP_ON: False})  # as shipped
    study = load_study(ROOT / "config" / "strategy_study.yaml")
    sample = StudyCell(
        symbol="ETH-USDT", label="sample", file=SAMPLE_FILE.name, end="2023-08-01T00:00:00Z"
    )
    data = load_cell(sample, SAMPLE_FILE.parent, settings, warmup_hours=400)
    placing = study.candidates()[1]

    assert money(backtest_cell(data, study, settings, placing), "system").grids > 0
    assert money(backtest_cell(data, study, settings, NO_GRID), "system").grids == 0
