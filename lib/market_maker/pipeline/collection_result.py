"""What a collection run returns: each symbol's outcome for the hour, typed, with a markdown
rendering for the run's artifact. Read by the CLI and the tests by attribute, never by key."""

from __future__ import annotations

from pydantic import Field

from market_maker.base.timeutil import format_utc
from market_maker.base.types import FrozenModel, UtcDatetime
from market_maker.pipeline.collection import HourOutcome, Status


class SnapshotOutcome(FrozenModel):
    """One symbol's hour: written, unchanged, missing at the source or not closed yet."""

    symbol: str
    hour: UtcDatetime
    status: Status
    detail: str = ""

    @classmethod
    def of(cls, outcome: HourOutcome) -> SnapshotOutcome:
        return cls(
            symbol=outcome.symbol, hour=outcome.hour, status=outcome.status, detail=outcome.detail
        )

    def __str__(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.symbol} {format_utc(self.hour)}: {self.status}{extra}"


class CollectionResult(FrozenModel):
    """One hour's collection for every symbol asked for."""

    hour: UtcDatetime
    outcomes: list[SnapshotOutcome] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict, description="symbol -> why.")
    commit: str | None = None
    pushed: bool = False
    push_detail: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed

    def lines(self) -> list[str]:
        """One line per collected symbol, as the console shows it."""
        return [str(o) for o in self.outcomes]

    def markdown(self) -> str:
        lines = [
            f"# Collection {format_utc(self.hour)}",
            "",
            "| symbol | outcome | detail |",
            "|---|---|---|",
        ]
        lines += [f"| {o.symbol} | {o.status} | {o.detail} |" for o in self.outcomes]
        lines += [f"| {symbol} | FAILED | {reason} |" for symbol, reason in self.failed.items()]
        lines += [
            "",
            f"Commit: {self.commit or 'none (nothing changed)'}; push: {self.push_detail}",
        ]
        return "\n".join(lines)
