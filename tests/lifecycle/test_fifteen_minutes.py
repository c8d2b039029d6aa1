"""The grid lifecycle at a 15-minute collection period, on recorded data: a running grid's
position follows the close of every period, and ``market-maker setup`` reports a period
(its metrics file and the decision issued at its end)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from market_maker.base.errors import DataError
from market_maker.base.timeutil import format_utc
from market_maker.exit_strategy.evaluator import ExitEvaluator
from market_maker.grids.position import position_risk
from market_maker.grids.position_path import PositionTracker
from market_maker.lifecycle.setup_report import latest_analysed_hour, setup_lines
from market_maker.pipeline.steps import load_book
from tests.period_repo import BALANCE, SYMBOL, PeriodRepo, open_repo, replay, with_grid

QUARTER = timedelta(minutes=15)
# The grid placed at 17:00 on 15 August: the evening's quarters move through its levels, down
# and back, so that what it holds depends on the path (an hourly path says otherwise).
PLACED, LAST = datetime(2023, 8, 15, 17, tzinfo=UTC), datetime(2023, 8, 15, 19, 45, tzinfo=UTC)
# No grid in the ranging stretch: every period ends with a setup decision.
IDLE = (datetime(2023, 8, 14, tzinfo=UTC), datetime(2023, 8, 14, 1, 45, tzinfo=UTC))


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> PeriodRepo:
    grid = with_grid(history=[{"enabled": format_utc(PLACED)}])
    return replay(tmp_path_factory.mktemp("running") / "repo", 15, PLACED, LAST, grid=grid)


@pytest.fixture(scope="module")
def idle(tmp_path_factory: pytest.TempPathFactory) -> PeriodRepo:
    return replay(tmp_path_factory.mktemp("idle") / "repo", 15, *IDLE)


def test_the_position_follows_the_close_of_every_period(running: PeriodRepo) -> None:
    metrics = [r.metrics for r in running.results]
    assert [m.hour for m in metrics] == [PLACED + k * QUARTER for k in range(12)]
    closes = [m.price for m in metrics]
    grid = load_book(running.ctx).grids["eth-grid-1"]
    geometric = grid.spacing_kind == "geometric"

    # Read back from the 15-minute metrics files, as a fresh evaluator does.
    tracker = PositionTracker(running.root, period_minutes=15)
    assert tracker.closes(grid, LAST, closes[-1]).tolist() == closes

    # Each period's exit decision holds the grid's position along the closes so far.
    for k, result in enumerate(running.results):
        decision = result.exit.decision
        expected = position_risk(
            grid.lower_price,
            grid.upper_price,
            grid.levels,
            grid.amount_per_grid,
            np.array(closes[: k + 1]),
            geometric=geometric,
        )
        assert decision.hour == metrics[k].hour and decision.position == expected
    # The path matters: the grid bought and sold on the way, between the hours' closes too.
    position = running.results[-1].exit.decision.position
    for path in ([closes[0], closes[-1]], closes[3::4]):
        along = position_risk(
            grid.lower_price,
            grid.upper_price,
            grid.levels,
            grid.amount_per_grid,
            np.array(path),
            geometric=geometric,
        )
        assert position.base_held != along.base_held

    # A fresh exit evaluator (the next run's) reads the same path back from the files.
    evaluator = ExitEvaluator(running.root, running.ctx.settings)
    assert evaluator.positions.risk(grid, LAST, closes[-1]) == position

    # An hourly tracker reads hourly files only: none here, so only the close it is given.
    assert PositionTracker(running.root).closes(grid, LAST, closes[-1]).tolist() == [closes[-1]]


def test_setup_reports_a_period_and_the_decision_issued_at_its_end(idle: PeriodRepo) -> None:
    root, settings = idle.root, idle.ctx.settings
    assert settings.snapshots.period_minutes == 15
    assert latest_analysed_hour(root, SYMBOL) == IDLE[1]
    assert latest_analysed_hour(root, SYMBOL, 15) == IDLE[1]
    for result in idle.results:
        m, decision = result.metrics, result.setup.decision
        assert decision.issued_at == m.hour + QUARTER
        lines = setup_lines(root, settings, SYMBOL, m.hour, BALANCE)
        assert lines[0].startswith(f"{SYMBOL} {format_utc(m.hour)}: {m.verdict}")
        assert lines[1] == f"recorded decision {decision.id}: {decision.recommendation}"
        assert any("restart gates" in line for line in lines) == (m.gate_evaluation is not None)


def test_setup_without_a_recorded_decision_evaluates_the_period_now(
    idle: PeriodRepo, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    shutil.copytree(idle.root, root)
    last = idle.results[-1].setup
    (root / last.path.relative_to(idle.root)).unlink()
    recorded = setup_lines(idle.root, idle.ctx.settings, SYMBOL, IDLE[1], BALANCE)
    now = setup_lines(root, idle.ctx.settings, SYMBOL, IDLE[1], BALANCE)
    assert now[1] == f"not recorded (evaluated now): {last.decision.recommendation}"
    assert now[2:] == recorded[2:]


def test_setup_refuses_a_time_that_starts_no_period(idle: PeriodRepo) -> None:
    with pytest.raises(DataError, match="2023-08-14T01:40:00Z does not start a 15-minute period"):
        setup_lines(idle.root, idle.ctx.settings, SYMBOL, IDLE[1] - timedelta(minutes=5), BALANCE)


def test_the_latest_analysed_period_when_both_name_forms_are_kept(
    idle: PeriodRepo, tmp_path: Path
) -> None:
    """A repository that ran hourly keeps its ``-HH.yaml`` files: 01:45 comes after 01:00
    (a name sort says otherwise), and each period finds its own latest."""
    root = tmp_path / "repo"
    shutil.copytree(idle.root, root)
    hour = datetime(2023, 8, 14, 1, tzinfo=UTC)
    replay(root, 60, hour, hour)
    assert (root / "metrics" / SYMBOL / "2023-08-14-01.yaml").is_file()
    assert latest_analysed_hour(root, SYMBOL) == IDLE[1]
    assert latest_analysed_hour(root, SYMBOL, 15) == IDLE[1]
    assert latest_analysed_hour(root, SYMBOL, 60) == hour
    hourly = open_repo(root, 60, hour + timedelta(hours=2)).settings
    assert setup_lines(root, hourly, SYMBOL, hour, BALANCE)[0].startswith(
        f"{SYMBOL} 2023-08-14T01:00:00Z:"
    )
