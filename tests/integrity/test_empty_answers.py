"""No silent empty success: a question about data that is not there is an error, one line."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integrity.conftest import Run


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            [
                "regimes",
                "--symbol",
                "ETH-USDT",
                "--start",
                "2023-01-10T00:00Z",
                "--end",
                "2023-01-11T00:00Z",
            ],
            "market-maker regimes: no analysed hours for ETH-USDT from 2023-01-10T00:00:00Z "
            "to 2023-01-11T00:00:00Z in the data repository (market-maker analyze first)",
        ),
        (
            ["regimes", "--symbol", "ETH-USDT", "--at", "2023-01-10T05:00Z"],
            "market-maker regimes: no analysed hours for ETH-USDT at 2023-01-10T05:00:00Z",
        ),
        (
            ["evaluate-exit", "--symbol", "ETH-USDT", "--hour", "2023-01-10T05:00Z"],
            "market-maker evaluate-exit: no metrics file metrics/ETH-USDT/2023-01-10-05.yaml in "
            "the data repository: that hour has not been analysed",
        ),
    ],
    ids=["regimes-range", "regimes-at", "evaluate-exit"],
)
def test_asking_about_hours_never_analysed_is_one_line_and_fails(
    data_env: dict[str, str], cli: Callable[..., Run], argv: list[str], expected: str
) -> None:
    run = cli(*argv)
    assert run.code == 1
    assert "Traceback" not in run.err and run.out == ""
    mine = [line for line in run.err_lines if line.startswith("market-maker")]
    assert len(mine) == 1 and mine[0].startswith(expected), run.err
    assert "EventsWorker" not in run.err
