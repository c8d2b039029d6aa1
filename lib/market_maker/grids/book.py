"""All grids of the data repository: loading, SINGLE_GRID checks, operator changes."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from pathlib import Path

import yaml
from pydantic import ValidationError

from market_maker.base.atomic import write_atomic
from market_maker.base.errors import DataError
from market_maker.base.identifiers import grid_id_part, inside
from market_maker.base.timeutil import format_utc
from market_maker.base.yaml_files import load_model
from market_maker.config.settings import git_blob_hash
from market_maker.grids.model import GRIDS_DIR, GridConfig, HistoryEntry
from market_maker.snapshots.model import GridStatusRecord
from market_maker.store.file_kinds import FileKind, under


def grid_path(root: Path, grid_id: str) -> Path:
    return inside(root, Path(GRIDS_DIR, f"{grid_id_part(grid_id)}.yaml"))


def parse_grid(text: str, source: str) -> GridConfig:
    return load_model(text, GridConfig, source, kind="grid file")


def dumps(grid: GridConfig) -> str:
    data = grid.model_dump(mode="json", exclude_none=True, by_alias=True)
    if grid.schema_version == "1.0":  # a 1.0 file keeps exactly the 1.0 keys
        for key in ("spacing", "mode"):
            data.pop(key, None)
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


class GridBook:
    """The grids in force, validated together.

    SINGLE_GRID capital mode: the running intervals of two grids of the same
    symbol never overlap; loading fails naming both grids otherwise.
    """

    def __init__(self, root: Path, grids: dict[str, GridConfig], versions: dict[str, str]):
        self.root = root
        self.grids = grids
        self.versions = versions

    @classmethod
    def load(cls, root: Path, *, fee_rate: float) -> GridBook:
        grids: dict[str, GridConfig] = {}
        versions: dict[str, str] = {}
        for path in sorted((root / GRIDS_DIR).glob("*.yaml")):
            grid, text = _load(root, path.relative_to(root), fee_rate)
            grids[grid.id] = grid
            versions[grid.id] = git_blob_hash(text)
        book = cls(root, grids, versions)
        book.check_single_grid()
        return book

    def check_single_grid(self) -> None:
        by_symbol: dict[str, list[tuple[datetime, datetime | None, str]]] = {}
        for grid in self.grids.values():
            for start, end in grid.running_intervals():
                by_symbol.setdefault(grid.symbol, []).append((start, end, grid.id))
        for symbol, spans in by_symbol.items():
            spans.sort(key=lambda s: s[0])
            for (_s0, e0, a), (s1, _e1, b) in pairwise(spans):
                if e0 is None or e0 > s1:
                    raise DataError(
                        f"SINGLE_GRID: grids {a} and {b} both run for {symbol} from "
                        f"{format_utc(s1)}; disable {a} before enabling {b}"
                    )

    def running(self, symbol: str, at: datetime) -> GridConfig | None:
        for grid in self.grids.values():
            if grid.symbol == symbol and grid.running_at(at):
                return grid
        return None

    def last_stop(self, symbol: str, at: datetime) -> datetime | None:
        """When ``symbol``'s last grid was stopped, if none of its grids runs at ``at``."""
        if self.running(symbol, at) is not None:
            return None
        stops = [
            entry.at
            for grid in self.grids.values()
            if grid.symbol == symbol
            for entry in grid.history
            if entry.action == "disabled" and entry.at <= at
        ]
        return max(stops, default=None)

    def status(self, symbol: str, at: datetime) -> GridStatusRecord | None:
        """The grid running for ``symbol`` at ``at`` as snapshots and metrics record it."""
        grid = self.running(symbol, at)
        if grid is None:
            return None
        return grid.status(at, self.versions.get(grid.id))


def _load(root: Path, relative: Path, fee_rate: float) -> tuple[GridConfig, str]:
    path = root / relative
    text = read_grid_text(root, relative)
    grid = parse_grid(text, str(path))
    if grid.id != path.stem:
        raise DataError(f"{path}: id {grid.id!r} must match the file name {path.stem!r}")
    try:
        grid.check_fees(fee_rate)
    except ValueError as exc:
        raise DataError(f"{path}: {exc}") from None
    return grid, text


def read_grid_text(root: Path, relative: Path) -> str:
    """A grid file's text; a symbolic link is refused as on write (a committed link could
    make the book read any file of the machine)."""
    inside(root, relative)  # the file, or a folder on its way, leading out of the repository
    if (root / relative).is_symlink():
        raise DataError(
            f"{relative.as_posix()}: a symbolic link, not a grid file; grid files are regular "
            "files of the data repository: refused"
        )
    return (root / relative).read_text()


def load_grid_file(root: Path, relative: Path, *, fee_rate: float) -> GridConfig:
    """One grid file with every check it passes when the book loads."""
    return _load(root, relative, fee_rate)[0]


def add_grid(root: Path, source: Path, *, fee_rate: float) -> Path:
    """Copy a validated grid file into ``grids/``; refuses to replace an existing grid."""
    return add_grid_config(root, parse_grid(source.read_text(), str(source)), str(source), fee_rate)


def add_grid_config(root: Path, grid: GridConfig, source: str, fee_rate: float) -> Path:
    """Write a new grid (validated with the whole book); refuses to replace an existing one."""
    try:
        grid.check_fees(fee_rate)
    except ValueError as exc:
        raise DataError(f"{source}: {exc}") from None
    path = grid_path(root, grid.id)
    if path.exists():
        raise DataError(f"grid {grid.id} already exists ({path}); change it with enable/disable")
    _write_checked(root, path, grid, fee_rate)
    return path


def set_running(
    root: Path,
    grid_id: str,
    *,
    enabled: bool,
    at: datetime,
    reason: str | None,
    fee_rate: float,
) -> Path:
    """Append an ``enabled`` or ``disabled`` entry to a grid's history."""
    path = grid_path(root, grid_id)
    if not path.exists():
        raise DataError(f"no grid {grid_id!r} ({path})")
    grid = parse_grid(read_grid_text(root, path.relative_to(root)), str(path))
    if grid.history and at < grid.history[-1].at:
        raise DataError(
            f"grid {grid_id}: {format_utc(at)} is before its last history entry "
            f"({format_utc(grid.history[-1].at)}); history is append-only"
        )
    if grid.running_at(at) == enabled and grid.history:
        raise DataError(f"grid {grid_id} is already {'enabled' if enabled else 'disabled'}")
    entry = (
        HistoryEntry(enabled=at, reason=reason)
        if enabled
        else HistoryEntry(disabled=at, reason=reason)
    )
    try:
        updated = GridConfig.model_validate(
            {**grid.model_dump(by_alias=True), "history": [*grid.history, entry]}
        )
    except ValidationError as exc:
        raise DataError(f"{path}: {exc.errors()[0]['msg']}") from None
    _write_checked(root, path, updated, fee_rate)
    return path


def _write_checked(root: Path, path: Path, grid: GridConfig, fee_rate: float) -> None:
    """Write, then make sure the whole book still loads (SINGLE_GRID) before keeping it."""
    previous = path.read_bytes() if path.exists() else None
    write_atomic(
        path, dumps(grid).encode(), lambda tmp: parse_grid(tmp.read_text(), str(path)) and None
    )
    try:
        GridBook.load(root, fee_rate=fee_rate)
    except DataError:
        if previous is None:
            path.unlink()
        else:
            write_atomic(path, previous)
        raise


def grid_files(fee_rate: float) -> FileKind:
    """Grid files, checked (spacing against the round-trip fee included) as when added."""
    return FileKind(
        "grid",
        under(GRIDS_DIR, ".yaml", depth=2),
        lambda root, rel: load_grid_file(root, rel, fee_rate=fee_rate),
    )
