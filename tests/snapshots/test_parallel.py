"""Cold reads spread over processes give what one reader gives, errors included."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from market_maker.base.timeutil import HOUR, format_utc
from market_maker.exchange.replay import ReplayExchange
from market_maker.snapshots import SnapshotReader, dumps, snapshot_relpath
from market_maker.snapshots import parallel as parallel_module
from market_maker.snapshots.columnar import CandleCache
from market_maker.snapshots.parallel import cores, map_parts
from tests.conftest import SAMPLE_FILE
from tests.snapshots.helpers import SYMBOL, build_hours

# Two months: the cache builds each month as one part.
FIRST, LAST = datetime(2023, 7, 31, 21, tzinfo=UTC), datetime(2023, 8, 1, 2, tzinfo=UTC)

needs_two_cores = pytest.mark.skipif(cores() < 2, reason="one core: the parts run here")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    exchange = ReplayExchange(SAMPLE_FILE, SYMBOL, now=LAST + 2 * HOUR)
    for hour, snap in build_hours(exchange, FIRST, LAST).items():
        path = root / snapshot_relpath(SYMBOL, hour)
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = dumps(snap)
        if hour == FIRST + HOUR:  # one invalid file: its problems come back too
            raw = raw.replace(b'"o": ', b'"o": -', 1)
        path.write_bytes(raw)
    return root


def checked(reader: SnapshotReader, hour: datetime) -> tuple[int, list, list | None]:
    snap, problems = reader.check_arrays(SYMBOL, hour)
    return os.getpid(), problems, None if snap is None else snap.rows("candles_1h").tolist()


def fails_at_one(reader: SnapshotReader, hour: datetime) -> str:
    if hour == FIRST + 2 * HOUR:
        raise ValueError(f"cannot read {format_utc(hour)}")
    return format_utc(hour)


def hours() -> list[datetime]:
    return [FIRST + i * HOUR for i in range(6)]


@needs_two_cores
def test_parts_read_in_worker_processes_give_what_one_reader_gives(repo: Path) -> None:
    alone = map_parts(SnapshotReader(repo), checked, hours(), files=6, min_files=10**9)
    spread = map_parts(SnapshotReader(repo), checked, hours(), files=6, min_files=0)

    assert [r[1:] for r in spread] == [r[1:] for r in alone]
    assert {r[0] for r in alone} == {os.getpid()}
    assert os.getpid() not in {r[0] for r in spread}
    assert any(p.severity == "error" for p in spread[1][1])  # named as the reader names it
    assert all(str(repo) in p.file for p in spread[1][1])


@needs_two_cores
def test_an_error_in_a_worker_is_raised_as_the_sequential_read_raises_it(repo: Path) -> None:
    with pytest.raises(ValueError, match="cannot read 2023-07-31T23:00:00Z"):
        map_parts(SnapshotReader(repo), fails_at_one, hours(), files=6, min_files=0)


@needs_two_cores
def test_a_threaded_caller_gets_workers_from_a_fork_server(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = map_parts(SnapshotReader(repo), checked, hours(), files=6, min_files=10**9)
    monkeypatch.setattr(parallel_module.threading, "active_count", lambda: 2)  # as in a flow
    assert parallel_module._context(SnapshotReader(repo), checked).get_start_method() == (
        "forkserver"
    )

    spread = map_parts(SnapshotReader(repo), checked, hours(), files=6, min_files=0)

    assert [r[1:] for r in spread] == [r[1:] for r in alone]
    assert os.getpid() not in {r[0] for r in spread}


def test_a_function_a_fork_server_cannot_import_runs_here(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel_module.threading, "active_count", lambda: 2)  # as in a flow

    def local(reader: SnapshotReader, hour: datetime) -> int:
        return os.getpid()

    assert set(map_parts(SnapshotReader(repo), local, hours(), files=6, min_files=0)) == {
        os.getpid()
    }


@needs_two_cores
def test_a_cold_cache_built_on_every_core_holds_what_one_core_builds(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel_module, "MIN_FILES", 10**9)
    alone = CandleCache(SnapshotReader(repo), tmp_path / "alone").load(SYMBOL, FIRST, LAST)
    monkeypatch.setattr(parallel_module, "MIN_FILES", 0)
    spread = CandleCache(SnapshotReader(repo), tmp_path / "spread").load(SYMBOL, FIRST, LAST)

    for field in ("t", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(spread.h1, field), getattr(alone.h1, field))
        assert np.array_equal(getattr(spread.h4, field), getattr(alone.h4, field))
    assert (spread.hours, spread.grids, spread.collected_at, spread.invalid) == (
        alone.hours,
        alone.grids,
        alone.collected_at,
        alone.invalid,
    )
    assert spread.invalid == [FIRST + HOUR]
    assert sorted(p.name for p in (tmp_path / "spread" / SYMBOL).iterdir()) == [
        "2023-07.npz",
        "2023-08.npz",
    ]
