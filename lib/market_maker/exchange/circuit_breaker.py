"""A circuit breaker whose state outlives the process.

Each flow run is a fresh process (a Kubernetes job), so an in-memory breaker
would never open across runs; the state is kept in a small JSON file instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from market_maker.base.atomic import write_atomic
from market_maker.base.errors import CircuitOpenError, TransientExchangeError
from market_maker.base.timeutil import format_utc, parse_utc

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class BreakerState:
    failures: int = 0
    opened_at: datetime | None = None
    last_error: str = ""


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failed calls and refuses calls for ``open_for``.

    Only transient failures (those left after retries) count; an API error
    proves the exchange is reachable and resets nothing. After ``open_for``
    one trial call is let through: success closes the breaker, failure reopens it.
    """

    def __init__(
        self,
        name: str,
        *,
        threshold: int = 3,
        open_for: timedelta = timedelta(minutes=30),
        state_file: Path | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.name = name
        self.threshold = threshold
        self.open_for = open_for
        self.state_file = state_file
        self.clock = clock
        self.state = self._load()

    def call(self, fn: Callable[[], T], what: str = "") -> T:
        self._refuse_if_open(what)
        try:
            result = fn()
        except TransientExchangeError as exc:
            self._record_failure(str(exc))
            raise
        self._record_success()
        return result

    @property
    def is_open(self) -> bool:
        opened = self.state.opened_at
        return opened is not None and self.clock() < opened + self.open_for

    def _refuse_if_open(self, what: str = "") -> None:
        opened = self.state.opened_at
        if opened is not None and self.clock() < opened + self.open_for:
            until = opened + self.open_for
            last = f" (last: {self.state.last_error})" if self.state.last_error else ""
            raise CircuitOpenError(
                f"{what or self.name} not called: the circuit breaker for {self.name} is open "
                f"after {self.state.failures} consecutive failures{last}; calls refused until "
                f"{format_utc(until)}"
            )

    def _record_failure(self, error: str = "") -> None:
        self.state.failures += 1
        self.state.last_error = error[:200]
        if self.state.failures >= self.threshold:
            if not self.is_open:
                log.warning(
                    "circuit breaker for %s opens after %d consecutive failures",
                    self.name,
                    self.state.failures,
                )
            self.state.opened_at = self.clock()
        self._save()

    def _record_success(self) -> None:
        if self.state.failures or self.state.opened_at:
            self.state = BreakerState()
            self._save()

    def _load(self) -> BreakerState:
        if self.state_file is None or not self.state_file.exists():
            return BreakerState()
        try:
            raw = json.loads(self.state_file.read_text())
            opened = raw.get("opened_at")
            return BreakerState(
                int(raw["failures"]),
                parse_utc(opened) if opened else None,
                str(raw.get("last_error", "")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable breaker state %s: %s", self.state_file, exc)
            return BreakerState()

    def _save(self) -> None:
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        opened = self.state.opened_at
        payload = {
            "failures": self.state.failures,
            "opened_at": format_utc(opened) if opened else None,
            "last_error": self.state.last_error,
        }
        write_atomic(self.state_file, json.dumps(payload).encode())
