"""What a daily-KPI run returns: the days scored, what became of each day's KPI file, the
last day's KPIs; typed, with the markdown and table of the run's artifacts. Read by the demo
and the tests by attribute, never by key."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from market_maker.base.types import FrozenModel
from market_maker.kpis.daily_batch import WriteStatus
from market_maker.kpis.model import KpiFile
from market_maker.kpis.tables import kpi_markdown, kpi_rows


class KpiRunResult(FrozenModel):
    days: list[date] = Field(description="The days scored, oldest first.")
    evaluations: int = Field(description="Evaluation entries appended (the ones now due).")
    kpi_files: dict[date, WriteStatus] = Field(description="Per day, what became of its file.")
    commit: str | None = None
    pushed: bool = False
    digest: str = Field(description="What became of the last day's digest, in a line.")
    last: KpiFile = Field(description="The KPIs of the last day.")

    def markdown(self) -> str:
        """The run's artifact: the last day's KPIs."""
        return kpi_markdown(self.last)

    def table(self) -> list[dict[str, str]]:
        """The last day's KPIs as the rows of a table artifact."""
        return kpi_rows(self.last)
