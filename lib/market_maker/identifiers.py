"""The identifiers that become paths (symbol, grid id, decision id), and the path guard.

Each has one validated type, used at every edge (command line, flow
parameters, files read); and every path the store builds from them is
checked to stay inside the data repository.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator

from market_maker.errors import DataError

SYMBOL_PATTERN = r"^[A-Z0-9]{2,12}-[A-Z0-9]{2,12}$"
GRID_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
DECISION_ID_PATTERN = r"^dec-[A-Z0-9]{2,12}-[A-Z0-9]{2,12}-\d{8}-\d{6}$"


def check_symbol(value: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(SYMBOL_PATTERN, value):
        raise ValueError(f"symbol {value!r} must look like BASE-QUOTE in capitals, e.g. ETH-USDT")
    return value


def check_grid_id(value: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(GRID_ID_PATTERN, value):
        raise ValueError(
            f"grid id {value!r} must be lower-case letters, digits and '-' (at most 63, "
            "starting with a letter or digit), e.g. eth-grid-1"
        )
    return value


def check_decision_id(value: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(DECISION_ID_PATTERN, value):
        raise ValueError(
            f"decision id {value!r} must look like dec-ETH-USDT-20240805-110000 "
            "(dec-{SYMBOL}-{YYYYMMDD}-{HHMMSS})"
        )
    return value


Symbol = Annotated[str, AfterValidator(check_symbol)]
GridId = Annotated[str, AfterValidator(check_grid_id)]
DecisionId = Annotated[str, AfterValidator(check_decision_id)]


def valid_symbol(value: str) -> bool:
    return isinstance(value, str) and re.fullmatch(SYMBOL_PATTERN, value) is not None


def symbol_part(value: str) -> str:
    """A symbol about to become a path component; a DataError when it is not one."""
    try:
        return check_symbol(value)
    except ValueError as exc:
        raise DataError(str(exc)) from None


def grid_id_part(value: str) -> str:
    try:
        return check_grid_id(value)
    except ValueError as exc:
        raise DataError(str(exc)) from None


def decision_id_part(value: str) -> str:
    try:
        return check_decision_id(value)
    except ValueError as exc:
        raise DataError(str(exc)) from None


def inside(root: Path, relative: Path | str) -> Path:
    """``root / relative``, refused unless it stays inside ``root`` (links resolved)."""
    base = root.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base):
        raise DataError(f"path {relative} leaves the data repository {root}: refused")
    return root / relative
