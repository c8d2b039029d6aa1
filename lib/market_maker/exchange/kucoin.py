"""KuCoin spot REST client: public market data, and the private calls a read-only key allows."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import numpy as np
import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from market_maker.base.candles import CandleSeries, FetchResult, Interval
from market_maker.base.errors import (
    ExchangeAPIError,
    RateLimitedError,
    TransientExchangeError,
    UnsafeAPIKeyError,
)
from market_maker.base.timeutil import from_seconds, to_seconds
from market_maker.config.models import ExchangeSettings
from market_maker.config.settings import secret_value
from market_maker.exchange.base import MarketSummary
from market_maker.exchange.circuit_breaker import CircuitBreaker
from market_maker.exchange.kucoin_signing import auth_headers

log = logging.getLogger(__name__)

SUCCESS = "200000"
RATE_LIMITED = "429000"
PAGE_LIMIT = 1500  # candles per call, as KuCoin documents
CLOCK_MARGIN = timedelta(seconds=2)
# A decision-support key must not be able to move funds: any permission naming
# withdrawal or transfer (Withdrawal, Transfer, InnerTransfer) is refused.
FORBIDDEN_PERMISSION_WORDS = ("withdraw", "transfer")


class KuCoinExchange:
    """The KuCoin spot REST API.

    Every call goes through the circuit breaker, and inside it through tenacity:
    HTTP 429 / code 429000, 5xx, timeouts and connection errors are retried
    with exponential backoff (honouring ``gw-ratelimit-reset``); any other
    error code raises ExchangeAPIError at once.
    """

    name = "kucoin"

    def __init__(
        self,
        settings: ExchangeSettings,
        *,
        breaker: CircuitBreaker | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        backoff_base_seconds: float = 1.0,
    ):
        self.settings = settings
        self.base_url = settings.base_url
        self.breaker = breaker or CircuitBreaker(
            "kucoin",
            threshold=settings.circuit_breaker_failures,
            open_for=timedelta(minutes=settings.circuit_breaker_open_minutes),
        )
        self.session = session or _pooled_session()
        self._sleep = sleep
        self._clock = clock
        self._backoff_base = backoff_base_seconds
        self._clock_offset: timedelta | None = None

    # -- public market data --------------------------------------------------

    def server_time(self) -> datetime:
        """``GET /api/v1/timestamp``: the server's clock."""
        millis = self._request("GET", "/api/v1/timestamp")
        return datetime.fromtimestamp(int(millis) / 1000, tz=UTC)

    def now(self) -> datetime:
        if self._clock_offset is None:
            local = self._clock()
            self._clock_offset = self.server_time() - local
        return self._clock() + self._clock_offset

    def candles(
        self, symbol: str, interval: Interval, start: datetime, end: datetime
    ) -> FetchResult:
        """Closed candles in [start, end), paging 1500 at a time, merged, de-duplicated, sorted.

        Candles still open at the server's time are dropped; open times the
        exchange did not return are reported in ``missing``, never invented.
        """
        step = interval.seconds
        start_s = -(-to_seconds(start) // step) * step
        # A small margin: the estimated server clock may run a little ahead, and
        # a candle that has just opened must never be taken for a closed one.
        closed_end = to_seconds(self.now() - CLOCK_MARGIN) // step * step
        end_s = min(to_seconds(end), closed_end)
        rows: list[list[float]] = []
        for page_start in range(start_s, end_s, PAGE_LIMIT * step):
            page_end = min(page_start + PAGE_LIMIT * step, end_s)
            # endAt one second short of the next page: whether the server treats
            # endAt as inclusive or not, a page never holds more than 1500 candles.
            data = self._request(
                "GET",
                "/api/v1/market/candles",
                {
                    "symbol": symbol,
                    "type": interval.value,
                    "startAt": page_start,
                    "endAt": page_end - 1,
                },
            )
            rows.extend(_parse_candle(row, symbol) for row in data or [])
        series = (
            CandleSeries.from_rows(interval, np.array(rows))
            if rows
            else CandleSeries.empty(interval)
        )
        series = series.sorted_unique()
        inside = (series.t >= start_s) & (series.t < end_s) & (series.t % step == 0)
        return FetchResult.checked(series.take(inside), from_seconds(start_s), from_seconds(end_s))

    def stats(self, symbol: str) -> dict[str, Any]:
        """``GET /api/v1/market/stats``: 24h statistics."""
        return self._request("GET", "/api/v1/market/stats", {"symbol": symbol})

    def level1(self, symbol: str) -> dict[str, Any]:
        """``GET /api/v1/market/orderbook/level1``: best bid and ask."""
        return self._request("GET", "/api/v1/market/orderbook/level1", {"symbol": symbol})

    def market_summary(self, symbol: str) -> MarketSummary:
        stats = self.stats(symbol)
        book = self.level1(symbol)
        return MarketSummary(
            as_of=datetime.fromtimestamp(int(stats["time"]) / 1000, tz=UTC),
            last=_number(stats, "last"),
            high_24h=_number(stats, "high"),
            low_24h=_number(stats, "low"),
            volume_24h=_number(stats, "vol"),
            best_bid=_optional_number(book, "bestBid"),
            best_ask=_optional_number(book, "bestAsk"),
        )

    # -- private (read-only key) ----------------------------------------------

    def accounts(self) -> list[dict[str, Any]]:
        """``GET /api/v1/accounts``: balances (needs a key with the General permission)."""
        return self._request("GET", "/api/v1/accounts", signed=True)

    def api_key_info(self) -> dict[str, Any]:
        """``GET /api/v1/user/api-key``: the key's own description, permissions included."""
        return self._request("GET", "/api/v1/user/api-key", signed=True)

    def check_key_permissions(self) -> list[str]:
        """Refuse a key that can withdraw or transfer funds; return its permissions otherwise."""
        info = self.api_key_info()
        permissions = [p.strip() for p in str(info.get("permission", "")).split(",") if p.strip()]
        unsafe = [p for p in permissions if any(w in p.lower() for w in FORBIDDEN_PERMISSION_WORDS)]
        if unsafe:
            raise UnsafeAPIKeyError(
                f"the configured KuCoin API key grants {', '.join(unsafe)} "
                f"(permissions: {', '.join(permissions)}); market-maker only reads data and "
                "refuses a key that can move funds. Create a key with General permission only "
                "and set it in MARKET_MAKER_EXCHANGE__API_KEY / __API_SECRET / __API_PASSPHRASE."
            )
        whitelist = [
            ip.strip() for ip in str(info.get("ipWhitelist") or "").split(",") if ip.strip()
        ]
        if not whitelist and not self.settings.allow_no_ip_whitelist:
            raise UnsafeAPIKeyError(
                "the configured KuCoin API key has no IP whitelist: anyone who obtains it can use "
                "it from anywhere. Restrict it to the addresses the flows run from, or set "
                "exchange.allow_no_ip_whitelist: true to accept the risk."
            )
        log.info(
            "KuCoin API key permissions: %s; IP whitelist: %s",
            ", ".join(permissions) or "(none)",
            f"{len(whitelist)} address(es)" if whitelist else "none (allowed by configuration)",
        )
        return permissions

    # -- transport ------------------------------------------------------------

    def _request(
        self, method: str, path: str, params: dict[str, Any] | None = None, *, signed: bool = False
    ) -> Any:
        query = urlencode(params) if params else ""
        path_with_query = f"{path}?{query}" if query else path
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.retry_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(TransientExchangeError),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        endpoint = f"KuCoin {method} {path}"
        try:
            return self.breaker.call(
                lambda: retrying(self._send, method, path_with_query, signed), what=endpoint
            )
        except TransientExchangeError as exc:
            attempts = self.settings.retry_attempts
            raise TransientExchangeError(
                f"{exc} (gave up after {attempts} attempt{'s' if attempts > 1 else ''})",
                retry_after=exc.retry_after,
            ) from None

    def _send(self, method: str, path_with_query: str, signed: bool) -> Any:
        headers = {"Accept": "application/json"}
        if signed:
            headers.update(self._auth(method, path_with_query))
        path = path_with_query.split("?", 1)[0]
        try:
            response = self.session.request(
                method,
                self.base_url + path_with_query,
                headers=headers,
                timeout=self.settings.timeout_seconds,
            )
        except requests.Timeout:
            raise TransientExchangeError(
                f"KuCoin {method} {path} timed out after {self.settings.timeout_seconds}s"
            ) from None
        except requests.ConnectionError as exc:
            raise TransientExchangeError(
                f"KuCoin {method} {path} unreachable: {_cause(exc)}"
            ) from None
        except requests.RequestException as exc:  # a body cut short, a bad chunk: transient
            raise TransientExchangeError(
                f"KuCoin {method} {path} answer broken off: {_cause(exc)}"
            ) from None
        return _unwrap(response, path, method)

    def _auth(self, method: str, path_with_query: str) -> dict[str, str]:
        key, secret, passphrase = (
            secret_value(self.settings.api_key),
            secret_value(self.settings.api_secret),
            secret_value(self.settings.api_passphrase),
        )
        if key is None or secret is None or passphrase is None:
            raise ExchangeAPIError(
                "no-key", "a private endpoint needs exchange.api_key, api_secret, api_passphrase"
            )
        if self._clock_offset is None:
            self.now()  # KuCoin refuses timestamps more than 5 s off its own clock
        offset = self._clock_offset or timedelta(0)
        return auth_headers(
            api_key=key,
            api_secret=secret,
            api_passphrase=passphrase,
            key_version=self.settings.key_version,
            timestamp_ms=int((self._clock() + offset).timestamp() * 1000),
            method=method,
            path_with_query=path_with_query,
        )

    def _wait(self, state: RetryCallState) -> float:
        backoff = self._backoff_base * 2 ** (state.attempt_number - 1)
        exc = state.outcome.exception() if state.outcome else None
        asked = exc.retry_after if isinstance(exc, TransientExchangeError) else None
        return min(max(backoff, asked or 0.0), self.settings.retry_max_wait_seconds)

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("attempt %d failed (%s); retrying in %.1fs", state.attempt_number, exc, wait)


def _cause(exc: Exception) -> str:
    """The innermost reason of a requests error, without the URL repeated at length."""
    text = str(exc.args[0] if exc.args else exc)
    reason = re.search(r"\(Caused by ([^)]*)\)", text)
    return (reason.group(1) if reason else text)[:200] or type(exc).__name__


def _unwrap(response: requests.Response, path: str, method: str = "GET") -> Any:
    status = response.status_code
    if status == 429:
        raise RateLimitedError(
            f"KuCoin rate limit on {path} (HTTP 429)", retry_after=_reset_seconds(response)
        )
    if status >= 500:
        raise TransientExchangeError(f"KuCoin server error on {path} (HTTP {status})")
    try:
        body = response.json()
    except ValueError:
        if status < 400:
            # A success status with a body that does not parse: cut short on the way.
            raise TransientExchangeError(
                f"KuCoin {method} {path}: incomplete or malformed JSON answer "
                f"(HTTP {status}, {len(response.content)} bytes)"
            ) from None
        raise ExchangeAPIError(
            f"http-{status}",
            f"response is not JSON: {response.text[:200]!r}",
            http_status=status,
            path=path,
        ) from None
    code = str(body.get("code")) if isinstance(body, dict) else "?"
    if code == RATE_LIMITED:
        raise RateLimitedError(
            f"KuCoin rate limit on {path} (code 429000)", retry_after=_reset_seconds(response)
        )
    if code != SUCCESS:
        msg = str(body.get("msg", "")) if isinstance(body, dict) else repr(body)[:200]
        raise ExchangeAPIError(code, msg, http_status=status, path=path)
    return body.get("data")


def _reset_seconds(response: requests.Response) -> float | None:
    raw = response.headers.get("gw-ratelimit-reset")
    try:
        return max(float(raw), 0.0) / 1000 if raw is not None else None
    except ValueError:
        return None


def _parse_candle(row: Any, symbol: str) -> list[float]:
    """KuCoin's order: time, open, close, high, low, volume, turnover (all strings)."""
    try:
        t, o, c, h, low, v = (float(row[i]) for i in range(6))
    except (TypeError, ValueError, IndexError):
        raise ExchangeAPIError(
            "bad-candle", f"malformed {symbol} candle {row!r}", path="/api/v1/market/candles"
        ) from None
    return [t, o, h, low, c, v]


def _number(data: dict[str, Any], key: str) -> float:
    value = _optional_number(data, key)
    if value is None:
        raise ExchangeAPIError("bad-field", f"field {key!r} missing in {data!r}")
    return value


def _optional_number(data: dict[str, Any], key: str) -> float | None:
    raw = data.get(key)
    if raw in (None, ""):
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise ExchangeAPIError("bad-field", f"field {key!r} is not a number: {raw!r}") from None


# The hourly pipeline asks the exchange for every symbol side by side, a thread each: keep
# up to this many connections open for reuse (urllib3 keeps 10 by default and opens, then
# drops, a new connection, with its TLS handshake, for every request beyond them).
POOL_CONNECTIONS = 64


def _pooled_session() -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=POOL_CONNECTIONS)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
