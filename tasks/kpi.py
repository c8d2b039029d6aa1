"""Tasks of the daily KPI batch."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from market_maker.kpis.daily_batch import KpiService
from market_maker.kpis.model import KpiFile


@task(name="evaluate-due-decisions", cache_policy=NO_CACHE)
def evaluate_due_task(
    service: KpiService, symbol: str, since: datetime, until: datetime
) -> list[Path]:
    """Append the evaluation entries due by ``until`` (24 h, 72 h, 7 d after issue)."""
    return service.evaluate_due(symbol, since, until)


@task(name="kpi-day", cache_policy=NO_CACHE)
def kpi_day_task(service: KpiService, day: date) -> tuple[KpiFile, Path, str]:
    """Compute a day's KPIs and write its file (never rewriting one already there)."""
    file = service.kpi_file(day)
    path, status = service.write_kpi_file(file)
    return file, path, status
