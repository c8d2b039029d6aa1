"""Persistence: the Git data repository and atomic file writes."""

from market_maker.base.atomic import write_atomic
from market_maker.store.git_store import GitDataStore, PushResult

__all__ = ["GitDataStore", "PushResult", "write_atomic"]
