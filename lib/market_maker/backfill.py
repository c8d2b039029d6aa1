"""Backfill: snapshots for any past range, written only where missing or invalid."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from market_maker.collection import HourOutcome
from market_maker.timeutil import format_utc, hours_between


def plan_chunks(start: datetime, end: datetime, chunk_hours: int) -> list[list[datetime]]:
    """The hours of [start, end] in chunks of ``chunk_hours``, oldest first."""
    hours = list(hours_between(start, end))
    return [hours[i : i + chunk_hours] for i in range(0, len(hours), chunk_hours)]


@dataclass
class BackfillReport:
    """What a backfill did, hour by hour."""

    symbol: str
    start: datetime
    end: datetime
    outcomes: list[HourOutcome] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)

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

    def summary_line(self) -> str:
        counts = Counter(o.status for o in self.outcomes)
        return (
            f"backfill {self.symbol} {format_utc(self.start)}..{format_utc(self.end)}: "
            f"{counts['written']} written, {counts['unchanged']} already valid, "
            f"{counts['missing_at_source']} missing at the source, "
            f"{counts['not_closed']} not closed yet, {len(self.commits)} commit(s)"
        )

    def markdown(self) -> str:
        lines = [
            f"# Backfill {self.symbol}",
            "",
            f"Range {format_utc(self.start)} .. {format_utc(self.end)} "
            f"({len(self.outcomes)} hours)",
            "",
            "| outcome | hours |",
            "|---|---|",
            f"| written | {self.written} |",
            f"| skipped (already valid) | {self.skipped} |",
            f"| missing at the source | {len(self.missing_at_source)} |",
            f"| not closed yet | {self.not_closed} |",
            "",
            f"Commits: {', '.join(c[:10] for c in self.commits) or 'none'}",
        ]
        if self.missing_at_source:
            lines += ["", "## Missing at the source", ""]
            lines += [f"- {format_utc(o.hour)}: {o.detail}" for o in self.missing_at_source[:200]]
            if len(self.missing_at_source) > 200:
                lines.append(f"- ... and {len(self.missing_at_source) - 200} more")
        return "\n".join(lines)
