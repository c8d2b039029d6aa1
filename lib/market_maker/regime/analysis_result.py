"""What a snapshot-analysis run returns: the verdict of every hour analysed and what became of
its metrics file, typed, with the markdown of the run's artifact. Read by the CLI, the demo
and the tests by attribute, never by key."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from market_maker.base.timeutil import format_utc
from market_maker.base.types import FrozenModel
from market_maker.regime.model import MetricsFile, Verdict

REFUSED = "REFUSED"


class AnalysisResult(FrozenModel):
    """An hour, or a range of hours, analysed: one metrics file per hour, one commit."""

    symbol: str
    hours: int = Field(description="Hours analysed (one metrics file each).")
    written: int = 0
    unchanged: int = 0
    kept: int = Field(0, description="Files that differ from this analysis, kept (no recompute).")
    summary: list[str] = Field(default_factory=list, description="For the console and the log.")
    verdicts: list[Verdict | Literal["REFUSED"]] = Field(
        default_factory=list, description="Per hour, oldest first; REFUSED: too few metrics."
    )
    invalid_snapshots: list[str] = Field(
        default_factory=list, description="Snapshots not analysed: 'file: what is wrong'."
    )
    commit: str | None = None
    pushed: bool = False
    markdown_text: str = Field("", exclude=True)

    def markdown(self) -> str:
        """The run's artifact: the hour's metrics, or the range's summary."""
        return self.markdown_text


def verdict_of(record: MetricsFile) -> Verdict | Literal["REFUSED"]:
    return record.verdict if record.verdict else REFUSED


def hour_line(record: MetricsFile) -> str:
    """One hour's verdict in a line (the summary of a single-hour analysis)."""
    when = format_utc(record.hour)
    if record.verdict is None:
        return f"{record.symbol} {when}: refused ({record.metrics_computable} of 6 metrics)"
    return f"{record.symbol} {when}: {record.verdict} (confidence {record.confidence:.2f})"
