"""An expired, unanswered STOP recommendation escalates: the next alert says it was missed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from market_maker.config import load_settings
from market_maker.decisions.store import DecisionStore
from market_maker.grids.book import GridBook
from market_maker.pipeline.steps import evaluate_exit
from market_maker.regime.model import MetricsFile
from tests.exit_hours import exit_services
from tests.grid_files import grid_data


def test_the_alert_after_an_unanswered_stop_says_it_was_missed(
    tmp_path: Path, august: list[MetricsFile]
) -> None:
    settings = load_settings()
    (tmp_path / "grids").mkdir()
    (tmp_path / "grids/eth-grid-1.yaml").write_text(yaml.safe_dump(grid_data()))
    book = GridBook.load(tmp_path, fee_rate=settings.grids.fee_rate)
    evaluator = exit_services(tmp_path, settings, book)
    hours = [m for m in august if datetime(2023, 8, 16, 12, tzinfo=UTC) <= m.hour]
    stop = None
    for m in hours[:36]:
        outcome = evaluate_exit(evaluator, m)
        d = outcome.decision
        if stop is None:
            if d is not None and str(d.recommendation) == "STOP_GRID" and d.expires_at:
                stop = d
            continue
        n = outcome.notification
        if n is not None and outcome.decision is not None:
            assert n.message.startswith(f"MISSED: the {stop.exit_state} recommendation {stop.id}")
            break
    else:
        raise AssertionError("no STOP_GRID followed by an alert in the recorded break")
    assert stop is not None and DecisionStore(tmp_path).entries(stop.id, "action") == []
    # Every decision of the running grid carries its position at that hour.
    assert outcome.decision.position is not None and outcome.decision.position.base_held > 0
