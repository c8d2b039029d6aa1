"""Packing old months and rebuilding derived data, on snapshots of the recorded sample in a
real Git repository with a bare remote."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from market_maker.base.timeutil import HOUR, hours_between
from market_maker.config import Settings
from market_maker.context import RunContext
from market_maker.data_files import validator_for
from market_maker.maintenance import (
    MaintenanceReport,
    month_sizes,
    months_to_pack,
    pack_month,
    rebuild_candle_cache,
    rebuild_regime_index,
    stored_months,
    unpack_month,
)
from market_maker.pipeline.collection import collect_hours, written_paths
from market_maker.regime import files as metrics_files
from market_maker.regime.stored_analysis import analyze_range
from market_maker.snapshots import SnapshotReader
from market_maker.snapshots.packing import build_pack, pack_relpath, read_pack

SYMBOL = "ETH-USDT"
# The end of June and the start of July 2023 in the recorded sample: two months to pack.
FIRST = datetime(2023, 6, 29, 0, tzinfo=UTC)
LAST = datetime(2023, 7, 1, 23, tzinfo=UTC)
JUNE, JULY = (2023, 6), (2023, 7)
NOW = datetime(2023, 9, 15, tzinfo=UTC)


def backfill(ctx: RunContext, first: datetime = FIRST, last: datetime = LAST) -> None:
    hours = list(hours_between(first, last))
    outcomes = collect_hours(ctx, SYMBOL, hours, collected_at=last + 2 * HOUR)
    ctx.store.commit("backfill: test hours", written_paths(outcomes))
    ctx.store.push()


@pytest.fixture
def ctx(settings: Settings) -> Iterator[RunContext]:
    context = RunContext.open(settings)
    backfill(context)
    yield context


def snapshot_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted((root / "snapshots").rglob("*"))
        if p.is_file()
    }


def tree(ctx: RunContext) -> str:
    return ctx.store.repo.git.rev_parse("HEAD:snapshots")


def test_packing_then_unpacking_round_trips_byte_for_byte(ctx: RunContext) -> None:
    before, tree_before = snapshot_files(ctx.store.path), tree(ctx)

    packed = pack_month(ctx.store, ctx.reader, SYMBOL, JUNE)

    assert packed.status == "packed" and packed.hours == 48
    pack = ctx.store.path / pack_relpath(SYMBOL, *JUNE)
    assert pack.is_file()
    assert not (ctx.store.path / "snapshots/ETH-USDT/2023/06").exists()
    # The loose files go in the very commit that adds the pack.
    changes = ctx.store.repo.git.show("--name-status", "--format=", packed.commit).splitlines()
    assert "A\tsnapshots/ETH-USDT/2023/06.zip" in changes
    assert sum(line.startswith("D\tsnapshots/ETH-USDT/2023/06/") for line in changes) == 48
    assert ctx.store.repo.git.status("--porcelain") == ""
    members = read_pack(pack)
    assert {f"snapshots/ETH-USDT/2023/06/{name}": raw for name, raw in members.items()} == {
        k: v for k, v in before.items() if k.startswith("snapshots/ETH-USDT/2023/06/")
    }
    assert build_pack(members) == pack.read_bytes()  # the same files, the same pack

    unpacked = unpack_month(ctx.store, SYMBOL, JUNE)

    assert unpacked.status == "unpacked" and unpacked.hours == 48
    assert snapshot_files(ctx.store.path) == before
    assert tree(ctx) == tree_before
    assert ctx.store.repo.git.status("--porcelain") == ""


def test_the_reader_and_validate_read_packed_hours_as_loose_ones(ctx: RunContext) -> None:
    loose = SnapshotReader(ctx.store.path, ctx.limits)
    loaded = loose.load_range(SYMBOL, FIRST, LAST)
    report_before = loose.validate(SYMBOL, FIRST, LAST)

    pack_month(ctx.store, ctx.reader, SYMBOL, JUNE)
    pack_month(ctx.store, ctx.reader, SYMBOL, JULY)
    packed = SnapshotReader(ctx.store.path, ctx.limits)

    assert not list((ctx.store.path / "snapshots").rglob("*.json"))
    assert packed.stored_hours(SYMBOL) == list(hours_between(FIRST, LAST))
    assert packed.load_range(SYMBOL, FIRST, LAST) == loaded
    report = packed.validate(SYMBOL, FIRST, LAST)
    assert report.ok and report.files_checked == report_before.files_checked == 72
    # The same warnings (the sample's first 4h windows are short), named by pack and member.
    assert [(p.field, p.message) for p in report.problems] == [
        (p.field, p.message) for p in report_before.problems
    ]
    assert all(".zip:" in p.file for p in report.problems)


def test_a_damaged_packed_snapshot_is_named_by_pack_member_and_field(ctx: RunContext) -> None:
    pack_month(ctx.store, ctx.reader, SYMBOL, JUNE)
    pack = ctx.store.path / pack_relpath(SYMBOL, *JUNE)
    members = read_pack(pack)
    members["30/05.json"] = members["30/05.json"].replace(b'"o": ', b'"o": -', 1)
    pack.write_bytes(build_pack(members))

    report = SnapshotReader(ctx.store.path, ctx.limits).validate(SYMBOL, FIRST, LAST)

    assert not report.ok
    assert {p.file for p in report.errors} == {f"{pack}:30/05.json"}
    error = report.errors[0]
    assert error.field == "minutes"
    assert "non-positive price" in error.message
    assert str(error).startswith(f"{pack}:30/05.json: [error] minutes: ")


def test_analysis_is_identical_before_and_after_packing(ctx: RunContext, tmp_path: Path) -> None:
    def analyse(cache: Path):
        return analyze_range(
            SnapshotReader(ctx.store.path, ctx.limits),
            cache,
            SYMBOL,
            FIRST,
            LAST,
            ctx.settings.regime,
            config_version="test",
            code_version="test",
        )

    before = analyse(tmp_path / "cache-a")
    warm_cache = tmp_path / "cache-a"

    pack_month(ctx.store, ctx.reader, SYMBOL, JUNE)
    pack_month(ctx.store, ctx.reader, SYMBOL, JULY)
    after_cold = analyse(tmp_path / "cache-b")
    after_warm = analyse(warm_cache)  # the cache sees the files changed and rebuilds

    for after in (after_cold, after_warm):
        assert after.summary == before.summary
        assert after.records() == before.records()


def test_a_failure_before_the_commit_puts_every_file_back(
    ctx: RunContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, head = snapshot_files(ctx.store.path), ctx.store.head()

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ctx.store, "commit", fail)
    with pytest.raises(OSError, match="disk full"):
        pack_month(ctx.store, ctx.reader, SYMBOL, JUNE)

    assert snapshot_files(ctx.store.path) == before
    assert ctx.store.head() == head
    assert ctx.store.repo.git.status("--porcelain") == ""


def test_a_run_killed_mid_pack_loses_nothing_and_the_next_run_finishes(
    ctx: RunContext, settings: Settings
) -> None:
    """Killed after the pack was renamed into place and some loose files removed, before the
    commit: the next writer restores the files from the last commit, keeps the valid pack,
    and the next maintenance packs the month again."""
    before = snapshot_files(ctx.store.path)
    june = ctx.store.path / "snapshots/ETH-USDT/2023/06"
    files = sorted(june.rglob("*.json"))
    pack = ctx.store.path / pack_relpath(SYMBOL, *JUNE)
    pack.write_bytes(build_pack({f.relative_to(june).as_posix(): f.read_bytes() for f in files}))
    (june / "30" / ".12.json.x1.tmp").write_bytes(b"half")  # a write cut short
    for path in files[:10]:
        path.unlink()

    nxt = RunContext.open(settings)
    with nxt.store.locked("test"):
        reconciled = nxt.store.reconcile(validator_for(nxt))

    assert len(reconciled.restored) == 10
    assert reconciled.pending == [pack] and not reconciled.quarantined
    assert {k: v for k, v in snapshot_files(nxt.store.path).items() if k in before} == before
    assert nxt.reader.validate(SYMBOL, FIRST, LAST).ok

    again = pack_month(nxt.store, nxt.reader, SYMBOL, JUNE)

    assert again.status == "packed" and again.hours == 48
    assert nxt.store.repo.git.status("--porcelain") == ""
    reader = SnapshotReader(nxt.store.path, nxt.limits)
    assert [reader.raw(SYMBOL, h) for h in hours_between(FIRST, LAST)] == [
        before[f"snapshots/ETH-USDT/{h:%Y/%m/%d/%H}.json"] for h in hours_between(FIRST, LAST)
    ]


def test_a_month_with_an_invalid_file_is_refused_and_left_as_it_is(ctx: RunContext) -> None:
    bad = ctx.store.path / "snapshots/ETH-USDT/2023/06/30/07.json"
    bad.write_bytes(bad.read_bytes().replace(b'"symbol": "ETH-USDT"', b'"symbol": "BTC-USDT"'))
    before = snapshot_files(ctx.store.path)

    outcome = pack_month(ctx.store, SnapshotReader(ctx.store.path, ctx.limits), SYMBOL, JUNE)

    assert outcome.status == "refused"
    assert "snapshots/ETH-USDT/2023/06/30/07.json" in outcome.detail
    assert "symbol" in outcome.detail
    assert snapshot_files(ctx.store.path) == before
    report = MaintenanceReport(packs=[outcome])
    assert not report.ok and "07.json" in report.failures()[0]


def test_months_to_pack_follow_the_policy(ctx: RunContext) -> None:
    root = ctx.store.path
    assert stored_months(root, SYMBOL) == [JUNE, JULY]
    assert months_to_pack(root, SYMBOL, 1, datetime(2023, 8, 1, tzinfo=UTC)) == [JUNE]
    assert months_to_pack(root, SYMBOL, 1, NOW) == [JUNE, JULY]
    assert months_to_pack(root, SYMBOL, 3, NOW) == []
    pack_month(ctx.store, ctx.reader, SYMBOL, JUNE)
    assert months_to_pack(root, SYMBOL, 1, NOW) == [JULY]
    sizes = {row.month: row for row in month_sizes(root, SYMBOL)}
    assert sizes["2023-06"].loose_files == 0 and sizes["2023-06"].packed_hours == 48
    assert sizes["2023-07"].loose_files == 24 and sizes["2023-07"].pack_bytes == 0
    assert 0 < sizes["2023-06"].pack_bytes < sizes["2023-07"].loose_bytes


def test_derived_data_is_rebuilt_and_what_differed_is_counted(ctx: RunContext) -> None:
    reader = SnapshotReader(ctx.store.path, ctx.limits)
    first = rebuild_candle_cache(reader, ctx.cache_dir, SYMBOL)
    assert (first.items, first.differed) == (2, 2)  # nothing was cached yet
    assert rebuild_candle_cache(reader, ctx.cache_dir, SYMBOL).differed == 0
    damaged = ctx.cache_dir / SYMBOL / "2023-07.npz"
    damaged.write_bytes(damaged.read_bytes()[:100])
    assert rebuild_candle_cache(reader, ctx.cache_dir, SYMBOL).differed == 1

    analysis = analyze_range(
        reader,
        ctx.cache_dir,
        SYMBOL,
        FIRST,
        LAST,
        ctx.settings.regime,
        config_version="test",
        code_version="test",
    )
    for record in analysis.records()[:5]:
        metrics_files.write(ctx.store.path, record)
    index = ctx.regime_index
    assert rebuild_regime_index(index.db_path, ctx.store.path).differed == 5
    assert rebuild_regime_index(index.db_path, ctx.store.path).differed == 0
    assert index.count(SYMBOL) == 5
    shutil.rmtree(ctx.store.path / "metrics")
    check = rebuild_regime_index(index.db_path, ctx.store.path)
    assert (check.items, check.differed) == (0, 5)
    assert index.count(SYMBOL) == 0
    assert np.isfinite(first.items)
