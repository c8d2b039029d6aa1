"""A fake KuCoin spot REST server for tests: real HTTP on 127.0.0.1, KuCoin's documented format.

It serves recorded candles (newest first, at most 1500 per call, the still-open
candle included as the real exchange does), the timestamp, 24h stats and the
level-1 book, and two private endpoints that verify KuCoin's request signing.
Faults (429, 5xx, slow answers, error codes) are queued and consumed per
request, and every request is logged so tests can assert what was called.
More symbols can be served beside the first with :meth:`FakeKuCoin.add_symbol`
(tests/exchange/kucoin_multi.py derives several from the recordings).

    with FakeKuCoin(now=datetime(2023, 8, 20, 12, 30, 20, tzinfo=UTC)) as server:
        settings = ExchangeSettings(name="kucoin", base_url=server.url)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from market_maker.base.candles import CandleSeries, Interval, aggregate
from market_maker.exchange.replay import load_recorded_minutes
from tests.loopback import LoopbackServer

SAMPLE_FILE = (
    Path(__file__).resolve().parents[2]
    / "data/sample/ETHUSDT-1m-2023-06-14_2023-08-31-binance-futures.csv.gz"
)
SUCCESS = "200000"
PAGE_LIMIT = 1500
TIMESTAMP_TOLERANCE_MS = 5000
RATE_LIMIT_POOL = 2000
RATE_LIMIT_WINDOW_MS = 30_000
AUTH_HEADERS = ("KC-API-KEY", "KC-API-SIGN", "KC-API-TIMESTAMP", "KC-API-PASSPHRASE")


@dataclass(frozen=True)
class ApiKey:
    """A key the server knows; ``permission`` as KuCoin reports it, comma-separated."""

    key: str
    secret: str
    passphrase: str
    version: int = 3
    permission: str = "General,Spot"
    ip_whitelist: str = "127.0.0.1"  # comma-separated, as KuCoin reports it; "" for none


@dataclass(frozen=True)
class Fault:
    """A canned answer served instead of the real one (``delay``: answer late, then normally)."""

    name: str
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @classmethod
    def rate_limited(cls, reset_ms: int = 1000, limit: int = RATE_LIMIT_POOL) -> Fault:
        headers = {
            "gw-ratelimit-limit": str(limit),
            "gw-ratelimit-remaining": "0",
            "gw-ratelimit-reset": str(reset_ms),
        }
        return cls(
            "429", 429, _json({"code": "429000", "msg": "Too Many Requests"}), headers=headers
        )

    @classmethod
    def server_error(cls, status: int = 503) -> Fault:
        if status == 500:
            return cls("500", 500, _json({"code": "500000", "msg": "Internal Server Error."}))
        # Gateway errors come from the load balancer, as HTML.
        page = f"<html><body><h1>{status} Service Unavailable</h1></body></html>".encode()
        return cls(str(status), status, page, content_type="text/html")

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls("slow", delay=seconds)

    @classmethod
    def api_error(
        cls, code: str = "400100", msg: str = "Parameter error", status: int = 400
    ) -> Fault:
        return cls(code, status, _json({"code": code, "msg": msg}))


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    fault: str | None = None
    status: int | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class _Reject(Exception):
    def __init__(self, status: int, code: str, msg: str):
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


class FakeKuCoin(LoopbackServer):
    """The fake exchange; start it with ``with`` (or start/stop). ``url`` is its base URL.

    The clock runs from ``now`` (default: the wall clock) at real speed; set it
    with :meth:`set_now`. Nothing after the clock is served, except the
    candle still open at it.
    """

    protocol_version = "HTTP/1.0"

    def __init__(
        self,
        minutes: CandleSeries | None = None,
        *,
        symbol: str = "ETH-USDT",
        now: datetime | None = None,
        keys: Iterable[ApiKey] = (),
    ):
        self.symbol = symbol
        self.keys = {k.key: k for k in keys}
        self.log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._faults: list[tuple[str | None, Fault]] = []
        self._offset = 0.0
        self._stopping = threading.Event()
        # Seconds every answer waits, as a real exchange's round trip would (benchmarks).
        self.latency = 0.0
        self._httpd: ThreadingHTTPServer | None = None
        self._by_symbol: dict[str, dict[Interval, CandleSeries]] = {}
        self._set_minutes(minutes if minutes is not None else load_recorded_minutes(SAMPLE_FILE))
        if now is not None:
            self.set_now(now)

    # -- control ---------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self._offset, tz=UTC)

    def set_now(self, now: datetime) -> None:
        self._offset = now.timestamp() - time.time()

    def add_key(self, key: ApiKey) -> None:
        self.keys[key.key] = key

    def add_symbol(self, symbol: str, minutes: CandleSeries) -> None:
        """Serve ``symbol`` too, from ``minutes`` (its hours and four hours aggregated here)."""
        self._by_symbol[symbol] = _intervals(minutes)

    @property
    def symbols(self) -> list[str]:
        """Every symbol served, the first one (``symbol``) first."""
        return list(self._by_symbol)

    def remove_minutes(self, times: Iterable[datetime]) -> None:
        """Simulate minutes without trades: the exchange has no candle for them."""
        drop = np.array([int(t.timestamp()) for t in times], dtype=np.int64)
        minutes = self.series(Interval.MINUTE)
        self._set_minutes(minutes.take(~np.isin(minutes.t, drop)))

    def series(self, interval: Interval, symbol: str | None = None) -> CandleSeries:
        """Everything the server holds for ``interval`` (closed or not) of ``symbol`` (default:
        the first symbol)."""
        return self._by_symbol[symbol or self.symbol][interval]

    def inject(self, fault: Fault, *, path: str | None = None, times: int = 1) -> None:
        """Queue ``fault`` for the next ``times`` requests (to ``path`` only, if given)."""
        with self._lock:
            self._faults.extend([(path, fault)] * times)

    @property
    def pending_faults(self) -> int:
        return len(self._faults)

    def paths(self) -> list[str]:
        return [r.path for r in self.log]

    def requests_to(self, path: str) -> list[LoggedRequest]:
        return [r for r in self.log if r.path == path]

    # -- request handling --------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        target = urlsplit(handler.path)
        entry = LoggedRequest(
            handler.command,
            target.path,
            dict(parse_qsl(target.query, keep_blank_values=True)),
            {k.lower(): v for k, v in handler.headers.items()},
        )
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        with self._lock:
            self.log.append(entry)
            fault = self._take_fault(target.path)
        if fault is not None:
            entry.fault = fault.name
            if fault.delay:
                self._stopping.wait(fault.delay)
            else:
                _send(handler, entry, fault.status, fault.body, fault.content_type, fault.headers)
                return
        if self.latency:
            self._stopping.wait(self.latency)
        try:
            data = self._route(entry, handler.path, body)
            status, payload = 200, {"code": SUCCESS, "data": data}
        except _Reject as reject:
            status, payload = reject.status, {"code": reject.code, "msg": reject.msg}
        _send(handler, entry, status, _json(payload), "application/json", self._limit_headers())

    def _take_fault(self, path: str) -> Fault | None:
        for i, (only, fault) in enumerate(self._faults):
            if only is None or only == path:
                del self._faults[i]
                return fault
        return None

    def _limit_headers(self) -> dict[str, str]:
        used = len(self.log)
        reset = RATE_LIMIT_WINDOW_MS - int(time.time() * 1000) % RATE_LIMIT_WINDOW_MS
        return {
            "gw-ratelimit-limit": str(RATE_LIMIT_POOL),
            "gw-ratelimit-remaining": str(max(RATE_LIMIT_POOL - used, 0)),
            "gw-ratelimit-reset": str(reset),
        }

    def _route(self, entry: LoggedRequest, path_with_query: str, body: str) -> Any:
        public = {
            "/api/v1/timestamp": lambda q: int(self.now().timestamp() * 1000),
            "/api/v1/market/candles": self._candles,
            "/api/v1/market/stats": self._stats,
            "/api/v1/market/orderbook/level1": self._level1,
        }
        private = {"/api/v1/accounts": self._accounts, "/api/v1/user/api-key": self._api_key}
        if entry.method != "GET" or entry.path not in public | private:
            raise _Reject(404, "404000", f"{entry.method} {entry.path} not found")
        if entry.path in public:
            return public[entry.path](entry.query)
        key = self._authenticate(entry, path_with_query, body)
        return private[entry.path](key)

    # -- public endpoints ---------------------------------------------------------

    def _check_symbol(self, query: dict[str, str]) -> str:
        symbol = query.get("symbol")
        if symbol is None or symbol not in self._by_symbol:
            raise _Reject(400, "400100", f"symbol {symbol!r} is not supported")
        return symbol

    def _candles(self, query: dict[str, str]) -> list[list[str]]:
        symbol = self._check_symbol(query)
        try:
            interval = Interval(query.get("type", ""))
            start = int(query.get("startAt") or 0)
            end = int(query.get("endAt") or 0)
        except ValueError:
            raise _Reject(400, "400100", "type, startAt or endAt is invalid") from None
        now_s = int(self.now().timestamp())
        end = end or now_s
        open_t = now_s // interval.seconds * interval.seconds
        series = self.series(interval, symbol)
        lo = np.searchsorted(series.t, start, side="left")
        hi = np.searchsorted(series.t, min(end, open_t - 1), side="right")
        rows = [_row(series, i) for i in range(lo, hi)]
        if start <= open_t <= end:
            current = self._open_candle(interval, open_t, now_s, symbol)
            if len(current):
                rows.append(_row(current, 0))
        return rows[::-1][:PAGE_LIMIT]

    def _open_candle(
        self, interval: Interval, open_t: int, now_s: int, symbol: str | None = None
    ) -> CandleSeries:
        """The candle still forming: its closed minutes and the current minute so far."""
        minutes = self.series(Interval.MINUTE, symbol)
        lo = np.searchsorted(minutes.t, open_t, side="left")
        hi = np.searchsorted(minutes.t, now_s, side="right")
        part = minutes.take(np.arange(lo, hi))  # a copy: the last minute is edited below
        if len(part) and part.t[-1] == now_s // 60 * 60:
            # Only the open price and part of the volume of the minute in progress.
            fraction = (now_s % 60) / 60
            last = len(part) - 1
            part.high[last] = part.low[last] = part.close[last] = part.open[last]
            part.volume[last] *= fraction
        return aggregate(part, interval)

    def _closed_day(self, symbol: str | None = None) -> CandleSeries:
        now_s = int(self.now().timestamp())
        minutes = self.series(Interval.MINUTE, symbol)
        lo, hi = np.searchsorted(minutes.t, [now_s - 86400, now_s - 60], side="right")
        return minutes.take(slice(lo, hi))

    def _stats(self, query: dict[str, str]) -> dict[str, Any]:
        symbol = self._check_symbol(query)
        day = self._closed_day(symbol)
        now_ms = int(self.now().timestamp() * 1000)
        if not len(day):
            return {"time": now_ms, "symbol": symbol, "last": None, "vol": "0"}
        last, first = float(day.close[-1]), float(day.open[0])
        return {
            "time": now_ms,
            "symbol": symbol,
            "buy": _num(round(last - 0.01, 2)),
            "sell": _num(round(last + 0.01, 2)),
            "changeRate": _num(round((last - first) / first, 4)),
            "changePrice": _num(round(last - first, 2)),
            "high": _num(float(day.high.max())),
            "low": _num(float(day.low.min())),
            "vol": _num(float(day.volume.sum())),
            "volValue": _num(round(float((day.volume * day.close).sum()), 4)),
            "last": _num(last),
            "averagePrice": _num(round(float(day.close.mean()), 2)),
            "takerFeeRate": "0.001",
            "makerFeeRate": "0.001",
            "takerCoefficient": "1",
            "makerCoefficient": "1",
        }

    def _level1(self, query: dict[str, str]) -> dict[str, Any]:
        symbol = self._check_symbol(query)
        day = self._closed_day(symbol)
        last = float(day.close[-1]) if len(day) else None
        return {
            "time": int(self.now().timestamp() * 1000),
            "sequence": str(len(self.log)),
            "price": None if last is None else _num(last),
            "size": "0.0312",
            "bestBid": None if last is None else _num(round(last - 0.01, 2)),
            "bestBidSize": "4.2051",
            "bestAsk": None if last is None else _num(round(last + 0.01, 2)),
            "bestAskSize": "1.7",
        }

    # -- private endpoints ----------------------------------------------------------

    def _authenticate(self, entry: LoggedRequest, path_with_query: str, body: str) -> ApiKey:
        """KuCoin's checks, in order: headers, timestamp, key, signature, passphrase."""
        if any(not entry.header(name) for name in AUTH_HEADERS):
            raise _Reject(
                401,
                "400001",
                "Please check the header of your request for " + ", ".join(AUTH_HEADERS),
            )
        stamp = entry.header("KC-API-TIMESTAMP") or ""
        now_ms = int(self.now().timestamp() * 1000)
        if not stamp.isdigit() or abs(int(stamp) - now_ms) > TIMESTAMP_TOLERANCE_MS:
            raise _Reject(401, "400002", "Invalid KC-API-TIMESTAMP: more than 5 s from server time")
        key = self.keys.get(entry.header("KC-API-KEY") or "")
        if key is None:
            raise _Reject(401, "400003", "KC-API-KEY not exists")
        expected = _hmac(key.secret, f"{stamp}{entry.method}{path_with_query}{body}")
        if not hmac.compare_digest(expected, entry.header("KC-API-SIGN") or ""):
            raise _Reject(401, "400005", "Signature verification failed")
        passphrase = key.passphrase if key.version == 1 else _hmac(key.secret, key.passphrase)
        if not hmac.compare_digest(passphrase, entry.header("KC-API-PASSPHRASE") or ""):
            raise _Reject(401, "400004", "Invalid KC-API-PASSPHRASE")
        return key

    def _accounts(self, key: ApiKey) -> list[dict[str, str]]:
        return [
            {
                "id": "5bd6e9286d99522a52e458de",
                "currency": "USDT",
                "type": "trade",
                "balance": "2500.5",
                "available": "2000.5",
                "holds": "500",
            },
            {
                "id": "5bd6e9216d99522a52e458d6",
                "currency": "ETH",
                "type": "trade",
                "balance": "1.25",
                "available": "1.25",
                "holds": "0",
            },
        ]

    def _api_key(self, key: ApiKey) -> dict[str, Any]:
        return {
            "remark": "market-maker test key",
            "apiKey": key.key,
            "apiVersion": key.version,
            "permission": key.permission,
            "ipWhitelist": key.ip_whitelist,
            "createdAt": 1690000000000,
            "uid": 165111215,
            "isMaster": True,
        }

    def _set_minutes(self, minutes: CandleSeries) -> None:
        self._by_symbol[self.symbol] = _intervals(minutes)


def _intervals(minutes: CandleSeries) -> dict[Interval, CandleSeries]:
    return {
        Interval.MINUTE: minutes,
        Interval.HOUR: aggregate(minutes, Interval.HOUR),
        Interval.FOUR_HOURS: aggregate(minutes, Interval.FOUR_HOURS),
    }


def _send(
    handler: BaseHTTPRequestHandler,
    entry: LoggedRequest,
    status: int,
    body: bytes,
    content_type: str,
    headers: dict[str, str],
) -> None:
    entry.status = status
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (a timeout)


def _row(series: CandleSeries, i: int) -> list[str]:
    """KuCoin's order: time, open, close, high, low, volume, turnover; all strings."""
    close, volume = float(series.close[i]), float(series.volume[i])
    return [
        str(int(series.t[i])),
        _num(float(series.open[i])),
        _num(close),
        _num(float(series.high[i])),
        _num(float(series.low[i])),
        _num(volume),
        _num(round(volume * close, 8)),
    ]


def _num(value: float) -> str:
    """Shortest decimal that reads back as the same float, never in exponent form."""
    return np.format_float_positional(value, trim="-")


def _hmac(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _json(payload: Any) -> bytes:
    return json.dumps(payload).encode()
