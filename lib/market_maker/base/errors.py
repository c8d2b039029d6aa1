"""The project's error hierarchy.

Each class says who handles it: configuration and input errors fail fast and
are never retried; transient errors are retried by the caller's retry policy.
"""

from __future__ import annotations


class MarketMakerError(Exception):
    """Base class of every error the project raises on purpose."""


class ConfigurationError(MarketMakerError):
    """The configuration is invalid. Fix the named key; retrying cannot help."""


class ParameterError(MarketMakerError):
    """A run's parameter is wrong (an inverted range, a missing hour). Names the parameter."""


class RunFailed(MarketMakerError):
    """Part of a run failed (a symbol, a step); the message names what and why."""


class DeliveryFailed(MarketMakerError):
    """A message was not delivered (Pushover or the webhook refused or did not answer).
    Retried by the notify step; ``partial`` holds what the attempt did deliver."""

    def __init__(self, message: str, partial: object = None):
        super().__init__(message)
        self.partial = partial


class DataError(MarketMakerError):
    """Stored or supplied data is invalid. Names the file or field at fault."""


class NewerSchemaError(DataError):
    """A file was written by a newer version of market-maker: never read as something else,
    never overwritten."""


class ExchangeError(MarketMakerError):
    """Base class for errors talking to an exchange."""


class ExchangeAPIError(ExchangeError):
    """The exchange answered with an error code. Not retried: the request is wrong."""

    def __init__(self, code: str, msg: str, *, http_status: int | None = None, path: str = ""):
        self.code = code
        self.msg = msg
        self.http_status = http_status
        self.path = path
        where = f" on {path}" if path else ""
        status = f" (HTTP {http_status})" if http_status is not None else ""
        super().__init__(f"exchange error {code}{where}{status}: {msg}")

    def __reduce__(self):  # a failed run's result is pickled by Prefect: keep it readable
        return (_rebuild_api_error, (self.code, self.msg, self.http_status, self.path))


class TransientExchangeError(ExchangeError):
    """Rate limit, server error, timeout or connection failure: worth retrying.

    ``retry_after`` is the delay in seconds the exchange asked for, if any.
    """

    def __init__(self, message: str, *, retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(message)

    def __reduce__(self):
        return (_rebuild_transient, (type(self), str(self), self.retry_after))


class RateLimitedError(TransientExchangeError):
    """HTTP 429 / code 429000: over the exchange's rate limit."""


class CircuitOpenError(ExchangeError):
    """The circuit breaker is open after repeated failures; calls are refused until it closes."""


class UnsafeAPIKeyError(ExchangeError):
    """The configured API key can move funds. The operator must issue a read-only key."""


class DiskFullError(MarketMakerError):
    """A write found no space left on its device; names the file it was writing."""


class StoreError(MarketMakerError):
    """The Git data repository could not be read or written."""


class PushError(StoreError):
    """A push failed; the local commit is kept and the next run pushes it."""


def _rebuild_api_error(code: str, msg: str, http_status: int | None, path: str) -> ExchangeAPIError:
    return ExchangeAPIError(code, msg, http_status=http_status, path=path)


def _rebuild_transient(
    cls: type[TransientExchangeError], message: str, retry_after: float | None
) -> TransientExchangeError:
    return cls(message, retry_after=retry_after)
