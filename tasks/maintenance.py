"""Tasks of the monthly maintenance: each a step of its own in the UI."""

from __future__ import annotations

from collections.abc import Callable

from prefect import task
from prefect.cache_policies import NO_CACHE

from market_maker.context import RunContext
from market_maker.maintenance import (
    DerivedCheck,
    MonthSize,
    PackOutcome,
    month_sizes,
    pack_month,
    rebuild_candle_cache,
    rebuild_regime_index,
    stored_symbols,
    unpack_month,
)


@task(name="git-fsck", cache_policy=NO_CACHE)
def fsck_task(ctx: RunContext) -> list[str]:
    """The problems ``git fsck --full`` names (none when the repository is sound)."""
    return ctx.store.fsck()


@task(name="git-gc", cache_policy=NO_CACHE)
def gc_task(ctx: RunContext) -> tuple[int, int]:
    """``git gc``; the history's size before and after."""
    before = ctx.store.git_size()
    ctx.store.gc()
    return before, ctx.store.git_size()


@task(
    name="pack-month",
    task_run_name="pack-{symbol}-{month[0]}-{month[1]:02d}",
    cache_policy=NO_CACHE,
)
def pack_task(
    ctx: RunContext, symbol: str, month: tuple[int, int], sign: Callable[[str], str] = str
) -> PackOutcome:
    """Pack one symbol's month into one file, in one commit (refused if anything is off);
    ``sign`` adds the run's trailer to its message."""
    return pack_month(ctx.store, ctx.reader, symbol, month, sign)


@task(
    name="unpack-month",
    task_run_name="unpack-{symbol}-{month[0]}-{month[1]:02d}",
    cache_policy=NO_CACHE,
)
def unpack_task(
    ctx: RunContext, symbol: str, month: tuple[int, int], sign: Callable[[str], str] = str
) -> PackOutcome:
    """Write a packed month back as loose files, in one commit."""
    return unpack_month(ctx.store, symbol, month, sign)


@task(
    name="rebuild-candle-cache",
    task_run_name="rebuild-candle-cache-{symbol}",
    cache_policy=NO_CACHE,
)
def rebuild_cache_task(ctx: RunContext, symbol: str) -> DerivedCheck:
    """Rebuild the symbol's columnar cache from the snapshot files and compare."""
    return rebuild_candle_cache(ctx.reader, ctx.cache_dir, symbol)


@task(name="rebuild-regime-index", cache_policy=NO_CACHE)
def rebuild_index_task(ctx: RunContext) -> DerivedCheck:
    """Rebuild the regime index from the metrics files and compare."""
    return rebuild_regime_index(ctx.regime_index.db_path, ctx.store.path)


@task(name="repository-size", cache_policy=NO_CACHE)
def sizes_task(ctx: RunContext) -> list[MonthSize]:
    """Size of every symbol's months in the working copy, loose and packed."""
    return [
        row
        for symbol in stored_symbols(ctx.store.path)
        for row in month_sizes(ctx.store.path, symbol)
    ]
