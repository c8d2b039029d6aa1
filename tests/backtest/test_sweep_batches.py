"""A sweep runs its points a batch at a time: every point in exactly one batch, the batches
as even as the count allows, each taking points from the whole range of the values."""

from __future__ import annotations

import gc
import gzip
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_maker.backtest import runner
from market_maker.backtest.parameters import parse_parameters
from market_maker.backtest.recording import RawRecording, read_recording
from market_maker.backtest.runner import replay_worker
from market_maker.backtest.sweep import SweepPoint, batches, split_at, sweep_points
from market_maker.base.errors import ParameterError
from market_maker.config import load_settings
from tests.conftest import SAMPLE_FILE

BASE = parse_parameters({"start": "2023-07-01T00:00:00Z", "end": "2023-08-01T00:00:00Z"})
SPLIT = datetime(2023, 7, 16, tzinfo=UTC)
DAY = timedelta(days=1)


def points(count: int) -> list[SweepPoint]:
    return sweep_points(BASE, {"half_width_pct": [1.0 + k / 10 for k in range(count)]}, SPLIT)


ALL = points(40)


@settings(max_examples=80, deadline=None)
@given(count=st.integers(1, 40), wanted=st.integers(1, 50))
def test_every_point_is_in_one_batch_and_the_batches_are_even(count: int, wanted: int) -> None:
    given_points = ALL[:count]

    dealt = batches(given_points, wanted)

    assert len(dealt) == min(wanted, count)
    assert sorted(p.index for batch in dealt for p in batch) == list(range(count))
    sizes = [len(batch) for batch in dealt]
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    for batch in dealt:  # dealt round-robin: a batch strides across the values
        indices = [p.index for p in batch]
        assert indices == list(range(indices[0], count, len(dealt)))


def test_four_batches_of_ten_points_each_hold_narrow_and_wide_grids() -> None:
    dealt = batches(ALL[:10], 4)

    assert [[p.values["half_width_pct"] for p in batch] for batch in dealt] == [
        [1.0, 1.4, 1.8],
        [1.1, 1.5, 1.9],
        [1.2, 1.6],
        [1.3, 1.7],
    ]


def test_a_count_below_one_is_refused() -> None:
    with pytest.raises(ParameterError, match="batches: 0 is not a positive count"):
        batches(ALL, 0)


def test_a_replay_worker_collects_young_garbage_less_often_and_never_more() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        replay_worker()
        assert gc.get_threshold() == (10_000, 10, 10)
        gc.set_threshold(50_000, 5, 5)
        replay_worker()
        assert gc.get_threshold() == (50_000, 5, 5)
    finally:
        gc.set_threshold(*before)


def test_a_worker_reads_a_recording_once_for_both_periods_and_again_once_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "minutes.csv.gz"
    shutil.copy(SAMPLE_FILE, path)
    reads: list[Path] = []

    def counting(p: Path, **kw: str) -> RawRecording:
        reads.append(p)
        return read_recording(p, **kw)

    monkeypatch.setattr(runner, "read_recording", counting)
    cfg = load_settings()
    whole = parse_parameters(
        {"data_file": str(path), "start": "2023-07-01T00:00:00Z", "end": "2023-08-28T00:00:00Z"}
    )
    train, test = split_at(whole, SPLIT)

    runner.load_cached(train, cfg)
    last = runner.load_cached(test, cfg)
    assert reads == [path]

    # The file changes (a day of minutes fewer): the next period is read from the new file.
    text = gzip.decompress(path.read_bytes()).decode().splitlines(keepends=True)
    path.write_bytes(gzip.compress("".join(text[:-1440]).encode()))
    shorter = runner.load_cached(
        split_at(whole.model_copy(update={"end": test.end - DAY}), SPLIT)[1], cfg
    )
    assert reads == [path, path]
    assert shorter.minutes.t[-1] < last.minutes.t[-1]
