"""Structured logs: with logging.format json every console line is one JSON object."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from flows._common import configure_logging


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("market_maker")
    saved = {
        h: h.formatter
        for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs", "market_maker")
        for h in logging.getLogger(name).handlers
    }
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)
    for h, formatter in saved.items():
        h.setFormatter(formatter)


def test_json_format_writes_one_json_object_per_line(captured: io.StringIO) -> None:
    configure_logging("json")
    logging.getLogger("market_maker.test").warning("exit evaluation took %.2f s", 61.5)
    record = json.loads(captured.getvalue().strip().splitlines()[-1])
    assert record["msg"] == "exit evaluation took %.2f s"
    assert record["levelname"] == "WARNING"
    assert record["name"] == "market_maker.test"


def test_text_format_leaves_the_console_as_it_is(captured: io.StringIO) -> None:
    configure_logging("text")
    logging.getLogger("market_maker.test").warning("plain")
    assert captured.getvalue().strip().splitlines()[-1] == "plain"
