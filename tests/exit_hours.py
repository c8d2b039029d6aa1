"""Exit evaluations from given metrics files, through the pipeline's own steps (decide,
notify, record), without a run context: for tests of the exit side alone."""

from __future__ import annotations

from pathlib import Path

from market_maker.alerts.notifier import Notifier
from market_maker.config import Settings
from market_maker.exit_strategy.evaluator import ExitEvaluator
from market_maker.grids.book import GridBook
from market_maker.lifecycle.setup_evaluator import SetupEvaluator
from market_maker.pipeline.steps import HourServices, hour_alerts


def exit_services(
    root: Path,
    settings: Settings,
    book: GridBook,
    notifier: Notifier | None = None,
    *,
    setup: SetupEvaluator | None = None,
    code_version: str = "v",
) -> HourServices:
    """A grid book's hours evaluated in ``root`` (alerts to ``notifier``, by default as the
    settings say)."""
    exits = ExitEvaluator(root, settings)
    alerts = hour_alerts(root, settings, exits, notifier)
    return HourServices(settings, root, code_version, book, exits, alerts, setup=setup)
