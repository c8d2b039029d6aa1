"""The backtest is the live lifecycle replayed: a month of the sample through the hourly
pipeline (collection, analysis with the restart gates, setup and exit decisions, their
records), with an operator who approves every CREATE_GRID and promotion and follows every
STOP_GRID fifteen minutes after it is issued, gives the same setup and exit decisions, under
the same ids, as the backtest's lifecycle replay of the same hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from git import Repo

from flows.demo_replay import demo_replay
from market_maker.backtest.feed import Feed
from market_maker.backtest.lifecycle import LifecycleReplay, Operator, ReplayedDecision
from market_maker.config import load_settings
from market_maker.decisions.model import Decision, SetupDecision
from market_maker.decisions.states import ExitState
from market_maker.decisions.store import DecisionStore
from market_maker.exchange.replay import load_recorded_minutes
from tests.conftest import SAMPLE_FILE

START = datetime(2023, 7, 25, tzinfo=UTC)
END = datetime(2023, 8, 24, 23, tzinfo=UTC)  # the last hour replayed
DELAY = 15


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    Repo.init(tmp_path / "remote.git", bare=True, initial_branch="main")
    monkeypatch.setenv("MARKET_MAKER_DATA_REPOSITORY__BASE_PATH", str(tmp_path / "repo"))
    monkeypatch.setenv("MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL", str(tmp_path / "remote.git"))
    return tmp_path / "repo"


def brief(d: Decision | SetupDecision) -> tuple:
    """What both sides must agree on: kind, recommendation, state, the grid proposed."""
    if isinstance(d, SetupDecision):
        return ("GRID_SETUP", str(d.recommendation), d.mode, d.grid, None, None)
    return ("GRID_MANAGE", str(d.recommendation), None, d.promotion, d.grid.grid_id, d.exit_state)


def replayed(d: ReplayedDecision) -> tuple:
    proposal = d.grid if d.kind == "GRID_SETUP" else d.promotion
    return (d.kind, d.recommendation, d.mode, proposal, d.grid_id, d.exit_state)


def test_a_month_through_the_pipeline_gives_the_replays_decisions_hour_by_hour(
    repo: Path,
) -> None:
    _, actions = demo_replay(
        symbol="ETH-USDT",
        start=START,
        end=END,
        operator_delay_minutes=DELAY,
        stop_at="LATEST_ACCEPTABLE_EXIT",
    )
    store = DecisionStore(repo)
    live = {}
    for path in sorted((repo / "decisions").rglob("dec-*.yaml")):
        if path.name.endswith(("-action.yaml", "-evaluation.yaml")):
            continue
        d = store.read(path)
        live[d.id] = d

    settings = load_settings()
    minutes = load_recorded_minutes(SAMPLE_FILE)
    feed = Feed.build("ETH-USDT", minutes, START, END + timedelta(hours=1), settings.regime)
    operator = Operator(timedelta(minutes=DELAY), ExitState.LATEST_ACCEPTABLE_EXIT)
    balance = (settings.lifecycle.capital.total_quote, "configuration")
    lifecycle = LifecycleReplay(feed, settings, operator, balance).run()

    assert len(lifecycle.decisions) == len(live)
    # Every hour has its decision but those a new grid was placed in (approved during the
    # hour: neither running at its start nor idle when its decision is issued).
    setups = {d.id for d in lifecycle.decisions if d.kind == "GRID_SETUP"}
    placed = {
        life.placed_at.replace(minute=0) for life in lifecycle.lives if life.decision in setups
    }
    hours = {d.hour for d in lifecycle.decisions}
    assert len(hours) + len(placed) == 24 * 31 and not hours & placed
    for d in lifecycle.decisions:
        assert d.id in live, d.id
        assert replayed(d) == brief(live[d.id]), d.id
    # The month holds the whole life: setups approved, probation, promotion, stops, gates.
    kinds = {(d.kind, d.recommendation) for d in lifecycle.decisions}
    assert {("GRID_SETUP", "CREATE_GRID"), ("GRID_MANAGE", "STOP_GRID")} <= kinds
    assert any(d.promotion is not None for d in lifecycle.decisions)
    assert lifecycle.gates and len(lifecycle.lives) >= 3
    # The operator's actions are the replay's: the grids placed and stopped at the same times.
    approved = [a.at for a in actions if a.what == "approved"]
    assert approved == [life.placed_at for life in lifecycle.lives]
    stopped = [a.at for a in actions if a.what == "stopped"]
    assert stopped == [
        life.ended_at for life in lifecycle.lives if life.ended_at and not life.promoted
    ]
    # And every hour a grid ran, the exit-state files hold the replay's state.
    states = {}
    for path in sorted((repo / "exit_states" / "ETH-USDT").glob("*.yaml")):
        for e in yaml.safe_load(path.read_text())["evaluations"]:
            states[(e["grid_id"], e["hour"])] = e["state"]
    evaluations = [(life.grid.id, e) for life in lifecycle.lives for e in life.evaluations]
    assert len(evaluations) == len(states)
    for grid_id, e in evaluations:
        assert states[(grid_id, e.hour.strftime("%Y-%m-%dT%H:%M:%SZ"))] == str(e.after)
