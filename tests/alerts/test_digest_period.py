"""The daily digest at a 15-minute collection period, on recorded data: 17 August 2023 (the
break) run through the pipeline period by period; the digest counts the day's 96 periods."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from market_maker.alerts.digest import _grids, build_digest
from market_maker.decisions.states import ExitState
from market_maker.exit_strategy.model import EvaluationRecord
from market_maker.exit_strategy.store import ExitStateStore
from market_maker.pipeline.steps import load_book
from tests.period_repo import SYMBOL, PeriodRepo, open_repo, replay, with_grid

DAY = date(2023, 8, 17)
START = datetime(2023, 8, 17, tzinfo=UTC)
QUARTER = timedelta(minutes=15)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> PeriodRepo:
    repo = tmp_path_factory.mktemp("digest") / "repo"
    return replay(repo, 15, START, START + timedelta(hours=23, minutes=45), grid=with_grid())


def test_the_digest_counts_the_periods_of_the_day(day: PeriodRepo) -> None:
    metrics = [r.metrics for r in day.results]
    assert len(metrics) == 96
    n = build_digest(day.root, day.ctx.settings, DAY)

    assert n.title == f"market-maker {DAY}: alive"
    assert n.timestamp == int(datetime(2023, 8, 18, tzinfo=UTC).timestamp())
    lines = n.message.splitlines()
    assert lines[0] == "Alive: every period of the day was analysed."
    verdicts = Counter(str(m.verdict) if m.verdict else "refused" for m in metrics)
    shares = ", ".join(f"{v} {verdicts[v]}" for v in sorted(verdicts))
    assert lines[1] == (
        f"{SYMBOL}: 96/96 15-minute periods analysed, last 23:45 UTC at "
        f"{metrics[-1].price:,.2f}. Verdicts: {shares}."
    )
    # The grid's state and the quarter it has held since, from the day's evaluations.
    evaluations = ExitStateStore(day.root).day(SYMBOL, DAY).latest()
    assert len(evaluations) == 96
    state, since = evaluations[-1].state, evaluations[-1].hour
    for e in reversed(evaluations):
        if e.state != state:
            break
        since = e.hour
    assert since.minute % 15 == 0 and since != START
    assert lines[2].startswith(
        f"Grid eth-grid-1 (1,780-1,900, running): {state} since {since:%H:%M} UTC, price "
    )
    assert lines[3].startswith("Alerts sent: ")


def test_a_missing_period_is_reported(day: PeriodRepo, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(day.root, root)
    (root / "metrics" / SYMBOL / "2023-08-17-10-15.yaml").unlink()
    n = build_digest(root, day.ctx.settings, DAY)
    assert n.title == f"market-maker {DAY}: PERIODS MISSING"
    lines = n.message.splitlines()
    assert lines[0] == "Periods are missing: check the hourly pipeline's runs."
    assert lines[1].startswith(f"{SYMBOL}: 95/96 15-minute periods analysed, last 23:45 UTC")


def test_an_hourly_digest_reads_the_hourly_files_only(day: PeriodRepo) -> None:
    """The same repository under the default period: its 15-minute files are not the hours
    it looks for (the hourly wording, as before)."""
    hourly = open_repo(day.root, 60, START + timedelta(days=1)).settings
    n = build_digest(day.root, hourly, DAY)
    assert n.title == f"market-maker {DAY}: HOURS MISSING"
    lines = n.message.splitlines()
    assert lines[:2] == [
        "Hours are missing: check the hourly pipeline's runs.",
        f"{SYMBOL}: NO hour of the day analysed.",
    ]
    assert n.timestamp == int(datetime(2023, 8, 18, tzinfo=UTC).timestamp())


def test_a_state_taken_a_quarter_past_midnight_is_not_all_day(day: PeriodRepo) -> None:
    def record(at: datetime, state: ExitState) -> EvaluationRecord:
        return EvaluationRecord(
            hour=at,
            grid_id="eth-grid-1",
            state=state,
            target=state,
            warning=state != ExitState.NORMAL,
            conditions=[],
        )

    book = load_book(day.ctx)
    end = START + timedelta(hours=23, minutes=45)
    quarter_past = [record(START, ExitState.NORMAL), record(START + QUARTER, ExitState.WARNING)]
    assert _grids(book, SYMBOL, quarter_past, None, end, QUARTER) == [
        "Grid eth-grid-1 (1,780-1,900, running): WARNING since 00:15 UTC."
    ]
    from_midnight = [record(START, ExitState.WARNING), record(START + QUARTER, ExitState.WARNING)]
    assert _grids(book, SYMBOL, from_midnight, None, end, QUARTER) == [
        "Grid eth-grid-1 (1,780-1,900, running): WARNING all day."
    ]
