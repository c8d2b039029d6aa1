"""What checking a snapshot reports: its problems, and the limits it is checked against."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a snapshot; ``field`` is a dotted path inside the file."""

    field: str
    message: str
    severity: Severity = "error"
    file: str = ""
    code: str = ""  # "newer_schema": a newer version wrote the file; never overwrite it

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}[{self.severity}] {self.field}: {self.message}"


@dataclass(frozen=True)
class Limits:
    """What a complete snapshot holds (from the ``snapshots`` settings)."""

    window_1h: int = 200
    window_4h: int = 100
    # The collection period the files read are expected to hold; None: whatever they say.
    period_minutes: int | None = 60


DEFAULT_LIMITS = Limits()


def errors_only(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def newer_schema(problems: list[Problem]) -> Problem | None:
    return next((p for p in problems if p.code == "newer_schema"), None)


def located(problems: list[Problem], path: Path | str) -> list[Problem]:
    # Every other field kept as it is: ``code`` marks a newer schema, never to be overwritten.
    return [replace(p, file=str(path)) for p in problems]
