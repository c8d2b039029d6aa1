"""What the backtest flows return: where a backtest's report went, and a sweep's ranking;
typed, with the markdown of the runs' artifacts. Read by the CLI, the benchmarks and the
tests by attribute, never by key."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from market_maker.backtest.results import BacktestReport
from market_maker.backtest.summary import headline_rows, report_markdown, sweep_markdown
from market_maker.backtest.sweep import SweepResult
from market_maker.base.types import FrozenModel


class BacktestRun(FrozenModel):
    """A backtest written to ``backtests/{name}/`` in the data repository, in one commit."""

    name: str
    report: Path = Field(description="backtests/{name}/report.yaml")
    page: Path = Field(description="backtests/{name}/report.html")
    written: list[Path] = Field(default_factory=list)
    commit: str | None = None
    pushed: bool = False
    markdown_text: str = Field("", exclude=True)
    rows: list[dict[str, str]] = Field(default_factory=list, exclude=True)

    @classmethod
    def of(
        cls,
        report: BacktestReport,
        root: Path,
        written: list[Path],
        commit: str | None,
        pushed: bool,
    ) -> BacktestRun:
        where = root / "backtests" / report.name
        return cls(
            name=report.name,
            report=where / "report.yaml",
            page=where / "report.html",
            written=written,
            commit=commit,
            pushed=pushed,
            markdown_text=report_markdown(report),
            rows=headline_rows(report),
        )

    @property
    def directory(self) -> Path:
        return self.report.parent

    def markdown(self) -> str:
        """The run's artifact: the headline figures of every policy."""
        return self.markdown_text

    def table(self) -> list[dict[str, str]]:
        """The headline figures as the rows of a table artifact."""
        return self.rows


class SweepRun(FrozenModel):
    """Every point of a sweep, ranked by ``rank_by`` on the test period."""

    points: int
    rank_by: str
    table: str = Field(description="The ranking, as a markdown table.")
    best: SweepResult | None = None

    @classmethod
    def of(cls, points: int, ranked: list[SweepResult], rank_by: str) -> SweepRun:
        return cls(
            points=points,
            rank_by=rank_by,
            table=sweep_markdown(ranked, rank_by),
            best=ranked[0] if ranked else None,
        )

    def markdown(self) -> str:
        """The run's artifact: the ranking."""
        return self.table
