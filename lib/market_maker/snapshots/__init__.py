"""Hourly market snapshots: the file model, validation, reading, writing and building."""

from market_maker.snapshots.io import InvalidSnapshotError, check_file, dumps, write_snapshot
from market_maker.snapshots.model import SCHEMA_VERSION, CandleRecord, Snapshot
from market_maker.snapshots.paths import snapshot_relpath
from market_maker.snapshots.problems import Limits, Problem
from market_maker.snapshots.reader import SnapshotNotFoundError, SnapshotReader, ValidationReport
from market_maker.snapshots.validation import parse_snapshot, validate_snapshot

__all__ = [
    "SCHEMA_VERSION",
    "CandleRecord",
    "InvalidSnapshotError",
    "Limits",
    "Problem",
    "Snapshot",
    "SnapshotNotFoundError",
    "SnapshotReader",
    "ValidationReport",
    "check_file",
    "dumps",
    "parse_snapshot",
    "snapshot_relpath",
    "validate_snapshot",
    "write_snapshot",
]
