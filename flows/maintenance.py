"""Monthly maintenance of the data repository: check, compact, rebuild derived data, report."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from pydantic import AfterValidator, Field

from flows._common import (
    data_repository_lock,
    flow_timeout,
    logger,
    open_context,
    with_run_trailer,
)
from flows._hooks import FAILURE_HOOKS
from market_maker.base.errors import RunFailed
from market_maker.maintenance import MaintenanceReport, months_to_pack, stored_symbols
from tasks.maintenance import (
    fsck_task,
    gc_task,
    pack_task,
    rebuild_cache_task,
    rebuild_index_task,
    sizes_task,
    unpack_task,
)
from tasks.store import push_task, sync_task

_MONTH = re.compile(r"^([A-Z0-9]+-[A-Z0-9]+):(\d{4})-(0[1-9]|1[0-2])$")


def _symbol_months(values: list[str] | None) -> list[str] | None:
    for value in values or []:
        if not _MONTH.match(value):
            raise ValueError(f"{value!r} is not SYMBOL:YYYY-MM, e.g. ETH-USDT:2023-01")
    return values


PackAfter = Annotated[
    int | None,
    Field(
        ge=1,
        description="Pack months that ended more than this many months ago; empty: "
        "snapshots.pack_after_months from the configuration (null there: pack nothing).",
    ),
]
MonthList = Annotated[
    list[str] | None,
    AfterValidator(_symbol_months),
    Field(description="Packed months to write back as loose files, e.g. ETH-USDT:2023-01."),
]


@flow(
    name="maintenance",
    description="Check and compact the data repository, rebuild derived data, report sizes.",
    timeout_seconds=flow_timeout(7200),
    **FAILURE_HOOKS,
)
def maintenance(
    pack_after_months: PackAfter = None, unpack: MonthList = None, gc: bool = True
) -> MaintenanceReport:
    """Run ``git fsck``; apply the retention policy (pack old months, one commit each) and
    push; ``git gc``; rebuild the columnar candle cache and the regime index from the files,
    counting what they had otherwise; report the size of every symbol's months.

    The report is the run's artifact. The run fails at the end when fsck names a problem or a
    month could not be packed (an invalid snapshot, or a file and its packed copy differ).

    Args:
        pack_after_months: Pack months older than this; empty: the configuration's policy.
        unpack: Packed months to write back as loose files (SYMBOL:YYYY-MM).
        gc: Run ``git gc`` after packing.
    """
    log = logger()
    ctx = open_context()
    after = pack_after_months or ctx.settings.snapshots.pack_after_months
    report = MaintenanceReport(pack_after_months=after)
    with data_repository_lock(ctx):
        sync_task(ctx)
        report.fsck_problems = fsck_task(ctx)
        for value in unpack or []:
            match = _MONTH.match(value)
            assert match is not None
            symbol, year, month = match.group(1), int(match.group(2)), int(match.group(3))
            report.packs.append(unpack_task(ctx, symbol, (year, month), with_run_trailer))
        if after is not None:
            now = datetime.now(UTC)
            for symbol in stored_symbols(ctx.store.path):
                for month in months_to_pack(ctx.store.path, symbol, after, now):
                    report.packs.append(pack_task(ctx, symbol, month, with_run_trailer))
        report.commits = [p.commit for p in report.packs if p.commit]
        report.pushed = push_task(ctx).pushed if report.commits else False
        if gc:
            report.git_bytes_before_gc, report.git_bytes_after_gc = gc_task(ctx)
            report.gc_ran = True
        for symbol in stored_symbols(ctx.store.path):
            report.derived.append(rebuild_cache_task(ctx, symbol))
        report.derived.append(rebuild_index_task(ctx))
        report.sizes = sizes_task(ctx)
    create_markdown_artifact(
        key="maintenance",
        markdown=report.markdown(),
        description=f"{len(report.commits)} commit(s), {len(report.failures())} problem(s)",
    )
    for line in report.lines():
        log.info("%s", line)
    if not report.ok:
        raise RunFailed("maintenance found problems: " + "; ".join(report.failures()[:10]))
    return report
