"""The daily digest end to end: the hourly pipeline over 17 August 2023 (the break), then the
daily KPI batch, which sends the day's digest once to a real HTTP Pushover stand-in."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from git import Repo

from flows.daily_kpi import daily_kpi
from flows.hourly_pipeline import hourly_pipeline
from market_maker.alerts.digest import digest_relpath, read_digest
from tests.alerts.pushover_server import FakePushover, Fault
from tests.flows.conftest import repo_with_grid

SYMBOL = "ETH-USDT"
DAY = date(2023, 8, 17)


@pytest.fixture
def repo(tmp_path: Path, alerts: FakePushover, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = repo_with_grid(tmp_path, alerts, monkeypatch, symbol=SYMBOL)
    hourly_pipeline(
        symbols=[SYMBOL],
        start=datetime(2023, 8, 16, tzinfo=UTC),
        end=datetime(2023, 8, 17, 23, tzinfo=UTC),
    )
    return root


def test_the_digest_of_the_day_is_sent_once_at_low_priority(
    repo: Path, alerts: FakePushover
) -> None:
    alerts_of_the_day = [
        m for m in alerts.accepted if datetime.fromtimestamp(int(m["timestamp"]), UTC).date() == DAY
    ]
    alerts.clear()
    alerts.inject(Fault.server_error(503))  # the first attempt fails: recorded, not lost

    first = daily_kpi(day=DAY)

    assert first.digest == f"digest of {DAY} NOT delivered" and alerts.accepted == []
    record = read_digest(repo / digest_relpath(DAY))
    assert [a.ok for a in record.attempts] == [False]
    assert str(digest_relpath(DAY)) in Repo(repo).git.ls_files()

    second = daily_kpi(day=DAY)

    assert second.digest == f"digest of {DAY} sent"
    [digest] = alerts.accepted
    assert digest["priority"] == "-1"
    assert digest["title"] == f"market-maker {DAY}: alive"
    message = digest["message"]
    assert message.startswith("Alive: every hour of the day was analysed.")
    assert f"{SYMBOL}: 24/24 hours analysed, last 23:00 UTC" in message
    assert "Verdicts: " in message and "TREND" in message
    assert "Grid eth-grid-1 (1,780-1,900, running): MANDATORY_EXIT" in message
    assert "below the grid's lower bound 1,780.00" in message
    by_priority = {}
    for m in alerts_of_the_day:
        by_priority[m["priority"]] = by_priority.get(m["priority"], 0) + 1
    expected = ", ".join(
        f"priority {p}: {by_priority[p]}" for p in sorted(by_priority, key=int, reverse=True)
    )
    assert f"Alerts sent: {len(alerts_of_the_day)} ({expected})." in message
    record = read_digest(repo / digest_relpath(DAY))
    assert [a.ok for a in record.attempts] == [False, True] and record.message == message
    assert not Repo(repo).is_dirty(untracked_files=True)

    # Once sent, never again.
    third = daily_kpi(day=DAY)
    assert third.digest == f"digest of {DAY} already sent" and third.commit is None
    assert len(alerts.accepted) == 1
