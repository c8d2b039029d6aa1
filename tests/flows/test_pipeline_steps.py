"""The hourly pipeline as the Prefect UI shows it: one task per step, symbol and hour.

A Pushover outage fails the ``notify`` step alone; rerunning the flow run (the UI's Retry)
finds collect, analyse and decide cached under the run and repeats the notification only.
Real Prefect (the test harness), a real Git data repository, the Pushover stand-in, and the
recorded hours of 2023-08-16, when a WARNING escalates at 22:00.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from git import Repo
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.sorting import TaskRunSort
from prefect.flow_engine import run_flow
from prefect.states import Scheduled

from flows.hourly_pipeline import hourly_pipeline
from market_maker.exit_strategy.evaluator import ExitEvaluator
from market_maker.exit_strategy.store import read_day_file
from tests.alerts.pushover_server import FakePushover, Fault
from tests.flows.conftest import repo_with_grid
from tests.prefect_server import run_as_deployment

SYMBOL = "ETH-USDT"
HISTORY = (datetime(2023, 8, 16, 18, tzinfo=UTC), datetime(2023, 8, 16, 21, tzinfo=UTC))
ESCALATION = datetime(2023, 8, 16, 22, tzinfo=UTC)  # NORMAL -> WARNING: an alert is due
STEPS = ["collect", "analyse", "decide", "notify", "record"]


@pytest.fixture
def repo(tmp_path: Path, alerts: FakePushover, monkeypatch: pytest.MonkeyPatch) -> Path:
    return repo_with_grid(tmp_path, alerts, monkeypatch, symbol=SYMBOL, history=HISTORY)


def task_runs(flow_run_id: UUID, steps: int) -> list:
    """The run's task runs, oldest first, as the UI lists them, once ``steps`` step task runs
    are recorded in a final state (Prefect records task-run states asynchronously)."""
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                sort=TaskRunSort.EXPECTED_START_TIME_ASC,
            )
            done = [
                r
                for r in runs
                if r.name.split()[0] in STEPS and r.state is not None and r.state.is_final()
            ]
            if len(done) >= steps or time.monotonic() > deadline:
                return runs
            time.sleep(0.2)


def steps_of(runs: list) -> dict[str, list[str]]:
    """Step name -> the states its task runs ended in, for the symbol's step tasks."""
    out: dict[str, list[str]] = {}
    for run in runs:
        step = run.name.split(" ")[0]
        if step in STEPS:
            assert run.name == f"{step} {SYMBOL} 2023-08-16T22:00Z"
            out.setdefault(step, []).append(run.state.name)
    return out


def rerun(flow_run_id: UUID, parameters: dict) -> object:
    """What the UI's Retry does: the same flow run, scheduled again and run by the engine."""
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run_id, Scheduled(), force=True)
        flow_run = client.read_flow_run(flow_run_id)
    return run_flow(hourly_pipeline, flow_run=flow_run, parameters=parameters, return_type="state")


def test_a_pushover_outage_fails_the_notify_step_alone_and_a_rerun_repeats_only_it(
    repo: Path, alerts: FakePushover
) -> None:
    alerts.inject(Fault.server_error(503))
    parameters = {"symbols": [SYMBOL], "hour": ESCALATION}
    remote_head = Repo(repo).head.commit.hexsha

    state = run_as_deployment(hourly_pipeline, parameters)

    assert state.is_failed()
    assert "ETH-USDT: notify: not delivered: exit alert on pushover" in state.message
    flow_run_id = state.state_details.flow_run_id
    first = steps_of(task_runs(flow_run_id, 5))
    assert first == {
        "collect": ["Completed"],
        "analyse": ["Completed"],
        "decide": ["Completed"],
        "notify": ["Failed"],
        "record": ["Completed"],
    }
    # The hour is committed, the failed attempt recorded for the next run to retry.
    repository = Repo(repo)
    assert repository.head.commit.hexsha != remote_head
    day = read_day_file(repo / "exit_states" / SYMBOL / "2023-08-16.yaml")
    assert {(d.channel, d.ok) for d in day.deliveries if d.hour == ESCALATION} == {
        ("pushover", False)
    }
    snapshot = repo / "snapshots" / SYMBOL / "2023/08/16/22.json"
    stamp = snapshot.stat().st_mtime_ns
    assert not [a for a in alerts.accepted if "WARNING" in a["title"]]

    state = rerun(flow_run_id, parameters)

    assert state.is_completed(), state.message
    again = steps_of(task_runs(flow_run_id, 10))
    assert again == {
        "collect": ["Completed", "Cached"],
        "analyse": ["Completed", "Cached"],
        "decide": ["Completed", "Cached"],
        "notify": ["Failed", "Completed"],
        "record": ["Completed", "Completed"],
    }
    [sent] = [a for a in alerts.accepted if "WARNING" in a["title"]]
    assert SYMBOL in sent["title"]
    assert snapshot.stat().st_mtime_ns == stamp  # nothing collected or analysed again
    day = read_day_file(repo / "exit_states" / SYMBOL / "2023-08-16.yaml")
    assert {(d.channel, d.ok) for d in day.deliveries if d.hour == ESCALATION} == {
        ("pushover", False),
        ("pushover", True),
    }
    assert day.last_notified("WARNING") == ESCALATION
    assert "Flow-Run: hourly-pipeline ETH-USDT 2023-08-16T22Z" in repository.head.commit.message


def test_the_notify_step_retries_alone_within_the_run(
    repo: Path, alerts: FakePushover, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKET_MAKER_NOTIFICATIONS__STEP_RETRIES", "1")
    monkeypatch.setenv("MARKET_MAKER_NOTIFICATIONS__STEP_RETRY_DELAY_SECONDS", "0")
    alerts.inject(Fault.server_error(503))

    state = hourly_pipeline(symbols=[SYMBOL], hour=ESCALATION, return_state=True)

    assert state.is_completed(), state.message
    runs = task_runs(state.state_details.flow_run_id, 5)
    runs = [r for r in runs if r.name.split()[0] in STEPS]
    assert {r.name.split()[0]: r.run_count for r in runs} == {
        "collect": 1,
        "analyse": 1,
        "decide": 1,
        "notify": 2,
        "record": 1,
    }
    assert len([a for a in alerts.accepted if "WARNING" in a["title"]]) == 1
    day = read_day_file(repo / "exit_states" / SYMBOL / "2023-08-16.yaml")
    assert [d.ok for d in day.deliveries if d.hour == ESCALATION] == [True]


def test_a_failing_symbol_holds_back_no_other_and_the_cycle_makes_one_commit(
    repo: Path, alerts: FakePushover, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The replay exchange records ETH-USDT only: BTC-USDT's collection fails.
    monkeypatch.setenv("MARKET_MAKER_SYMBOLS", '["ETH-USDT", "BTC-USDT"]')
    head = Repo(repo).head.commit.hexsha

    state = hourly_pipeline(hour=ESCALATION, return_state=True)

    assert state.is_failed()
    result = state.result(raise_on_failure=False).result
    assert list(result.failed) == ["BTC-USDT"] and result.failed["BTC-USDT"].startswith("collect")
    assert "NORMAL -> WARNING" in result.lines[SYMBOL][0]
    [commit] = list(Repo(repo).iter_commits(f"{head}..HEAD"))
    assert commit.message.startswith("hourly-pipeline: ETH-USDT,BTC-USDT 2023-08-16T22:00:00Z")
    changed = set(commit.stats.files)
    assert f"snapshots/{SYMBOL}/2023/08/16/22.json" in changed
    assert not any("BTC" in path for path in changed)
    states = {(s.symbol, s.step): s.state for s in result.steps}
    assert states[(SYMBOL, "record")] == "Completed"
    assert states[("BTC-USDT", "collect")] == "Failed"
    assert states[("BTC-USDT", "analyse")] == "Skipped"
    assert "| BTC-USDT | 2023-08-16T22:00:00Z | Failed | Skipped |" in result.markdown()


def test_decide_writes_nothing_and_gives_the_same_answer_twice(repo: Path) -> None:
    from market_maker.config import load_settings
    from market_maker.context import RunContext
    from market_maker.lifecycle.setup_evaluator import SetupEvaluator, configured_balance
    from market_maker.pipeline.steps import (
        HourRun,
        analyse,
        collect,
        decide,
        hour_alerts,
        hour_services,
        load_book,
    )

    settings = load_settings()
    ctx = RunContext.open(settings)
    book = load_book(ctx)

    def services(setup: SetupEvaluator | None = None):
        exits = ExitEvaluator(repo, settings)
        alerts = hour_alerts(repo, settings, exits)
        return hour_services(ctx, book=book, exits=exits, alerts=alerts, setup=setup)

    run = HourRun(SYMBOL, ESCALATION, datetime(2023, 8, 16, 23, 5, tzinfo=UTC))
    run.collected = collect(services(), run)
    run.analysed = analyse(services(), run)

    def tree() -> dict[str, bytes]:
        return {
            str(p.relative_to(repo)): p.read_bytes()
            for p in sorted(repo.rglob("*"))
            if p.is_file() and ".git" not in p.parts
        }

    before = tree()
    answers = []
    for _ in range(2):
        setup = SetupEvaluator(repo, settings, configured_balance(settings))
        answers.append(decide(services(setup), run))
    assert tree() == before
    first, second = answers
    assert first.exit.decision == second.exit.decision and first.exit.decision is not None
    assert first.exit.evaluation.after.value == "WARNING"
    assert not first.exit.decision_recorded
