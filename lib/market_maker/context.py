"""What a run works with: settings, the data repository, the exchange, the snapshot reader."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from market_maker.config import Settings
from market_maker.config.versions import code_version
from market_maker.exchange import Exchange, build_exchange
from market_maker.regime.index import RegimeIndex
from market_maker.snapshots import Limits, SnapshotReader
from market_maker.store import GitDataStore


@dataclass
class RunContext:
    """Opened once at a flow's edge and passed down; each run is stateless beyond this."""

    settings: Settings
    store: GitDataStore
    _exchange: Exchange | None = field(default=None, repr=False)

    @classmethod
    def open(cls, settings: Settings, exchange: Exchange | None = None) -> RunContext:
        return cls(settings, GitDataStore.from_settings(settings), exchange)

    @property
    def exchange(self) -> Exchange:
        """Built on first use; for KuCoin with a key, the key check runs here, first."""
        if self._exchange is None:
            self._exchange = build_exchange(self.settings, state_dir=self.store.state_dir)
        return self._exchange

    @cached_property
    def limits(self) -> Limits:
        cfg = self.settings.snapshots
        return Limits(
            window_1h=cfg.window_1h, window_4h=cfg.window_4h, period_minutes=cfg.period_minutes
        )

    @cached_property
    def reader(self) -> SnapshotReader:
        return SnapshotReader(self.store.path, self.limits)

    @property
    def cache_dir(self) -> Path:
        """Derived, rebuildable caches (never committed)."""
        return self.store.state_dir / "cache"

    @cached_property
    def regime_index(self) -> RegimeIndex:
        return RegimeIndex(
            self.store.state_dir / "regime-index.sqlite",
            self.store.path,
            self.settings.snapshots.period_minutes,
        )

    @cached_property
    def config_version(self) -> str:
        return self.settings.config_version

    @property
    def code_version(self) -> str:
        return code_version()
