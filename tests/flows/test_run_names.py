"""Flow run names at a collection period under an hour: a period is named by its start, with
its minutes; hourly names are as they were."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from git import Repo
from prefect import get_client
from prefect.flow_engine import run_flow
from prefect.states import Scheduled

from flows._run_names import describe, run_name, short_hour, span
from flows.hourly_collection import hourly_collection
from tests.alerts.pushover_server import FakePushover
from tests.flows.conftest import repo_with_grid

SYMBOL = "ETH-USDT"
PERIOD_ENV = "MARKET_MAKER_SNAPSHOTS__PERIOD_MINUTES"


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2023, 8, 17, hour, minute, tzinfo=UTC)


def test_hourly_names_are_unchanged() -> None:
    p = {"symbols": [SYMBOL]}
    assert describe("hourly-pipeline", p, at(2, 5)) == "hourly-pipeline ETH-USDT 2023-08-17T01Z"
    assert describe("hourly-pipeline", p) == "hourly-pipeline ETH-USDT last closed hour"
    assert describe("hourly-pipeline", {**p, "hour": at(2)}) == (
        "hourly-pipeline ETH-USDT 2023-08-17T02Z"
    )
    assert describe("backfill", {**p, "start": at(0), "end": at(2)}, None, 60) == (
        "backfill ETH-USDT 2023-08-17T00Z..2023-08-17T02Z"
    )
    assert short_hour(at(2)) == "2023-08-17T02Z" and span(at(0), at(0)) == "2023-08-17T00Z"


def test_a_scheduled_run_names_the_period_just_closed() -> None:
    p = {"symbols": [SYMBOL]}
    # The cron runs 5 minutes after each quarter closes: 02:35 works on 02:15.
    assert describe("hourly-pipeline", p, at(2, 35), 15) == (
        "hourly-pipeline ETH-USDT 2023-08-17T02:15Z"
    )
    assert describe("hourly-pipeline", p, at(3, 5), 15) == (
        "hourly-pipeline ETH-USDT 2023-08-17T02:45Z"
    )
    # The first quarter of an hour keeps its minutes: a period, not the hour.
    assert describe("exit-evaluation", {"symbol": SYMBOL}, at(2, 20), 15) == (
        "exit-evaluation ETH-USDT 2023-08-17T02:00Z"
    )
    assert describe("hourly-pipeline", p, None, 15) == (
        "hourly-pipeline ETH-USDT last closed period"
    )


def test_explicit_periods_and_spans_show_their_minutes() -> None:
    p = {"symbols": [SYMBOL]}
    assert describe("hourly-pipeline", {**p, "hour": at(2, 15)}, None, 15) == (
        "hourly-pipeline ETH-USDT 2023-08-17T02:15Z"
    )
    assert describe("snapshot-analysis", {"symbol": SYMBOL, "hour": at(2)}, None, 15) == (
        "snapshot-analysis ETH-USDT 2023-08-17T02:00Z"
    )
    assert describe("hourly-pipeline", {**p, "start": at(1), "end": at(2, 45)}, None, 15) == (
        "hourly-pipeline ETH-USDT 2023-08-17T01:00Z..2023-08-17T02:45Z"
    )
    # Whole days are days at any period; days and backtests do not depend on it.
    assert describe(
        "backfill", {**p, "start": at(0), "end": datetime(2023, 8, 18, tzinfo=UTC)}, None, 15
    ) == ("backfill ETH-USDT 2023-08-17..2023-08-18")
    assert describe("daily-kpi", {}, at(0, 30), 15) == "daily-kpi 2023-08-16"


def _runtime(monkeypatch: pytest.MonkeyPatch, scheduled: datetime) -> None:
    """``prefect.runtime`` as a scheduled deployment run sees it."""
    monkeypatch.setattr("prefect.runtime.deployment.get_id", lambda: "a-deployment")
    monkeypatch.setattr("prefect.runtime.flow_run.get_scheduled_start_time", lambda: scheduled)
    monkeypatch.setattr("prefect.runtime.flow_run.get_parameters", lambda: {"symbols": [SYMBOL]})


def test_the_name_reads_the_period_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    _runtime(monkeypatch, at(2, 35))
    name = run_name("hourly-pipeline")
    assert name() == "hourly-pipeline ETH-USDT 2023-08-17T01Z"  # the default: an hour
    monkeypatch.setenv(PERIOD_ENV, "15")
    assert name() == "hourly-pipeline ETH-USDT 2023-08-17T02:15Z"
    monkeypatch.setenv(PERIOD_ENV, "20")
    assert name() == "hourly-pipeline ETH-USDT 2023-08-17T02:00Z"


def test_settings_that_do_not_load_never_fail_a_run_over_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _runtime(monkeypatch, at(2, 35))
    monkeypatch.setenv(PERIOD_ENV, "7")  # refused at load
    assert run_name("hourly-pipeline")() == "hourly-pipeline"
    assert run_name("daily-kpi")() == "daily-kpi 2023-08-16"  # needs no period


@pytest.mark.parametrize(
    ("minutes", "scheduled", "expected"),
    [
        (60, at(0, 5), "hourly-collection ETH-USDT 2023-08-16T23Z"),
        (15, at(0, 20), "hourly-collection ETH-USDT 2023-08-17T00:00Z"),
    ],
)
def test_a_scheduled_deployment_run_is_named_by_its_period(
    tmp_path: Path,
    alerts: FakePushover,
    monkeypatch: pytest.MonkeyPatch,
    minutes: int,
    scheduled: datetime,
    expected: str,
) -> None:
    monkeypatch.setenv(PERIOD_ENV, str(minutes))
    repo = repo_with_grid(tmp_path, alerts, monkeypatch, symbol=SYMBOL)
    parameters = {"symbols": [SYMBOL]}
    deployment_id = hourly_collection.to_deployment(name=f"tests-{minutes}").apply()
    with get_client(sync_client=True) as client:
        created = client.create_flow_run_from_deployment(
            deployment_id, parameters=parameters, state=Scheduled(scheduled_time=scheduled)
        )
    state = run_flow(
        hourly_collection, flow_run=created, parameters=parameters, return_type="state"
    )
    assert state.is_completed(), state.message
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(created.id).name == expected
    assert f"Flow-Run: {expected} ({created.id})" in Repo(repo).head.commit.message
