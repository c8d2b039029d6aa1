"""The model path: a snapshot file parsed into the :class:`Snapshot` model, every problem
explained field by field, then checked by the rules (:mod:`market_maker.snapshots.rules`)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from market_maker.snapshots.model import (
    KNOWN_VERSIONS,
    LATEST_VERSION,
    SCHEMA_VERSION,
    Snapshot,
    migrate,
)
from market_maker.snapshots.problems import DEFAULT_LIMITS, Limits, Problem
from market_maker.snapshots.rules import SnapshotColumns, check_snapshot

_CURRENT_VERSION = re.compile(
    rb'^\{\s*"schema_version":\s*"' + re.escape(SCHEMA_VERSION.encode()) + rb'"'
)


def parse_snapshot(text: str | bytes) -> tuple[Snapshot | None, list[Problem]]:
    """Parse JSON text into a Snapshot, migrating older schema versions."""
    if _CURRENT_VERSION.search(text[:200] if isinstance(text, bytes) else text[:200].encode()):
        # Fast path for current files: parse and validate in one pass in pydantic-core.
        try:
            return Snapshot.model_validate_json(text), []
        except ValidationError:
            pass  # fall through to the slow path, which explains every problem
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, [Problem("(file)", f"not valid JSON (truncated or corrupted?): {exc}")]
    if not isinstance(raw, dict):
        return None, [Problem("(file)", "a snapshot must be a JSON object")]
    version = raw.get("schema_version")
    if version not in KNOWN_VERSIONS:
        if _is_newer(version):
            message = (
                f"schema_version {version!r} is newer than this code reads ({LATEST_VERSION}); "
                "upgrade market-maker to read it"
            )
        else:
            message = f"unknown schema_version {version!r} (known: {', '.join(KNOWN_VERSIONS)})"
        return None, [
            Problem("schema_version", message, code="newer_schema" if _is_newer(version) else "")
        ]
    try:
        return Snapshot.model_validate(migrate(raw)), []
    except ValidationError as exc:
        return None, [
            Problem(".".join(str(p) for p in err["loc"]) or "(file)", _pydantic_message(err))
            for err in exc.errors()
        ]


def _pydantic_message(err: Any) -> str:
    if err["type"] == "missing":
        return "required section or field is missing"
    return f"{err['msg']} (got {err.get('input')!r})"[:300]


def _is_newer(version: object) -> bool:
    try:
        return tuple(int(p) for p in str(version).split(".")) > tuple(
            int(p) for p in LATEST_VERSION.split(".")
        )
    except ValueError:
        return False


def validate_snapshot(
    snap: Snapshot,
    *,
    expected_symbol: str | None = None,
    expected_hour: datetime | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> list[Problem]:
    """Check one parsed snapshot on its own (across files: :func:`rules.validate_sequence`)."""
    return check_snapshot(
        SnapshotColumns.of_snapshot(snap),
        expected_symbol=expected_symbol,
        expected_hour=expected_hour,
        limits=limits,
    )
