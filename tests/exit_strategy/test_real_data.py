"""The exit evaluator over two real years of ETH/USDT (regime analysis straight from the recording).

Each scenario writes its exit-state files and decision records into its own
directory, hour by hour, exactly as the hourly pipeline's evaluator does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import yaml

from market_maker.alerts.message import PRIORITY, Notification
from market_maker.alerts.notifier import Delivery, Notifier
from market_maker.base.candles import CandleSeries
from market_maker.config import Settings
from market_maker.config.models import NotificationSettings
from market_maker.decisions.states import ExitState
from market_maker.exit_strategy.store import ExitStateStore
from market_maker.exit_strategy.timeline import read_timeline
from market_maker.grids.book import GridBook
from market_maker.pipeline.outcomes import ExitOutcome
from market_maker.pipeline.steps import evaluate_exit
from market_maker.regime.model import MetricsFile
from market_maker.regime.recording_analysis import analyze_series
from tests.exit_hours import exit_services

SYMBOL = "ETH-USDT"
M = ExitState.MANDATORY_EXIT


class RecordingNotifier(Notifier):
    """Delivers into a list (a channel that always works)."""

    def __init__(self) -> None:
        super().__init__(NotificationSettings())
        self.sent: list[Notification] = []

    def send(self, n: Notification, channels: list[str] | None = None) -> list[Delivery]:
        self.sent.append(n)
        return [Delivery("log", True, "recorded")]


@dataclass
class Scenario:
    root: Path
    lower: float
    upper: float
    metrics: list[MetricsFile]
    outcomes: list[ExitOutcome]
    notifier: RecordingNotifier
    book: GridBook

    def first(self, state: ExitState) -> datetime | None:
        return next((o.hour for o in self.outcomes if o.evaluation.after == state), None)  # type: ignore[union-attr]


def replay(
    root: Path,
    minutes: CandleSeries,
    settings: Settings,
    bounds: tuple[float, float],
    start: datetime,
    end: datetime,
) -> Scenario:
    """A grid enabled at ``start``, evaluated every hour up to ``end``."""
    grid = {
        "id": "eth-grid-1",
        "symbol": SYMBOL,
        "lower_price": bounds[0],
        "upper_price": bounds[1],
        "levels": 20,
        "amount_per_grid": 0.01,
        "profit_per_grid": 0.005,
        "history": [{"enabled": start.strftime("%Y-%m-%dT%H:%M:%SZ")}],
    }
    (root / "grids").mkdir(parents=True)
    (root / "grids/eth-grid-1.yaml").write_text(yaml.safe_dump(grid))
    book = GridBook.load(root, fee_rate=settings.grids.fee_rate)
    batch = analyze_series(SYMBOL, minutes, start, end, settings.regime)
    metrics = [
        batch.record(i, snapshot_path="-", collected_at=None, config_version="c", code_version="v")
        for i in range(len(batch.hours))
    ]
    metrics = [m.model_copy(update={"grid": book.status(SYMBOL, m.hour)}) for m in metrics]
    notifier = RecordingNotifier()
    evaluator = exit_services(root, settings, book, notifier)
    outcomes = [evaluate_exit(evaluator, m) for m in metrics]
    return Scenario(root, bounds[0], bounds[1], metrics, outcomes, notifier, book)


def files(root: Path) -> dict[Path, tuple[int, bytes]]:
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}


MAY_20 = datetime(2022, 5, 20, tzinfo=UTC)
GRID_MAY = (1700.0, 2100.0)  # the late-May 2022 range: closes 1,711-2,084 until June


def test_a_grid_in_the_may_2022_range_reaches_mandatory_exit_before_the_june_low(
    tmp_path: Path, minutes_2022_2023: CandleSeries, clean_settings: Settings
) -> None:
    may = replay(
        tmp_path,
        minutes_2022_2023,
        clean_settings,
        GRID_MAY,
        MAY_20,
        datetime(2022, 6, 18, tzinfo=UTC),
    )
    exit_hour = may.first(M)
    prices = {m.hour: m.price for m in may.metrics}
    break_hour = min(h for h, p in prices.items() if p < may.lower)

    assert exit_hour is not None
    assert exit_hour < datetime(2022, 6, 18, tzinfo=UTC)
    assert exit_hour < break_hour  # the exit came while price was still inside the grid
    assert may.lower <= prices[exit_hour] <= may.upper

    # Recorded in the day's exit-state file, with reasons and figures, and alerted at priority 2.
    store = ExitStateStore(may.root)
    day = store.day(SYMBOL, exit_hour.date())
    assert day is not None
    [into] = [t for t in day.transitions if t.timestamp == exit_hour]
    assert into.to_state == M and into.reasons
    assert into.metrics["price"] == prices[exit_hour] and into.metrics["verdict"] == "TREND"
    assert day.last_notified("MANDATORY_EXIT") is not None
    alerts = [n for n in may.notifier.sent if n.state == "MANDATORY_EXIT"]
    assert alerts[0].timestamp == int(exit_hour.timestamp())
    assert alerts[0].priority == PRIORITY[M] == 2

    # Once price has left the grid, the state is MANDATORY_EXIT at every hour outside it.
    for o in may.outcomes:
        if not may.lower <= prices[o.hour] <= may.upper:
            assert o.evaluation is not None and o.evaluation.after == M

    # Every hour left an evaluation and a decision; every transition its reasons and figures.
    timeline = read_timeline(store, SYMBOL, may.metrics[0].hour, may.metrics[-1].hour)
    assert sum(timeline.hours_in_state.values()) == len(may.metrics)
    assert len(list((may.root / "decisions").rglob("dec-*.yaml"))) == len(may.metrics)
    assert len(timeline.notified) == len(may.notifier.sent)
    for t in timeline.transitions:
        assert t.reasons and "price" in t.metrics and "adx" in t.metrics


def test_rerunning_hours_changes_no_file_and_sends_nothing(
    tmp_path: Path, minutes_2022_2023: CandleSeries, clean_settings: Settings
) -> None:
    # The days around the first exit: escalations, repeats and steps down, all notified.
    first_run = replay(
        tmp_path,
        minutes_2022_2023,
        clean_settings,
        GRID_MAY,
        MAY_20,
        datetime(2022, 5, 29, 23, tzinfo=UTC),
    )
    rerun = [m for m in first_run.metrics if m.hour.day in (27, 28)]
    notified = {o.hour for o in first_run.outcomes if o.deliveries}
    assert notified & {m.hour for m in rerun}, "the rerun days should include notified hours"
    before = files(tmp_path)
    notifier = RecordingNotifier()
    evaluator = exit_services(tmp_path, clean_settings, first_run.book, notifier)
    for m in first_run.metrics:  # the metrics files a real rerun would read from the repository
        evaluator.exits.remember(m)

    again = [evaluate_exit(evaluator, m) for m in rerun]

    assert files(tmp_path) == before
    assert notifier.sent == []
    first = {o.hour: o for o in first_run.outcomes}
    for o in again:
        assert o.evaluation is not None and first[o.hour].evaluation is not None
        assert o.evaluation.after == first[o.hour].evaluation.after  # type: ignore[union-attr]
    assert any(o.notify_reason.startswith("already notified") for o in again)


def test_a_grid_in_the_ranging_july_2023_never_reaches_mandatory_exit(
    tmp_path: Path, minutes_2022_2023: CandleSeries, clean_settings: Settings
) -> None:
    start, end = datetime(2023, 7, 1, tzinfo=UTC), datetime(2023, 7, 31, 23, tzinfo=UTC)
    lo = np.searchsorted(minutes_2022_2023.t, start.timestamp())
    hi = np.searchsorted(minutes_2022_2023.t, (end + timedelta(hours=1)).timestamp())
    # Price really stays inside the grid all month, to the minute.
    assert minutes_2022_2023.low[lo:hi].min() > 1800
    assert minutes_2022_2023.high[lo:hi].max() < 2050

    july = replay(tmp_path, minutes_2022_2023, clean_settings, (1800.0, 2050.0), start, end)

    assert len(july.outcomes) == 31 * 24
    assert july.first(M) is None
    assert all(n.priority < 2 for n in july.notifier.sent)
    states = {o.evaluation.after for o in july.outcomes if o.evaluation is not None}
    assert ExitState.NORMAL in states
    store = ExitStateStore(tmp_path)
    days = [store.day(SYMBOL, (start + timedelta(days=i)).date()) for i in range(31)]
    assert all(d is not None for d in days)
    for d in days:
        assert d is not None and d.last_notified("MANDATORY_EXIT") is None
        assert all(e.state != M for e in d.evaluations)
        assert all(t.to_state != M for t in d.transitions)
