"""Metrics files on disk: compact YAML, atomic validated writes, fast reads."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from market_maker.base.atomic import write_atomic
from market_maker.base.errors import DataError, NewerSchemaError
from market_maker.base.identifiers import inside
from market_maker.base.yaml_files import Dumper, dump, load_model
from market_maker.regime.model import METRICS_DIR, MetricsFile, metrics_relpath, schema_for
from market_maker.snapshots.paths import snapshot_relpath
from market_maker.store.file_kinds import FileKind, under

log = logging.getLogger(__name__)


class _Inline(dict):
    """A mapping written on one line, as the design's skeleton shows metric entries."""


class _Dumper(Dumper):  # type: ignore[misc, valid-type]
    pass


_Dumper.add_representer(
    _Inline, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)
)


def dumps(metrics: MetricsFile) -> bytes:
    data = metrics.model_dump(mode="json")
    data["metrics"] = {k: _Inline(v) for k, v in data["metrics"].items()}
    data["confirmation_4h"]["metrics"] = {
        k: _Inline(v) for k, v in data["confirmation_4h"]["metrics"].items()
    }
    data["penalties"] = [_Inline(p) for p in data["penalties"]]
    for key in ("range", "history", "grid"):
        if data.get(key) is not None:
            data[key] = _Inline(data[key])
    gates = data.pop("gate_evaluation")
    if gates is not None:  # schema 1.1 only: a 1.0 file reads back byte for byte
        for name in ("energy_decay", "mean_reversion", "tradable_volatility"):
            gates[name] = _Inline(gates[name])
        data = _before(data, "config_version", "gate_evaluation", gates)
    return dump(data, _Dumper)


def _before(data: dict, key: str, new_key: str, value: object) -> dict:
    out = {}
    for k, v in data.items():
        if k == key:
            out[new_key] = value
        out[k] = v
    return out


def parse(text: str | bytes, *, source: str = "") -> MetricsFile:
    """Parse a metrics file; a DataError names the file and every field at fault."""
    return load_model(text, MetricsFile, source or "metrics file")


def read(path: Path) -> MetricsFile:
    """Parse and check the file against its path (symbol folder, hour in the name)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(
            f"no metrics file {Path(*path.parts[-3:]).as_posix()} in the data repository: "
            "that hour has not been analysed (market-maker analyze --symbol ... --hour ...)"
        ) from None
    metrics = parse(raw, source=str(path))
    expected = metrics_relpath(metrics.symbol, metrics.hour, metrics.period_minutes)
    if Path(*path.parts[-3:]) != expected:
        raise DataError(
            f"{path}: holds {metrics.symbol} {metrics.hour:%Y-%m-%dT%H:%MZ}"
            f"{_period_note(metrics)} but its path says "
            f"{Path(*path.parts[-3:]).as_posix()}"
        )
    snapshot = snapshot_relpath(metrics.symbol, metrics.hour, metrics.period_minutes).as_posix()
    if metrics.snapshot != snapshot:
        raise DataError(f"{path}: snapshot {metrics.snapshot!r} is not this hour's ({snapshot})")
    return metrics


def _period_note(metrics: MetricsFile) -> str:
    return "" if metrics.period_minutes == 60 else f" ({metrics.period_minutes}-minute period)"


WriteStatus = Literal["written", "unchanged", "kept"]


def write(root: Path, metrics: MetricsFile, *, overwrite: bool = False) -> tuple[Path, WriteStatus]:
    """Write atomically and validated.

    "unchanged": an identical file is already there; "kept": a valid file with
    other content (another config or code version) is there and ``overwrite``
    was not asked for, so it stays as it is. A damaged file is always replaced.
    """
    relative = metrics_relpath(metrics.symbol, metrics.hour, metrics.period_minutes)
    path = inside(root, relative)
    data = dumps(metrics)
    if path.exists():
        existing = path.read_bytes()
        if existing == data:
            return path, "unchanged"
        damage = _damage(existing, relative)
        if damage is None and not overwrite and not _adds_gates(existing, metrics):
            return path, "kept"  # another configuration or code version made it
        if damage is not None:
            # Replaced, but never silently: a damaged committed file is worth a look.
            log.warning("rewriting %s: the stored file is damaged (%s)", relative, damage)

    def validate(tmp: Path) -> None:
        if parse(tmp.read_bytes(), source=str(path)) != metrics:
            raise DataError(f"{path}: written file does not read back equal")

    write_atomic(path, data, validate)
    return path, "written"


def _adds_gates(existing: bytes, metrics: MetricsFile) -> bool:
    """The same analysis with the restart gates added: the gates depend on a stop recorded
    after the hour was first analysed (a replay that analysed ahead), so the file is
    completed, not kept. Only from no gates to gates, never one gate state for another."""
    if metrics.gate_evaluation is None:
        return False
    stored = parse(existing)
    return stored.gate_evaluation is None and stored == metrics.model_copy(
        update={
            "gate_evaluation": None,
            "schema_version": schema_for(gates=False, period_minutes=metrics.period_minutes),
        }
    )


def _damage(data: bytes, relative: Path) -> str | None:
    """What is wrong with a stored file, or None when it reads. A damaged file is not another
    version's work: it is replaced, not kept. A file of a newer schema is neither: it stops
    the write (NewerSchemaError)."""
    try:
        parse(data, source=relative.as_posix())
    except NewerSchemaError:
        raise
    except DataError as exc:
        return str(exc).removeprefix(f"{relative.as_posix()}: ")
    return None


# An hour's metrics file, checked by its model as when it was written.
METRICS_FILES = FileKind("metrics", under(METRICS_DIR, ".yaml"), lambda root, rel: read(root / rel))
