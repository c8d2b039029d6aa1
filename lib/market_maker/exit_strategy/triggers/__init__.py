"""Named trigger predicates, one module per state, each saying why it fired."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Condition:
    """One named predicate's outcome; ``reason`` says why, in words an operator reads."""

    name: str
    met: bool
    reason: str
    hard: bool = False
