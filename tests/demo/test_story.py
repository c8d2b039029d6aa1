"""The demo tells its story on the terminal and keeps the logs in a file."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli.main import main
from demo.story import _alert_groups, _timeline_lines, logs_to
from market_maker.exit_strategy.model import DeliveryRecord, TransitionRecord
from tests.conftest import PROJECT_ROOT

T0 = datetime(2023, 8, 1, tzinfo=UTC)


def transition(hours: int, a: str, b: str, reason: str) -> TransitionRecord:
    return TransitionRecord.model_validate(
        {
            "timestamp": T0 + timedelta(hours=hours),
            "grid_id": "demo-eth-grid",
            "from_state": a,
            "to_state": b,
            "reasons": [f"{reason}: details", "another reason"],
            "metrics": {},
        }
    )


def test_the_help_says_everything_the_demo_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for step in (
        "backfills",
        "classifies",
        "setup recommendation",
        "restart gates",
        "exit-state hours",
        "alerts",
        "stopped at MANDATORY_EXIT",
        "KPI",
        "var/demo.log",
        "127.0.0.1:4200",
    ):
        assert step in out, step


def test_the_escalations_are_listed_and_the_warnings_that_eased_back_summed_up() -> None:
    transitions = [
        transition(0, "NORMAL", "WARNING", "adx_rising"),
        transition(6, "WARNING", "NORMAL", "calm"),
        transition(30, "NORMAL", "WARNING", "bandwidth_expanding"),
        transition(36, "WARNING", "NORMAL", "calm"),
        transition(50, "NORMAL", "WARNING", "adx_rising"),
        transition(53, "WARNING", "LATEST_ACCEPTABLE_EXIT", "warning_persisted"),
        transition(54, "LATEST_ACCEPTABLE_EXIT", "MANDATORY_EXIT", "latest_persisted"),
        transition(60, "MANDATORY_EXIT", "WARNING", "calm"),
    ]
    lines = _timeline_lines(transitions)
    assert all(len(line) <= 80 for line in lines), lines
    text = " ".join(line.strip() for line in lines)
    assert text.startswith("08-01 00h  2 WARNINGs inside the range until 08-02 12h")
    assert "(adx_rising 1, bandwidth_expanding 1)" in text
    # The escalations, each with its first reason; the step down is left out.
    changes = [line.strip() for line in lines if " -> " in line]
    assert changes == [
        "08-03 02h  NORMAL -> WARNING",
        "08-03 05h  WARNING -> LATEST_ACCEPTABLE_EXIT",
        "08-03 06h  LATEST_ACCEPTABLE_EXIT -> MANDATORY_EXIT",
    ]
    assert lines[lines.index(f"   {changes[0]}") + 1].strip() == "adx_rising: details (+1 more)"


def test_a_timeline_without_an_exit_is_all_summed_up() -> None:
    lines = _timeline_lines(
        [
            transition(0, "NORMAL", "WARNING", "adx_rising"),
            transition(6, "WARNING", "NORMAL", "calm"),
        ]
    )
    assert "1 WARNINGs inside the range" in lines[0]
    assert not [line for line in lines if " -> " in line]


def test_alerts_are_grouped_by_state_in_order_of_severity_with_their_priority() -> None:
    def evaluation(hours: int, notified: str) -> DeliveryRecord:
        return DeliveryRecord(
            hour=T0 + timedelta(hours=hours),
            grid_id="demo-eth-grid",
            key=notified,
            channel="log",
            attempted_at=T0 + timedelta(hours=hours, minutes=5),
            ok=True,
            detail="logged",
        )

    groups = _alert_groups(
        [
            evaluation(0, "WARNING"),
            evaluation(5, "NORMAL"),
            evaluation(9, "WARNING"),
            evaluation(12, "MANDATORY_EXIT"),
        ]
    )
    assert [(state, priority, count) for state, priority, count, _, _ in groups] == [
        ("NORMAL", -1, 1),
        ("WARNING", 0, 2),
        ("MANDATORY_EXIT", 2, 1),
    ]
    assert groups[1][3:] == (T0, T0 + timedelta(hours=9))


def test_log_lines_go_to_the_file_not_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "demo.log"
    with logs_to(log_file):
        logging.getLogger("prefect.engine").warning("a Prefect line the story does not need")
        logging.getLogger("market_maker.demo").warning("a library line")
    logging.getLogger("prefect.engine").warning("after the demo: the terminal again")
    text = log_file.read_text()
    assert "a Prefect line the story does not need" in text and "a library line" in text
    captured = capsys.readouterr()
    assert "a Prefect line" not in captured.out + captured.err
    assert "after the demo" not in text


def test_the_story_the_demo_tells_fits_80_columns(tmp_path: Path) -> None:
    """``market-maker demo`` as ``make demo`` runs it (with Prefect's temporary server),
    in a fresh checkout of the project, its replay clock moved back to 2 August so that it
    runs in about a minute: a grid placed, promoted, stopped at MANDATORY_EXIT, scored."""
    shutil.copytree(PROJECT_ROOT / "config", tmp_path / "config")
    (tmp_path / "data").symlink_to(PROJECT_ROOT / "data")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MARKET_MAKER_", "PREFECT_"))}
    env |= {
        "MARKET_MAKER_CONFIG_DIR": str(tmp_path / "config"),
        "MARKET_MAKER_REPLAY__NOW": "2023-08-02T06:00:00Z",
        "MARKET_MAKER_PREFECT_SERVER": "ephemeral",
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    run = subprocess.run(
        [sys.executable, "-m", "cli.main", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert run.returncode == 0, run.stderr
    printed = (run.stdout + run.stderr).splitlines()
    too_wide = [line for line in printed if len(line) > 80]
    assert not too_wide, too_wide
    story = "\n".join(printed)
    for part in ("1. Collected", "2. Classified", "3. From", "4. Exit states", "5. Alerts"):
        assert part in story
    assert "stopped 08-01 03:10 at MANDATORY_EXIT" in story
    assert "PRR -" in story and "gave back more than their peak profit" in story
    assert "Where to look next:" in story and run.stderr == ""
    # Prefect's lines, the last one at exit included, are in the log, not on the terminal.
    assert "Stopping temporary server" in (tmp_path / "var" / "demo.log").read_text()
