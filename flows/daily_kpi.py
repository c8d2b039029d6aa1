"""The daily KPI batch: score past recommendations, write the day's KPIs and the dashboard."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import deployment, flow_run
from pydantic import Field

from flows._common import (
    data_repository_lock,
    flow_timeout,
    logger,
    open_context,
    with_run_trailer,
)
from flows._hooks import FAILURE_HOOKS
from flows._run_names import run_name
from market_maker.base.errors import ParameterError
from market_maker.base.timeutil import utc
from market_maker.dashboard.render import write_dashboard
from market_maker.kpis.daily_batch import LOOKBACK, KpiService, day_end, latest_kpi_day
from market_maker.kpis.run_result import KpiRunResult
from tasks.digest import digest_task
from tasks.kpi import evaluate_due_task, kpi_day_task
from tasks.store import commit_task, push_task, sync_task

DayParam = Annotated[
    date | None,
    Field(description="UTC day to score; empty: the day before the run's scheduled start."),
]


@flow(
    name="daily-kpi",
    flow_run_name=run_name("daily-kpi"),
    description="Score past recommendations; write the day's KPIs and the dashboard.",
    timeout_seconds=flow_timeout(1800),
    **FAILURE_HOOKS,
)
def daily_kpi(day: DayParam = None, start: DayParam = None, end: DayParam = None) -> KpiRunResult:
    """Score ``day`` (default: yesterday, by the run's scheduled start), or every day from
    ``start`` to ``end`` (fills in missing days); then send the daily digest of the last day
    once (``digests/{day}.yaml`` records it).

    Appends the evaluation entries that are due (24 h, 72 h, 7 d after each decision), writes
    ``kpis/{day}.yaml`` for each day (the day, the 7 and the 30 days ending with it), renders
    ``dashboard/index.html``, and commits once. A rerun of a day writes nothing new.

    Args:
        day: UTC day to score; empty: the day before the scheduled start.
        start: First day of a range (with end; then day stays empty).
        end: Last day of the range, inclusive.
    """
    log = logger()
    ctx = open_context()
    days = _days(day, start, end, ctx.exchange.now())
    service = KpiService.open(ctx)
    until = day_end(days[-1])
    since = day_end(days[0]) - LOOKBACK - timedelta(hours=max(ctx.settings.kpis.horizons_hours))
    with data_repository_lock(ctx):
        sync_task(ctx)
        evaluations = []
        for symbol in ctx.settings.symbols:
            evaluations += evaluate_due_task(service, symbol, since, until)
        files, statuses, paths = [], {}, list(evaluations)
        for d in days:
            file, path, status = kpi_day_task(service, d)
            files.append(file)
            statuses[d] = status
            if status == "written":
                paths.append(path)
        # Filling in an old day does not take the page back in time.
        paths += write_dashboard(ctx, max(days[-1], latest_kpi_day(ctx.store.path) or days[-1]))
        digest = "digest off"
        if ctx.settings.notifications.digest.enabled:
            digest_path, digest = digest_task(ctx, days[-1])
            paths += [digest_path] if digest_path else []
        span = f"{days[0]}..{days[-1]}" if len(days) > 1 else str(days[0])
        detail = (
            f"{len(evaluations)} evaluation entr{'y' if len(evaluations) == 1 else 'ies'}, "
            f"{sum(1 for s in statuses.values() if s == 'written')} KPI file(s)"
        )
        sha = commit_task(ctx, with_run_trailer(f"daily-kpi: {span}\n\n{detail}"), paths)
        pushed = push_task(ctx)
    result = KpiRunResult(
        days=days,
        evaluations=len(evaluations),
        kpi_files=statuses,
        commit=sha,
        pushed=pushed.pushed,
        digest=digest,
        last=files[-1],
    )
    last = result.last
    create_markdown_artifact(
        key="daily-kpi", markdown=result.markdown(), description=f"KPIs of {last.date}"
    )
    create_table_artifact(key="daily-kpi-table", table=result.table(), description=str(last.date))
    log.info("KPIs %s: %s", span, detail)
    return result


def _days(day: date | None, start: date | None, end: date | None, now: datetime) -> list[date]:
    if (start is None) != (end is None) or (start is not None and day is not None):
        raise ParameterError("give day, or start and end, or nothing")
    if start is not None and end is not None:
        if end < start:
            raise ParameterError(f"end {end} is before start {start}")
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    elif day is not None:
        days = [day]
    else:
        days = [_yesterday(now)]
    latest = _yesterday(now)
    if days[-1] > latest:
        raise ParameterError(
            f"day {days[-1]} has not ended yet (the source's clock says {now:%Y-%m-%dT%H:%MZ})"
        )
    return days


def _yesterday(now: datetime) -> date:
    """The last day that has ended: at a scheduled run, the day before its scheduled start."""
    if deployment.get_id() is not None and (scheduled := flow_run.get_scheduled_start_time()):
        now = min(now, utc(scheduled))
    return (utc(now) - timedelta(days=1)).date()
