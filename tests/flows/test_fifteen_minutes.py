"""A 15-minute collection period end to end: the hourly pipeline flow on recorded data.

``snapshots.period_minutes: 15``: every quarter hour has its snapshot, metrics file, exit
evaluation and decision, named by the period's start; the regime keeps its 1h timeframe.
Real Prefect, a real Git repository with a bare remote, the replay exchange on the sample.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from git import Repo

from flows.hourly_pipeline import hourly_pipeline
from market_maker.decisions.model import decision_id_relpath
from market_maker.decisions.store import DecisionStore
from market_maker.exit_strategy.store import read_day_file
from market_maker.regime import files
from market_maker.snapshots.validation import parse_snapshot
from tests.alerts.pushover_server import FakePushover
from tests.flows.conftest import repo_with_grid

SYMBOL = "ETH-USDT"
START = datetime(2023, 8, 16, 21, tzinfo=UTC)
END = datetime(2023, 8, 16, 22, 45, tzinfo=UTC)
CYCLE = datetime(2023, 8, 16, 23, 0, tzinfo=UTC)
QUARTERS = [START + timedelta(minutes=15 * k) for k in range(8)]


@pytest.fixture
def repo(tmp_path: Path, alerts: FakePushover, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MARKET_MAKER_SNAPSHOTS__PERIOD_MINUTES", "15")
    return repo_with_grid(tmp_path, alerts, monkeypatch, symbol=SYMBOL)


def test_a_fifteen_minute_period_runs_end_to_end(repo: Path, alerts: FakePushover) -> None:
    replayed = hourly_pipeline(symbols=[SYMBOL], start=START, end=END)
    assert not replayed.failed and len(replayed.lines[SYMBOL]) == 8

    cycle = hourly_pipeline(symbols=[SYMBOL], hour=CYCLE, return_state=True)
    assert cycle.is_completed(), cycle.message
    result = cycle.result()
    assert {(s.step, s.state) for s in result.steps} == {
        ("collect", "Completed"),
        ("analyse", "Completed"),
        ("decide", "Completed"),
        ("notify", "Completed"),
        ("record", "Completed"),
    }

    for start in [*QUARTERS, CYCLE]:
        name = f"{start:%H-%M}"
        snapshot, problems = parse_snapshot(
            (repo / f"snapshots/{SYMBOL}/2023/08/16/{name}.json").read_bytes()
        )
        assert snapshot is not None and not problems, problems
        assert snapshot.hour == start and snapshot.schema_version == "2.1"
        # The minutes are the period's own; no candle closes after the period's end.
        assert snapshot.minutes[0].t == start and len(snapshot.minutes) == 15
        assert snapshot.candles_1h[-1].t + timedelta(hours=1) <= start + timedelta(minutes=15)
        metrics = files.read(repo / f"metrics/{SYMBOL}/2023-08-16-{name}.yaml")
        assert metrics.hour == start and metrics.period_minutes == 15
        decision_id = f"dec-{SYMBOL}-20230816-{start + timedelta(minutes=15):%H%M%S}"
        decision = DecisionStore(repo).read(repo / decision_id_relpath(decision_id))
        assert decision.hour == start and decision.issued_at == start + timedelta(minutes=15)
    assert not (repo / f"snapshots/{SYMBOL}/2023/08/16/22.json").exists()

    # Within an hour the regime holds still (1h timeframe): the quarters of 22:00 share the
    # metrics of the 21:00 bar, the last one closed at their ends, except 22:45, which
    # closes with the 22:00 bar.
    quarter = [
        files.read(repo / f"metrics/{SYMBOL}/2023-08-16-22-{m:02d}.yaml") for m in (0, 15, 30)
    ]
    assert len({(m.verdict, m.metrics["adx"].value) for m in quarter}) == 1

    day = read_day_file(repo / "exit_states" / SYMBOL / "2023-08-16.yaml")
    assert sorted({e.hour for e in day.evaluations}) == [*QUARTERS, CYCLE]
    commits = [c.message.splitlines()[0] for c in Repo(repo).iter_commits("main", max_count=2)]
    assert commits[0] == f"hourly-pipeline: {SYMBOL} 2023-08-16T23:00:00Z"


def test_files_a_killed_fifteen_minute_run_left_are_committed_by_the_next(repo: Path) -> None:
    from market_maker.config import load_settings
    from market_maker.context import RunContext
    from market_maker.pipeline.steps import (
        exit_evaluator,
        hour_alerts,
        hour_services,
        load_book,
        run_hour,
        setup_evaluator,
    )

    # A run that wrote its period's files and died before committing them.
    ctx = RunContext.open(load_settings())
    exits = exit_evaluator(ctx)
    h = hour_services(
        ctx,
        book=load_book(ctx),
        exits=exits,
        alerts=hour_alerts(ctx.store.path, ctx.settings, exits),
        setup=setup_evaluator(ctx, SYMBOL),
    )
    left = run_hour(h, SYMBOL, START, collected_at=START + timedelta(minutes=20))
    leftovers = {p.relative_to(repo).as_posix() for p in left.paths}
    assert f"snapshots/{SYMBOL}/2023/08/16/21-00.json" in leftovers
    assert f"metrics/{SYMBOL}/2023-08-16-21-00.yaml" in leftovers
    assert not leftovers & set(Repo(repo).git.ls_files().splitlines())

    hourly_pipeline(symbols=[SYMBOL], hour=START + timedelta(minutes=15))

    head = Repo(repo).head.commit
    assert "file(s) an interrupted run had written (validated)" in head.message
    assert leftovers <= set(Repo(repo).git.ls_files().splitlines())
    assert not Repo(repo).is_dirty(untracked_files=True)
