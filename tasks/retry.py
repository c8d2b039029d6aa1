"""Which failures a task retries: only the transient ones."""

from __future__ import annotations

from typing import Any

from market_maker.base.errors import DeliveryFailed, PushError, TransientExchangeError

TRANSIENT = (TransientExchangeError, PushError, DeliveryFailed, ConnectionError, TimeoutError)


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry an exchange or network hiccup; never a configuration or data error."""
    try:
        state.result()
    except TRANSIENT:
        return True
    except Exception:
        return False
    return False
