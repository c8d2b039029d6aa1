"""Backfill: snapshots for any past range, written only where missing or invalid."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import Field

from market_maker.base.timeutil import format_utc, periods_between
from market_maker.base.types import FrozenModel, UtcDatetime
from market_maker.pipeline.collection import HourOutcome
from market_maker.pipeline.collection_result import SnapshotOutcome


def plan_chunks(
    start: datetime, end: datetime, chunk_hours: int, period_minutes: int = 60
) -> list[list[datetime]]:
    """The periods (hours by default) of [start, end] in chunks of ``chunk_hours``, oldest
    first."""
    periods = list(periods_between(start, end, period_minutes))
    size = max(chunk_hours * 60 // period_minutes, 1)
    return [periods[i : i + size] for i in range(0, len(periods), size)]


@dataclass
class BackfillReport:
    """What a backfill did, hour by hour, as the run goes (:meth:`result` is what it returns)."""

    symbol: str
    start: datetime
    end: datetime
    outcomes: list[HourOutcome] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    unpushed: int = 0

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def written(self) -> int:
        return self.count("written")

    @property
    def skipped(self) -> int:
        return self.count("unchanged")

    @property
    def missing_at_source(self) -> list[HourOutcome]:
        return [o for o in self.outcomes if o.status == "missing_at_source"]

    @property
    def not_closed(self) -> int:
        return self.count("not_closed")

    def result(self) -> BackfillResult:
        return BackfillResult(
            symbol=self.symbol,
            start=self.start,
            end=self.end,
            hours=len(self.outcomes),
            written=self.written,
            skipped=self.skipped,
            missing_at_source=[SnapshotOutcome.of(o) for o in self.missing_at_source],
            not_closed=self.not_closed,
            commits=self.commits,
            unpushed=self.unpushed,
        )


class BackfillResult(FrozenModel):
    """What a backfill run returns: the counts per outcome, the hours the source lacks, the
    commits; with a markdown rendering for its artifact."""

    symbol: str
    start: UtcDatetime
    end: UtcDatetime
    hours: int = Field(description="Hours in the range.")
    written: int
    skipped: int = Field(description="Hours whose stored snapshot was already valid.")
    missing_at_source: list[SnapshotOutcome] = Field(default_factory=list)
    not_closed: int = 0
    commits: list[str] = Field(default_factory=list)
    unpushed: int = Field(0, description="Commits that stay local: the remote did not take them.")

    def summary_line(self) -> str:
        return (
            f"backfill {self.symbol} {format_utc(self.start)}..{format_utc(self.end)}: "
            f"{self.written} written, {self.skipped} already valid, "
            f"{len(self.missing_at_source)} missing at the source, "
            f"{self.not_closed} not closed yet, {len(self.commits)} commit(s)"
            f"{self.unpushed_note()}"
        )

    def unpushed_note(self) -> str:
        """What stays local for the next run to push; nothing when everything was pushed."""
        if not self.unpushed:
            return ""
        return f", {self.unpushed} commit(s) stay local (unpushed: the next run pushes them)"

    def markdown(self) -> str:
        lines = [
            f"# Backfill {self.symbol}",
            "",
            f"Range {format_utc(self.start)} .. {format_utc(self.end)} ({self.hours} hours)",
            "",
            "| outcome | hours |",
            "|---|---|",
            f"| written | {self.written} |",
            f"| skipped (already valid) | {self.skipped} |",
            f"| missing at the source | {len(self.missing_at_source)} |",
            f"| not closed yet | {self.not_closed} |",
            "",
            f"Commits: {', '.join(c[:10] for c in self.commits) or 'none'}"
            + (f" ({self.unpushed} stay local, unpushed)" if self.unpushed else ""),
        ]
        if self.missing_at_source:
            lines += ["", "## Missing at the source", ""]
            lines += [f"- {format_utc(o.hour)}: {o.detail}" for o in self.missing_at_source[:200]]
            if len(self.missing_at_source) > 200:
                lines.append(f"- ... and {len(self.missing_at_source) - 200} more")
        return "\n".join(lines)
