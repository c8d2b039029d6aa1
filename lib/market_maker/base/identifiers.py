"""The identifiers that become paths (symbol, grid id, decision id), and the path guard.

Each has one validated type, used at every edge (command line, flow
parameters, files read); and every path the store builds from them is
checked to stay inside the data repository.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator

from market_maker.base.errors import DataError

SYMBOL_PATTERN = r"^[A-Z0-9]{2,12}-[A-Z0-9]{2,12}$"
GRID_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
DECISION_ID_PATTERN = r"^dec-[A-Z0-9]{2,12}-[A-Z0-9]{2,12}-\d{8}-\d{6}$"


def _checker(pattern: str, form: str) -> Callable[[str], str]:
    """A check: the value itself when it matches ``pattern``, else a ValueError showing the
    form (``{!r}`` stands for the value)."""

    def check(value: str) -> str:
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            raise ValueError(form.format(value))
        return value

    return check


check_symbol = _checker(
    SYMBOL_PATTERN, "symbol {!r} must look like BASE-QUOTE in capitals, e.g. ETH-USDT"
)
check_grid_id = _checker(
    GRID_ID_PATTERN,
    "grid id {!r} must be lower-case letters, digits and '-' (at most 63, starting with a "
    "letter or digit), e.g. eth-grid-1",
)
check_decision_id = _checker(
    DECISION_ID_PATTERN,
    "decision id {!r} must look like dec-ETH-USDT-20240805-110000 "
    "(dec-{{SYMBOL}}-{{YYYYMMDD}}-{{HHMMSS}})",
)

Symbol = Annotated[str, AfterValidator(check_symbol)]
GridId = Annotated[str, AfterValidator(check_grid_id)]
DecisionId = Annotated[str, AfterValidator(check_decision_id)]


def valid_symbol(value: str) -> bool:
    return isinstance(value, str) and re.fullmatch(SYMBOL_PATTERN, value) is not None


def _part(check: Callable[[str], str]) -> Callable[[str], str]:
    """The same check for a value about to become a path component: a DataError."""

    def part(value: str) -> str:
        try:
            return check(value)
        except ValueError as exc:
            raise DataError(str(exc)) from None

    return part


symbol_part = _part(check_symbol)
grid_id_part = _part(check_grid_id)
decision_id_part = _part(check_decision_id)


def inside(root: Path, relative: Path | str) -> Path:
    """``root / relative``, refused unless it stays inside ``root`` (links resolved)."""
    base = root.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base):
        raise DataError(f"path {relative} leaves the data repository {root}: refused")
    return root / relative
