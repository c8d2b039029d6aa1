"""Retrying a failed hour after a later run delivered its alert late sends nothing again.

The hourly pipeline over the 17 August 2023 break: the grid enters MANDATORY_EXIT at 12:00
and holds it at 13:00. Pushover is down at 12:00; the 13:00 run delivers the emergency late;
rerunning 12:00 (as the operations guide recommends for a failed run) must not wake the
operator a second time for the same state. Alerts go to a real HTTP server that speaks
Pushover's format.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli.main import main
from flows.hourly_pipeline import hourly_pipeline
from market_maker.exit_strategy.store import read_day_file
from tests.alerts.pushover_server import FakePushover, Fault
from tests.flows.conftest import repo_with_grid

SYMBOL = "ETH-USDT"
HISTORY = (datetime(2023, 8, 17, 4, tzinfo=UTC), datetime(2023, 8, 17, 11, tzinfo=UTC))
BREAK = datetime(2023, 8, 17, 12, tzinfo=UTC)  # LATEST_ACCEPTABLE_EXIT -> MANDATORY_EXIT
HOLDS = datetime(2023, 8, 17, 13, tzinfo=UTC)  # still MANDATORY_EXIT


@pytest.fixture
def repo(tmp_path: Path, alerts: FakePushover, monkeypatch: pytest.MonkeyPatch) -> Path:
    return repo_with_grid(tmp_path, alerts, monkeypatch, symbol=SYMBOL, history=HISTORY)


def day(repo: Path):
    return read_day_file(repo / "exit_states" / SYMBOL / "2023-08-17.yaml")


def test_rerunning_a_failed_hour_after_its_alert_went_out_late_sends_no_second_emergency(
    repo: Path, alerts: FakePushover, capsys: pytest.CaptureFixture[str]
) -> None:
    alerts.inject(Fault.server_error(503))
    failed = hourly_pipeline(symbols=[SYMBOL], hour=BREAK, return_state=True)
    assert failed.is_failed()
    assert alerts.emergencies() == []

    hourly_pipeline(symbols=[SYMBOL], hour=HOLDS)
    [late] = alerts.emergencies()
    assert "Sent late: the alert for 2023-08-17 12:00 UTC" in late["message"]

    # The operator retries the failed hour, by hand as the guide says.
    before = (repo / "exit_states" / SYMBOL / "2023-08-17.yaml").read_bytes()
    assert main(["run-hourly", "--symbol", SYMBOL, "--hour", "2023-08-17T12:00Z"]) == 0

    assert alerts.emergencies() == [late]
    assert "NOT delivered" not in capsys.readouterr().out
    file = day(repo)
    assert [e.state for e in file.latest() if e.hour in (BREAK, HOLDS)] == [
        "MANDATORY_EXIT",
        "MANDATORY_EXIT",
    ]
    delivered = [d for d in file.deliveries if d.ok and d.key == "MANDATORY_EXIT"]
    assert [(d.hour, d.priority) for d in delivered] == [(HOLDS, 2)]
    assert (repo / "exit_states" / SYMBOL / "2023-08-17.yaml").read_bytes() == before

    # And again, by the flow: still nothing sent, and the hour completes.
    again = hourly_pipeline(symbols=[SYMBOL], hour=BREAK, return_state=True)
    assert again.is_completed()
    assert alerts.emergencies() == [late]
