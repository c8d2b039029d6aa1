"""The demo tells its story on the terminal and keeps the logs in a file."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli.main import main
from demo.story import _alert_groups, _timeline_lines, logs_to
from market_maker.exit_strategy.model import DeliveryRecord, TransitionRecord

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


def test_warnings_that_eased_back_are_one_line_and_the_escalation_is_shown_in_full() -> None:
    transitions = [
        transition(0, "NORMAL", "WARNING", "adx_rising"),
        transition(6, "WARNING", "NORMAL", "calm"),
        transition(30, "NORMAL", "WARNING", "bandwidth_expanding"),
        transition(36, "WARNING", "NORMAL", "calm"),
        transition(50, "NORMAL", "WARNING", "adx_rising"),
        transition(53, "WARNING", "LATEST_ACCEPTABLE_EXIT", "warning_persisted"),
        transition(54, "LATEST_ACCEPTABLE_EXIT", "MANDATORY_EXIT", "latest_persisted"),
    ]
    lines = _timeline_lines(transitions)
    assert lines[0].startswith("2023-08-01T00Z .. 2023-08-02T12Z  2 WARNINGs inside the range")
    assert "adx_rising 1, bandwidth_expanding 1" in lines[0]
    assert [line.split(": ")[0] for line in lines[1:]] == [
        "2023-08-03T02Z  NORMAL -> WARNING",
        "2023-08-03T05Z  WARNING -> LATEST_ACCEPTABLE_EXIT",
        "2023-08-03T06Z  LATEST_ACCEPTABLE_EXIT -> MANDATORY_EXIT",
    ]
    assert lines[1].endswith("adx_rising: details (+1 more)")


def test_a_timeline_without_an_exit_is_all_summed_up() -> None:
    lines = _timeline_lines(
        [
            transition(0, "NORMAL", "WARNING", "adx_rising"),
            transition(6, "WARNING", "NORMAL", "calm"),
        ]
    )
    assert len(lines) == 1 and "1 WARNINGs inside the range" in lines[0]


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
