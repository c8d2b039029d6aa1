"""The hourly pipeline end to end: replayed market, grid, exit states, decisions, Pushover alerts.

One replay of 2023-08-14..17 (a quiet range, then the 17 August crash) is run
once per module into its own data repository and bare remote; the tests read
it, rerun parts of it, and extend it. Alerts go to a real HTTP server that
validates them as Pushover does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from git import Repo

from cli.main import main
from flows.backfill import backfill
from flows.exit_evaluation import exit_evaluation
from flows.hourly_collection import hourly_collection
from flows.hourly_pipeline import hourly_pipeline
from flows.snapshot_analysis import snapshot_analysis
from market_maker.decisions.store import DecisionStore
from market_maker.exit_strategy.model import ExitStateFile
from market_maker.exit_strategy.store import ExitStateStore
from tests.alerts.pushover_server import TOKEN, USER_KEY, FakePushover
from tests.grid_files import grid_data
from tests.prefect_server import run_as_deployment

SYMBOL = "ETH-USDT"
START = datetime(2023, 8, 14, tzinfo=UTC)
END = datetime(2023, 8, 17, 23, tzinfo=UTC)
CRASH = datetime(2023, 8, 17, 20, tzinfo=UTC)  # ETH fell from ~1,800 to ~1,550 in two hours
LIMITS = {"WARNING": 4, "LATEST_ACCEPTABLE_EXIT": 2, "MANDATORY_EXIT": 1}
PRIORITY = {"NORMAL": -1, "WARNING": 0, "LATEST_ACCEPTABLE_EXIT": 1, "MANDATORY_EXIT": 2}
GRID = grid_data(symbol=SYMBOL)


def environment(base: Path, pushover: FakePushover) -> dict[str, str]:
    return {
        "MARKET_MAKER_DATA_REPOSITORY__BASE_PATH": str(base / "data-repo"),
        "MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL": str(base / "remote.git"),
        "MARKET_MAKER_DATA_REPOSITORY__LOCK_TIMEOUT_SECONDS": "30",
        "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__API_URL": pushover.messages_url,
        "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__TOKEN": TOKEN,
        "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__USER_KEY": USER_KEY,
    }


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.parts and ".market-maker" not in p.parts
    }


@dataclass
class Replay:
    base: Path
    repo: Path
    remote: Path
    result: dict[str, object]
    messages: list[dict[str, str]]
    head: str


@pytest.fixture(scope="module")
def alerts() -> Iterator[FakePushover]:
    """The replay's Pushover server: the same URL throughout, since the URL is configuration
    and a rerun under another configuration (config_version) is not a rerun."""
    with FakePushover() as server:
        yield server


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory, alerts: FakePushover) -> Replay:
    base = tmp_path_factory.mktemp("exit-pipeline")
    Repo.init(base / "remote.git", bare=True, initial_branch="main")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in environment(base, alerts).items():
            mp.setenv(key, value)
        backfill(symbol=SYMBOL, start=START, end=END)
        grid_file = base / "eth-grid-1.yaml"
        grid_file.write_text(yaml.safe_dump(GRID))
        assert main(["grid", "add", str(grid_file)]) == 0
        result = hourly_pipeline(symbols=[SYMBOL], start=START, end=END)
    repo = base / "data-repo"
    return Replay(
        base,
        repo,
        base / "remote.git",
        result,
        list(alerts.accepted),
        Repo(repo).head.commit.hexsha,
    )


@pytest.fixture
def pushover() -> Iterator[FakePushover]:
    with FakePushover() as server:
        yield server


@pytest.fixture
def on_replay(replayed: Replay, alerts: FakePushover, monkeypatch: pytest.MonkeyPatch) -> Replay:
    """The environment of the module's replay again; its Pushover server's records cleared."""
    for key, value in environment(replayed.base, alerts).items():
        monkeypatch.setenv(key, value)
    alerts.clear()
    return replayed


def day_files(repo: Path) -> list[ExitStateFile]:
    store = ExitStateStore(repo)
    days = [START.date() + timedelta(days=i) for i in range(4)]
    files = [store.day(SYMBOL, d) for d in days]
    assert all(f is not None for f in files)
    return files  # type: ignore[return-value]


def hour_of(form: dict[str, str]) -> datetime:
    return datetime.fromtimestamp(int(form["timestamp"]), UTC)


def test_the_replay_writes_exit_states_with_reasons_and_metrics_one_commit_per_day(
    replayed: Replay,
) -> None:
    files = day_files(replayed.repo)
    evaluations = [e for f in files for e in f.evaluations]
    transitions = [t for f in files for t in f.transitions]
    assert len(evaluations) == 96
    assert transitions, "four days including a crash without a single transition"
    for t in transitions:
        assert t.reasons and all(t.reasons)
        assert {"price", "verdict", "adx", "efficiency_ratio"} <= set(t.metrics)
    assert files[-1].state == "MANDATORY_EXIT"

    commits = replayed.result.commits
    assert isinstance(commits, list) and len(commits) == 4
    remote = Repo(replayed.remote)
    assert remote.git.rev_parse("main") == replayed.head
    subjects = remote.git.log("--format=%s", "main").splitlines()
    pipeline = [s for s in subjects if s.startswith("hourly-pipeline: ETH-USDT")]
    assert len(pipeline) == 4
    assert "hourly-pipeline: ETH-USDT 2023-08-17T00:00:00Z..2023-08-17T23:00:00Z" in pipeline
    pushed = remote.git.ls_tree("-r", "--name-only", "main").splitlines()
    assert [p for p in pushed if p.startswith("exit_states/")] == [
        f"exit_states/ETH-USDT/2023-08-{d}.yaml" for d in (14, 15, 16, 17)
    ]
    assert not Repo(replayed.repo).is_dirty(untracked_files=True)


def test_every_replayed_hour_has_its_decision_record(replayed: Replay) -> None:
    store = DecisionStore(replayed.repo)
    decisions = sorted((replayed.repo / "decisions").rglob("dec-*.yaml"))
    assert len(decisions) == 96
    after_crash = store.read(replayed.repo / "decisions/2023-08-17/dec-ETH-USDT-230000.yaml")
    assert after_crash.exit_state == "MANDATORY_EXIT"
    assert after_crash.recommendation == "STOP_GRID"
    assert any(r.startswith("price_outside_grid") for r in after_crash.reasons)


def test_the_operator_is_alerted_with_a_priority_by_state_and_an_emergency_after_the_crash(
    replayed: Replay,
) -> None:
    notified = {d.hour: d.key for f in day_files(replayed.repo) for d in f.notified()}
    held = {(e.hour, e.state) for f in day_files(replayed.repo) for e in f.latest()}
    assert len(replayed.messages) == len(notified)
    for form in replayed.messages:
        hour, state = hour_of(form), notified[hour_of(form)]
        # A WARNING that already held the hour before is repeated quietly.
        repeat = state == "WARNING" and (hour - timedelta(hours=1), "WARNING") in held
        assert int(form["priority"]) == (-1 if repeat else PRIORITY[state])
        assert state.replace("_", " ") in form["title"]
        assert form["token"] == TOKEN and form["user"] == USER_KEY
    emergencies = [m for m in replayed.messages if m["priority"] == "2"]
    # Pushover repeats an emergency until it is acknowledged or expires (an hour): the
    # replay takes less than that, so each stretch of MANDATORY_EXIT sent exactly one.
    states = sorted((e.hour, e.state) for f in day_files(replayed.repo) for e in f.latest())
    stretches = [
        hour
        for (hour, state), (_, before) in zip(states[1:], states, strict=False)
        if state == "MANDATORY_EXIT" and before != "MANDATORY_EXIT"
    ]
    assert stretches and any(h <= CRASH for h in stretches)
    assert sorted(hour_of(m) for m in emergencies) == stretches
    for m in emergencies:
        assert int(m["retry"]) >= 30 and int(m["expire"]) <= 10800
        assert "STOP THE GRID NOW" in m["message"]


def test_rate_limits_hold_across_the_consecutive_hours(replayed: Replay) -> None:
    state_at = {e.hour: e for f in day_files(replayed.repo) for e in f.evaluations}
    last: dict[str, datetime] = {}
    for form in sorted(replayed.messages, key=hour_of):
        hour = hour_of(form)
        record = state_at[hour]
        previous = state_at.get(hour - timedelta(hours=1))
        escalation = previous is None or record.state.rank > previous.state.rank
        state = record.state.value
        if state in last and not escalation:
            assert hour - last[state] >= timedelta(hours=LIMITS[state]), (state, hour)
        last[state] = hour


def test_running_the_same_range_again_changes_nothing_and_sends_nothing(
    on_replay: Replay, alerts: FakePushover
) -> None:
    before, head = snapshot(on_replay.repo), Repo(on_replay.repo).head.commit.hexsha

    again = hourly_pipeline(symbols=[SYMBOL], start=START, end=END)

    assert again.commits == [] and again.notifications == []
    # Nothing is sent; the emergency's receipt is only asked about.
    assert {(r.method, r.path.split("/")[2]) for r in alerts.requests} <= {("GET", "receipts")}
    assert snapshot(on_replay.repo) == before
    assert Repo(on_replay.repo).head.commit.hexsha == head
    assert Repo(on_replay.remote).git.rev_parse("main") == head


def test_exit_evaluation_of_a_single_hour_continues_the_timeline(
    on_replay: Replay, alerts: FakePushover
) -> None:
    done = exit_evaluation(symbol=SYMBOL, hour=datetime(2023, 8, 17, 22, tzinfo=UTC))
    assert done.commit is None and done.state == "MANDATORY_EXIT"
    assert {(r.method, r.path.split("/")[2]) for r in alerts.requests} <= {("GET", "receipts")}

    # The next hour's snapshot and metrics, then its evaluation by the exit flow alone.
    nxt = datetime(2023, 8, 18, tzinfo=UTC)
    hourly_collection(symbols=[SYMBOL], hour=nxt)
    snapshot_analysis(symbol=SYMBOL, hour=nxt)
    result = exit_evaluation(symbol=SYMBOL, hour=nxt)

    assert result.state == "MANDATORY_EXIT" and result.commit
    assert "grid eth-grid-1: MANDATORY_EXIT" in str(result.line)
    day = ExitStateStore(on_replay.repo).day(SYMBOL, nxt.date())
    assert day is not None and [e.hour for e in day.evaluations] == [nxt]
    assert (on_replay.repo / "decisions/2023-08-18/dec-ETH-USDT-010000.yaml").is_file()
    assert Repo(on_replay.remote).git.rev_parse("main") == result.commit


def test_the_run_hourly_command_prints_the_exit_state_timeline(
    on_replay: Replay, capsys: pytest.CaptureFixture[str]
) -> None:
    start, end = "2023-08-16T12:00:00Z", "2023-08-17T03:00:00Z"
    code = main(["run-hourly", "--symbol", SYMBOL, "--start", start, "--end", end])

    out = capsys.readouterr().out
    assert code == 0
    assert "exit-state timeline:\n" in out
    lo, hi = datetime.fromisoformat(start), datetime.fromisoformat(end)
    expected = [
        t for f in day_files(on_replay.repo) for t in f.transitions if lo <= t.timestamp <= hi
    ]
    assert expected
    for t in expected:
        line = f"  {t.timestamp:%Y-%m-%dT%H:%M:%SZ} {SYMBOL} {t.from_state} -> {t.to_state}: "
        assert line + t.reasons[0] in out
    assert "notifications: 0" in out  # all of them were sent by the first run


# -- alerts on failed runs --------------------------------------------------------------


@pytest.fixture
def failing_env(
    data_env: dict[str, str], pushover: FakePushover, monkeypatch: pytest.MonkeyPatch
) -> FakePushover:
    """A fresh data repository (``data_env``), alerts going to a fresh Pushover server."""
    for key, value in environment(
        Path(data_env["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"]).parent, pushover
    ).items():
        if "PUSHOVER" in key:
            monkeypatch.setenv(key, value)
    return pushover


def test_a_failed_flow_alerts_the_operator_naming_the_flow_and_the_error(
    failing_env: FakePushover,
) -> None:
    # Runs of a deployment, as the scheduler makes them: only those alert (flows/_hooks.py).
    # A run that succeeds first (no grid: nothing to evaluate), so the failure below is the
    # first in a row whatever ran before in this session.
    hourly_pipeline(symbols=[SYMBOL], hour=datetime(2023, 8, 1, 5, tzinfo=UTC))
    ok = run_as_deployment(exit_evaluation, {"symbol": SYMBOL, "hour": "2023-08-01T05:00:00Z"})
    assert ok.is_completed()

    state = run_as_deployment(exit_evaluation, {"symbol": SYMBOL, "hour": "2023-08-01T06:00:00Z"})

    assert state.is_failed()
    [alert] = failing_env.accepted
    assert alert["priority"] == "1"
    assert "exit-evaluation" in alert["title"] and "failed" in alert["title"]
    assert "no metrics file metrics/ETH-USDT/2023-08-01-06.yaml" in alert["message"]


def test_a_failed_run_by_hand_does_not_alert(failing_env: FakePushover) -> None:
    state = exit_evaluation(
        symbol=SYMBOL, hour=datetime(2023, 8, 1, 6, tzinfo=UTC), return_state=True
    )
    assert state.is_failed()
    assert failing_env.accepted == []


def test_the_third_failed_run_in_a_row_is_an_emergency(
    failing_env: FakePushover, settings_root: Path
) -> None:
    # A run that succeeds first, so that the streak starts here whatever ran before.
    hour_5 = {"symbols": [SYMBOL], "hour": "2023-08-01T05:00:00Z"}
    assert run_as_deployment(hourly_pipeline, hour_5).is_completed()
    broken = settings_root / "grids/eth-grid-9.yaml"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text(yaml.safe_dump({**GRID, "id": "eth-grid-9", "levels": 1}))
    # Committed by hand (an uncommitted invalid file would only be quarantined by the next run).
    Repo(settings_root).git.add("grids/eth-grid-9.yaml")
    Repo(settings_root).git.commit("-m", "a broken grid, committed by hand")

    hour_6 = {"symbols": [SYMBOL], "hour": "2023-08-01T06:00:00Z"}
    states = [run_as_deployment(hourly_pipeline, hour_6) for _ in range(3)]

    assert all(s.is_failed() for s in states)
    alerts = failing_env.accepted
    assert [a["priority"] for a in alerts] == ["1", "1", "2"]
    assert "(3 failed runs in a row)" in alerts[2]["title"]
    assert "hourly-pipeline" in alerts[2]["title"]
    assert "eth-grid-9.yaml" in alerts[2]["message"] and "levels" in alerts[2]["message"]
    assert int(alerts[2]["retry"]) >= 30


@pytest.fixture
def settings_root(data_env: dict[str, str]) -> Path:
    return Path(data_env["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"])
