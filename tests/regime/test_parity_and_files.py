"""July 2023 as stored snapshots: the live and range paths agree, metrics files are recomputable."""

from __future__ import annotations

import fcntl
import math
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import talib

from market_maker.base.timeutil import format_utc
from market_maker.config import load_settings
from market_maker.config.regime import RegimeSettings
from market_maker.context import RunContext
from market_maker.pipeline.collection import collect_hours
from market_maker.regime import files
from market_maker.regime.model import MetricRecord, MetricsFile
from market_maker.regime.stored_analysis import RangeAnalysis, analyze_range, analyze_stored_hour
from market_maker.snapshots import Limits, SnapshotReader, write_snapshot
from market_maker.snapshots.model import GridStatusRecord, Snapshot
from tests.regime.helpers import SYMBOL, hours, utc

START, END = utc(2023, 7, 1), utc(2023, 7, 31, 23)
VERSIONS = {"config_version": "test-config", "code_version": "test-code"}
TOLERANCE = {"rtol": 1e-9, "atol": 1e-9}
COLLECTED_AT = utc(2023, 8, 1, 0, 5)


@dataclass(frozen=True)
class StoredMonth:
    root: Path
    cache: Path
    limits: Limits
    cfg: RegimeSettings

    def reader(self, root: Path | None = None) -> SnapshotReader:
        return SnapshotReader(root or self.root, self.limits)

    def analyze_range(self, reader: SnapshotReader, cache_dir: Path) -> RangeAnalysis:
        return analyze_range(reader, cache_dir, SYMBOL, START, END, self.cfg, **VERSIONS)


@contextmanager
def file_lock(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """An exclusive lock shared by the xdist workers; yields False if busy and not ``wait``."""
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
        else:
            yield True


def open_month(repo: Path) -> tuple[RunContext, StoredMonth]:
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("MARKET_MAKER_"):
                mp.delenv(name)
        mp.setenv("MARKET_MAKER_DATA_REPOSITORY__BASE_PATH", str(repo))
        mp.setenv("MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL", "")
        ctx = RunContext.open(load_settings())
    month = StoredMonth(ctx.store.path, repo.with_suffix(".cache"), ctx.limits, ctx.settings.regime)
    return ctx, month


@pytest.fixture(scope="session")
def july(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> StoredMonth:
    """Snapshots of every hour of July 2023, collected from the sample as the backfill does,
    and the month's columnar cache: built once per run, read-only (tests copy to change).

    The xdist workers share the run's directory and collect the month's quarters in
    parallel: each takes the parts nobody has claimed, then waits for the others.
    """
    base = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        base = base.parent  # the run's directory, common to every worker
    with file_lock(base / "july.lock"):
        ctx, month = open_month(base / "july-2023")
    parts = np.array_split(np.array(hours(START, END)), 4)
    for wait in (False, True):
        for number, part in enumerate(parts):
            done = base / f"july-2023.part{number}"
            with file_lock(base / f"july-2023.part{number}.lock", wait=wait) as mine:
                if mine and not done.exists():
                    outcomes = collect_hours(ctx, SYMBOL, list(part), collected_at=COLLECTED_AT)
                    assert {o.status for o in outcomes} == {"written"}
                    done.touch()
    with file_lock(base / "july.lock"):
        if not (base / "july-2023.cached").exists():
            month.analyze_range(month.reader(), month.cache)
            (base / "july-2023.cached").touch()
    return month


@pytest.fixture(scope="module")
def reader(july: StoredMonth) -> SnapshotReader:
    return july.reader()


@pytest.fixture(scope="module")
def july_range(july: StoredMonth, reader: SnapshotReader) -> list[MetricsFile]:
    analysis = july.analyze_range(reader, july.cache)
    assert analysis.summary.hours_analysed == 744 and analysis.summary.hours_refused == 0
    return analysis.records()


@pytest.mark.parametrize("week", range(5), ids=lambda w: f"days-{7 * w + 1}-{7 * w + 7}")
def test_every_hour_analysed_from_its_snapshot_equals_the_range_analysis(
    july: StoredMonth, reader: SnapshotReader, july_range: list[MetricsFile], week: int
) -> None:
    differing = []
    for from_range in july_range[7 * 24 * week : 7 * 24 * (week + 1)]:
        live = analyze_stored_hour(reader, SYMBOL, from_range.hour, july.cfg, **VERSIONS)
        if live != from_range:
            differing.append(format_utc(from_range.hour))
    assert differing == [], f"{len(differing)} hours differ, first {differing[:5]}"


def test_metrics_files_round_trip_through_their_yaml(july_range: list[MetricsFile]) -> None:
    # Infinite OU half-lives (no mean reversion) must survive as .inf.
    assert any(math.isinf(m.metrics["ou_half_life"].value or 0.0) for m in july_range)
    for m in july_range:
        assert files.parse(files.dumps(m)) == m


def test_writing_a_metrics_file_twice_leaves_it_unchanged(
    july_range: list[MetricsFile], tmp_path: Path
) -> None:
    metrics = july_range[100]
    path, status = files.write(tmp_path, metrics)
    assert status == "written"
    assert path == tmp_path / "metrics" / SYMBOL / "2023-07-05-04.yaml"
    mtime = path.stat().st_mtime_ns
    assert files.write(tmp_path, metrics) == (path, "unchanged")
    assert path.stat().st_mtime_ns == mtime
    assert files.read(path) == metrics


def test_a_differing_metrics_file_is_kept_unless_overwrite_is_asked(
    july_range: list[MetricsFile], tmp_path: Path
) -> None:
    first = july_range[200]
    other = first.model_copy(update={"code_version": "another-code"})
    path, _ = files.write(tmp_path, first)
    assert files.write(tmp_path, other) == (path, "kept")
    assert files.read(path) == first
    assert files.write(tmp_path, other, overwrite=True) == (path, "written")
    assert files.read(path) == other


def recompute_with_talib(
    snapshot: Snapshot, metrics: dict[str, MetricRecord], section: str
) -> dict[str, float]:
    """The four TA-Lib metrics from the snapshot's candles, the file's windows and params."""
    series = snapshot.series(section)  # type: ignore[arg-type]

    def last(name: str) -> tuple[MetricRecord, np.ndarray]:
        m = metrics[name]
        return m, series.close[-m.window :]

    adx = metrics["adx"]
    n = adx.window
    high, low, close = series.high[-n:], series.low[-n:], series.close[-n:]
    out = {"adx": talib.ADX(high, low, close, int(adx.params["period"]))[-1]}
    er, close = last("efficiency_ratio")
    out["efficiency_ratio"] = talib.ER(close, int(er.params["period"]))[-1]
    ns, close = last("normalized_slope")
    slope = talib.LINEARREG_SLOPE(np.log(close), ns.window)[-1]
    out["slope"] = slope
    out["normalized_slope"] = slope * math.sqrt(ns.window) / np.std(np.diff(np.log(close)))
    bb, close = last("bollinger_bandwidth")
    period, nbdev = int(bb.params["period"]), float(bb.params["nbdev"])
    upper, middle, lower = talib.BBANDS(close, period, nbdev, nbdev, 0)
    width = (upper - lower) / middle
    out["bollinger_bandwidth"] = width[-1]
    out["expansion"] = width[-1] / width[period - 1]
    return out


@pytest.mark.parametrize(("timeframe", "section"), [("1h", "candles_1h"), ("4h", "candles_4h")])
def test_the_talib_metrics_of_a_file_are_recomputable_from_its_snapshot_alone(
    reader: SnapshotReader, july_range: list[MetricsFile], timeframe: str, section: str
) -> None:
    # Every third hour; the records are what their files read back as (see the round trip).
    for record in july_range[::3]:
        metrics = record.metrics if timeframe == "1h" else record.confirmation_4h.metrics
        assert {r.timeframe for r in metrics.values()} == {timeframe}
        snapshot = reader.load_snapshot(SYMBOL, record.hour)
        expected = recompute_with_talib(snapshot, metrics, section)
        got = {name: metrics[name].value for name in expected if name in metrics}
        got["slope"] = metrics["normalized_slope"].details["slope"]
        got["expansion"] = metrics["bollinger_bandwidth"].details["expansion"]
        for name, value in expected.items():
            np.testing.assert_allclose(
                got[name], value, **TOLERANCE, err_msg=f"{record.hour} {name}"
            )


def cache_files(cache_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in cache_dir.rglob("*.npz")}


DAYS = (utc(2023, 7, 13), utc(2023, 7, 15, 23))


def test_the_columnar_cache_rebuilds_a_changed_month_and_equals_a_rebuild_from_scratch(
    july: StoredMonth, july_range: list[MetricsFile], tmp_path: Path
) -> None:
    # A copy of three days of the month (snapshots are self-contained: their hours analyse
    # alike).
    month = Path("snapshots", SYMBOL, "2023", "07")
    for day in range(DAYS[0].day, DAYS[1].day + 1):
        shutil.copytree(july.root / month / f"{day:02d}", tmp_path / month / f"{day:02d}")
    reader, cache = july.reader(tmp_path), tmp_path / "cache"

    def days() -> list[MetricsFile]:
        return analyze_range(reader, cache, SYMBOL, *DAYS, july.cfg, **VERSIONS).records()

    first = days()
    assert first == [m for m in july_range if DAYS[0] <= m.hour <= DAYS[1]]
    built = cache_files(cache)
    assert list(built) == ["2023-07.npz"]
    assert days() == first
    assert cache_files(cache) == built  # nothing changed, nothing rebuilt

    changed_hour = utc(2023, 7, 15, 9)
    snapshot = reader.load_snapshot(SYMBOL, changed_hour)
    price = snapshot.price(snapshot.candles_1h[-1].c)
    grid = GridStatusRecord(
        grid_id="eth-grid-1",
        running=True,
        lower_price=round(price * 1.02, 2),
        upper_price=round(price * 1.10, 2),
        levels=20,
    )
    write_snapshot(tmp_path, snapshot.model_copy(update={"grid": grid}), limits=july.limits)

    after = days()
    assert cache_files(cache) != built
    changed = [i for i, (a, b) in enumerate(zip(after, first, strict=True)) if a != b]
    assert [after[i].hour for i in changed] == [changed_hour]
    assert after[changed[0]].grid == grid
    assert "price_outside_grid" in [p.name for p in after[changed[0]].penalties]

    shutil.rmtree(cache)
    reader = july.reader(tmp_path)
    assert days() == after
    assert list(cache_files(cache)) == ["2023-07.npz"]


@pytest.mark.parametrize("damage", ["empty", "truncated", "not_a_zip"])
def test_a_damaged_cache_file_is_rebuilt_not_trusted(
    july: StoredMonth, july_range: list[MetricsFile], tmp_path: Path, damage: str
) -> None:
    day = Path("snapshots", SYMBOL, "2023", "07", "25")
    shutil.copytree(july.root / day, tmp_path / day)
    first, last = utc(2023, 7, 25), utc(2023, 7, 25, 23)

    def analysed() -> list[MetricsFile]:
        return analyze_range(
            july.reader(tmp_path), tmp_path / "cache", SYMBOL, first, last, july.cfg, **VERSIONS
        ).records()

    expected = [m for m in july_range if first <= m.hour <= last]
    assert analysed() == expected
    cached = tmp_path / "cache" / SYMBOL / "2023-07.npz"
    good = cached.read_bytes()
    cached.write_bytes(
        {"empty": b"", "truncated": good[: len(good) // 2], "not_a_zip": b"x"}[damage]
    )

    assert analysed() == expected
    with np.load(cached) as rebuilt:  # a sound cache file again
        assert int(rebuilt["version"][0]) >= 1 and len(rebuilt["hours"]) == 24


def test_a_range_with_a_missing_and_an_invalid_snapshot_analyses_the_others_alike(
    july: StoredMonth, july_range: list[MetricsFile], tmp_path: Path
) -> None:
    days = Path("snapshots", SYMBOL, "2023", "07")
    for day in ("20", "21"):
        shutil.copytree(july.root / days / day, tmp_path / days / day)
    missing, invalid = utc(2023, 7, 20, 10), utc(2023, 7, 21, 3)
    (tmp_path / days / "20" / "10.json").unlink()
    (tmp_path / days / "21" / "03.json").write_text("{not json")

    first, last = utc(2023, 7, 20), utc(2023, 7, 21, 23)
    analysis = analyze_range(
        july.reader(tmp_path), tmp_path / "cache", SYMBOL, first, last, july.cfg, **VERSIONS
    )

    assert analysis.summary.hours_without_snapshot == 1
    assert analysis.summary.invalid_snapshots == [invalid]
    expected = [
        m for m in july_range if first <= m.hour <= last and m.hour not in (missing, invalid)
    ]
    assert analysis.records() == expected


def test_the_month_stored_is_the_month_asked_for(july: StoredMonth) -> None:
    stored: list[datetime] = july.reader().stored_hours(SYMBOL)
    assert stored == hours(START, END)
