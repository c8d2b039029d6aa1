"""Reading and writing snapshot files: deterministic JSON, atomic and validated writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from market_maker.base.atomic import write_atomic
from market_maker.base.errors import DataError
from market_maker.base.identifiers import inside
from market_maker.snapshots.model import Snapshot
from market_maker.snapshots.paths import snapshot_relpath
from market_maker.snapshots.problems import DEFAULT_LIMITS, Limits, Problem, errors_only, located
from market_maker.snapshots.validation import parse_snapshot, validate_snapshot


class InvalidSnapshotError(DataError):
    """A snapshot failed validation; ``problems`` lists every reason."""

    def __init__(self, path: Path | str, problems: list[Problem]):
        self.path = str(path)
        self.problems = located(problems, path)
        listed = "\n  ".join(str(p) for p in self.problems)
        super().__init__(f"invalid snapshot {path}:\n  {listed}")

    def __reduce__(self):  # pickled with a failed run's result
        return (type(self), (self.path, self.problems))


def dumps(snapshot: Snapshot) -> bytes:
    """JSON with one candle per line: small, stable across runs, readable in a diff."""
    return dumps_data(snapshot.model_dump(mode="json"))


def dumps_data(data: dict[str, Any]) -> bytes:
    """A snapshot's fields (as JSON values) in the layout :func:`dumps` writes."""
    lines = []
    for key, value in data.items():
        if isinstance(value, list) and value:
            items = ",\n".join("    " + _compact(item) for item in value)
            rendered = "[\n" + items + "\n  ]"
        else:
            rendered = _compact(value)
        lines.append(f"  {json.dumps(key)}: {rendered}")
    return ("{\n" + ",\n".join(lines) + "\n}\n").encode()


def _compact(value: object) -> str:
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)


def check_file(
    path: Path, *, symbol: str | None = None, hour=None, limits: Limits = DEFAULT_LIMITS
) -> tuple[Snapshot | None, list[Problem]]:
    """Parse and validate a stored file; problems carry the file's path."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, located([Problem("(file)", f"unreadable: {exc}")], path)
    snap, problems = parse_snapshot(raw)
    if snap is not None:
        problems = validate_snapshot(
            snap, expected_symbol=symbol, expected_hour=hour, limits=limits
        )
    return snap, located(problems, path)


def write_snapshot(root: Path, snapshot: Snapshot, *, limits: Limits = DEFAULT_LIMITS) -> Path:
    """Write atomically under ``root``; an invalid snapshot never replaces anything."""
    path = inside(root, snapshot_relpath(snapshot.symbol, snapshot.hour, snapshot.period_minutes))

    def validate(tmp: Path) -> None:
        _, problems = check_file(tmp, symbol=snapshot.symbol, hour=snapshot.hour, limits=limits)
        if errors_only(problems):
            raise InvalidSnapshotError(path, errors_only(problems))

    write_atomic(path, dumps(snapshot), validate)
    return path
