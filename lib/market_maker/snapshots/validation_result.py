"""What a validation run returns: every problem found, typed, with a markdown rendering for
the run's artifact. Read by the CLI, the demo and the tests by attribute, never by key."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from market_maker.base.timeutil import format_utc
from market_maker.base.types import FrozenModel, UtcDatetime
from market_maker.snapshots.problems import Problem, Severity
from market_maker.snapshots.reader import ValidationReport

MARKDOWN_ROWS = 500  # problems listed in the artifact


class SnapshotProblem(FrozenModel):
    """One thing wrong with a stored snapshot; ``field`` is a dotted path inside ``file``."""

    file: str = ""
    severity: Severity = "error"
    field: str
    message: str

    @classmethod
    def of(cls, problem: Problem) -> SnapshotProblem:
        return cls(
            file=problem.file,
            severity=problem.severity,
            field=problem.field,
            message=problem.message,
        )

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}[{self.severity}] {self.field}: {self.message}"


class ValidationResult(FrozenModel):
    """The snapshots of ``symbol`` in [start, end] (every stored hour when both are None)."""

    symbol: str
    start: UtcDatetime | None = None
    end: UtcDatetime | None = None
    files_checked: int = 0
    problems: list[SnapshotProblem] = Field(default_factory=list)

    @classmethod
    def of(
        cls, report: ValidationReport, start: datetime | None, end: datetime | None
    ) -> ValidationResult:
        return cls(
            symbol=report.symbol,
            start=start,
            end=end,
            files_checked=report.files_checked,
            problems=[SnapshotProblem.of(p) for p in report.problems],
        )

    @property
    def errors(self) -> list[SnapshotProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[SnapshotProblem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def markdown(self) -> str:
        span = (
            f"{format_utc(self.start)}..{format_utc(self.end)}"
            if self.start and self.end
            else "all stored hours"
        )
        lines = [
            f"# Validation of {self.symbol} ({span})",
            "",
            f"{self.files_checked} file(s) checked: {len(self.errors)} error(s), "
            f"{len(self.warnings)} warning(s).",
        ]
        if self.problems:
            lines += ["", "| file | severity | field | problem |", "|---|---|---|---|"]
            lines += [
                f"| {p.file} | {p.severity} | {p.field} | {p.message} |"
                for p in self.problems[:MARKDOWN_ROWS]
            ]
        return "\n".join(lines)
