"""Build the configured exchange."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from market_maker.config import Settings
from market_maker.exchange.base import Exchange
from market_maker.exchange.circuit_breaker import CircuitBreaker
from market_maker.exchange.kucoin import KuCoinExchange
from market_maker.exchange.replay import ReplayExchange


def build_exchange(settings: Settings, *, state_dir: Path | None = None) -> Exchange:
    """The exchange named by ``exchange.name``.

    For KuCoin with a key configured, the key's permissions are checked
    before anything else: a key that can withdraw or transfer is refused.
    ``state_dir`` keeps the circuit breaker's state between runs.
    """
    if settings.exchange.name == "replay":
        return ReplayExchange(
            settings.resolve(settings.replay.data_file),
            settings.replay.symbol,
            now=settings.replay.now,
        )
    cfg = settings.exchange
    breaker = CircuitBreaker(
        "kucoin",
        threshold=cfg.circuit_breaker_failures,
        open_for=timedelta(minutes=cfg.circuit_breaker_open_minutes),
        state_file=state_dir / "circuit-breaker-kucoin.json" if state_dir else None,
    )
    client = KuCoinExchange(cfg, breaker=breaker)
    if cfg.has_key:
        client.check_key_permissions()
    return client
