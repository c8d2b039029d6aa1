"""YAML files as pydantic models: one parser that names every field at fault, one emitter.

PyYAML's C loader and emitter are used where the installed PyYAML has them.
"""

from __future__ import annotations

from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from market_maker.errors import DataError

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
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors()
        )
        raise DataError(f"{source}: {fields}") from None


def dump(data: dict[str, Any], dumper: type = Dumper) -> bytes:
    """Keys in model order, long lines kept whole (one record per line stays one line)."""
    return yaml.dump(data, Dumper=dumper, sort_keys=False, width=4096, allow_unicode=True).encode()
