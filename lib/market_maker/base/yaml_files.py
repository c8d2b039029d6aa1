"""YAML files as pydantic models: one parser that names every field at fault, one emitter.

PyYAML's C loader and emitter are used where the installed PyYAML has them.
"""

from __future__ import annotations

import sys
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from market_maker.base.errors import DataError, NewerSchemaError

M = TypeVar("M", bound=BaseModel)

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def load_model(data: str | bytes, model: type[M], source: str, *, kind: str = "file") -> M:
    """Parse and validate; a DataError names the file and every field at fault."""
    try:
        raw: Any = yaml.load(data, Loader=Loader)
    except yaml.YAMLError as exc:
        raise DataError(f"{source}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{source}: a {kind} holds a mapping of keys")
    refuse_newer(raw.get("schema_version"), known_versions(model), source)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors()
        )
        raise DataError(f"{source}: {fields}") from None


def version_tuple(version: object) -> tuple[int, ...] | None:
    try:
        return tuple(int(p) for p in str(version).split("."))
    except ValueError:
        return None


def known_versions(model: type[BaseModel]) -> tuple[str, ...]:
    """The schema versions a model reads (its ``schema_version`` Literal, and ``KNOWN_VERSIONS``
    of its module for migrated ones)."""
    field = model.model_fields.get("schema_version")
    versions = tuple(str(v) for v in get_args(field.annotation)) if field else ()
    module = sys.modules.get(model.__module__)
    return tuple({*versions, *getattr(module, "KNOWN_VERSIONS", ())})


def refuse_newer(version: object, known: tuple[str, ...], source: str) -> None:
    """A NewerSchemaError when ``version`` is above every version this code knows."""
    mine = [v for v in (version_tuple(k) for k in known) if v is not None]
    theirs = version_tuple(version)
    if version is None or not mine or theirs is None or theirs <= max(mine):
        return
    newest = ".".join(str(p) for p in max(mine))
    raise NewerSchemaError(
        f"{source}: schema_version {version} is newer than this code reads ({newest}); "
        "upgrade market-maker to use it (the file is left as it is)"
    )


def dump(data: dict[str, Any], dumper: type = Dumper) -> bytes:
    """Keys in model order, long lines kept whole (one record per line stays one line)."""
    return yaml.dump(data, Dumper=dumper, sort_keys=False, width=4096, allow_unicode=True).encode()
