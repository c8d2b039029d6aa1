"""No state is delivered twice across reruns, in any order, whatever Pushover does.

The exit evaluations of the 17 August 2023 break (the sample's hours analysed as the
pipeline analyses them), each hour through the pipeline's own decide, notify and record
steps as a separate run would, alerts to a real HTTP server speaking Pushover's format that
is down or up at each run. Every hour is first run in order, then any hours are rerun in
any order. Within one episode (consecutive hours of one state) the operator's channel takes
that state's alert in time order, never for an hour before one it already took, and never
again within the state's rate limit.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market_maker.config import Settings, load_settings
from market_maker.exchange.replay import load_recorded_minutes
from market_maker.exit_strategy.store import ExitStateStore
from market_maker.grids.book import GridBook
from market_maker.pipeline.steps import evaluate_exit
from market_maker.regime.model import MetricsFile
from market_maker.regime.recording_analysis import analyze_series
from tests.alerts.pushover_server import TOKEN, USER_KEY, FakePushover, Fault
from tests.conftest import SAMPLE_FILE
from tests.exit_hours import exit_services
from tests.grid_files import grid_data

SYMBOL = "ETH-USDT"
FIRST = datetime(2023, 8, 17, 3, tzinfo=UTC)  # the hour before the history, for its ADX
HISTORY = [datetime(2023, 8, 17, h, tzinfo=UTC) for h in range(4, 8)]  # WARNING
# WARNING, then LATEST_ACCEPTABLE_EXIT at 11:00 and MANDATORY_EXIT from 12:00
WINDOW = [datetime(2023, 8, 17, h, tzinfo=UTC) for h in range(8, 16)]


@dataclass(frozen=True, repr=False)
class World:
    settings: Settings
    metrics: dict[datetime, MetricsFile]
    history: Path  # a data folder with the grid and its history evaluated
    pushover: FakePushover


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with FakePushover() as pushover, pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("MARKET_MAKER_"):
                mp.delenv(name)
        prefix = "MARKET_MAKER_NOTIFICATIONS__"
        mp.setenv(f"{prefix}PUSHOVER__API_URL", pushover.messages_url)
        mp.setenv(f"{prefix}PUSHOVER__TOKEN", TOKEN)
        mp.setenv(f"{prefix}PUSHOVER__USER_KEY", USER_KEY)
        mp.setenv(f"{prefix}PUSHOVER__ATTEMPTS", "1")
        mp.setenv(f"{prefix}CHART__ENABLED", "false")
        config = load_settings()
        minutes = load_recorded_minutes(SAMPLE_FILE)
        batch = analyze_series(SYMBOL, minutes, FIRST, WINDOW[-1], config.regime)
        history = tmp_path_factory.mktemp("history") / "repo"
        (history / "grids").mkdir(parents=True)
        (history / "grids/eth-grid-1.yaml").write_text(yaml.safe_dump(grid_data()))
        book = GridBook.load(history, fee_rate=config.grids.fee_rate)
        metrics = {}
        for i in range(len(batch.hours)):
            m = batch.record(
                i, snapshot_path="-", collected_at=None, config_version="c", code_version="v"
            )
            metrics[m.hour] = m.model_copy(update={"grid": book.status(SYMBOL, m.hour)})
        w = World(config, metrics, history, pushover)
        for hour in HISTORY:
            run(w, history, hour, down=False)
        yield w


def run(w: World, root: Path, hour: datetime, *, down: bool) -> None:
    """One run of ``hour``'s exit evaluation, as a new process would make it."""
    book = GridBook.load(root, fee_rate=w.settings.grids.fee_rate)
    services = exit_services(root, w.settings, book)
    for m in w.metrics.values():  # the metrics files a run reads from the repository
        services.exits.remember(m)
    if down:
        w.pushover.inject(Fault.server_error(503), times=10)
    try:
        evaluate_exit(services, w.metrics[hour])
    finally:
        w.pushover.heal()


def episodes(root: Path) -> dict[datetime, tuple[str, datetime]]:
    """Every evaluated hour's state and the first hour of its episode."""
    day = ExitStateStore(root).day(SYMBOL, WINDOW[0].date())
    assert day is not None
    out: dict[datetime, tuple[str, datetime]] = {}
    previous: tuple[str, datetime] | None = None
    for e in day.latest():
        same = previous is not None and previous[0] == e.state
        start = previous[1] if same and previous is not None else e.hour
        out[e.hour] = previous = (e.state, start)
    return out


hours = st.sampled_from(WINDOW)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    first_pass=st.lists(st.booleans(), min_size=len(WINDOW), max_size=len(WINDOW)),
    reruns=st.lists(st.tuples(hours, st.booleans()), max_size=8),
)
def test_no_state_is_delivered_twice_in_an_episode_across_reruns_in_any_order(
    world: World, first_pass: list[bool], reruns: list[tuple[datetime, bool]]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "repo"
        shutil.copytree(world.history, root)
        for hour, down in [*zip(WINDOW, first_pass, strict=True), *reruns]:
            run(world, root, hour, down=down)

        states = episodes(root)
        day = ExitStateStore(root).day(SYMBOL, WINDOW[0].date())
        assert day is not None
        taken: dict[tuple[str, datetime], list[datetime]] = {}
        for d in day.deliveries:  # in the order they were attempted
            if d.ok and d.channel == "pushover":
                state, start = states[d.hour]
                assert d.key == state
                taken.setdefault((d.key, start), []).append(d.hour)
        limits = world.settings.notifications.rate_limit_hours
        for (key, start), delivered in taken.items():
            # NORMAL is announced once, when the state eases back to it.
            limit = timedelta(hours=getattr(limits, key, 24 * 365))
            for a, b in itertools.pairwise(delivered):
                assert b - a >= limit, (
                    f"{key} of the episode from {start:%H:%M} delivered for {a:%H:%M} and "
                    f"then for {b:%H:%M}"
                )
