"""Integrity tests run flows for real, against Prefect's test harness (a temporary local server),
and the command line in-process, its whole console output captured."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cli.main import main
from tests.prefect_server import harness

CONSOLE_LOGGERS = ("", "prefect", "prefect.flow_runs", "prefect.task_runs", "market_maker")


@pytest.fixture(scope="session", autouse=True)
def prefect_server() -> Iterator[None]:
    with harness():
        yield


@pytest.fixture(autouse=True)
def _no_config_file_left_behind() -> Iterator[None]:
    """``market-maker --config FILE`` exports MARKET_MAKER_CONFIG for the flows it runs; a test
    leaves no such export to the next."""
    yield
    os.environ.pop("MARKET_MAKER_CONFIG", None)


@dataclass
class Run:
    """One ``market-maker`` command: its exit code and everything it printed."""

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def _console_handlers() -> list[logging.StreamHandler[Any]]:
    handlers = {id(h): h for name in CONSOLE_LOGGERS for h in logging.getLogger(name).handlers}
    return [
        h
        for h in handlers.values()
        if isinstance(h, logging.StreamHandler)
        and not isinstance(h, logging.FileHandler)
        and not type(h).__module__.startswith("_pytest")
    ]


def _point(handler: logging.StreamHandler[Any], stream: Any) -> None:
    handler.stream = stream
    console = getattr(handler, "console", None)  # Prefect's handler prints through rich
    if console is not None:
        console.file = stream


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """``market-maker ARGS`` in-process, as a user runs it: stdout, and stderr with what every
    console log handler (Prefect's included) printed. Prefect's handlers keep the stream that
    was ``sys.stderr`` when they were set up; for the command they write to this test's."""

    def run(*argv: str) -> Run:
        capsys.readouterr()
        saved = {id(h): h.stream for h in _console_handlers()}
        for handler in _console_handlers():
            _point(handler, sys.stderr)
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse: usage errors
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            # Handlers set up by this command, or holding another test's closed capture,
            # go to the process's stderr; the others get their stream back.
            for handler in _console_handlers():
                stream = saved.get(id(handler))
                if stream is None or getattr(stream, "closed", False):
                    stream = sys.__stderr__
                _point(handler, stream)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run
