"""KuCoinExchange against a real HTTP server speaking KuCoin's documented spot REST format.

Retries never really sleep: the client's ``sleep`` records the waits instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from market_maker.base.candles import CandleSeries, Interval, aggregate
from market_maker.base.errors import (
    CircuitOpenError,
    ExchangeAPIError,
    TransientExchangeError,
    UnsafeAPIKeyError,
)
from market_maker.base.timeutil import from_seconds, to_seconds
from market_maker.config import load_settings
from market_maker.config.models import ExchangeSettings
from market_maker.exchange import KuCoinExchange, build_exchange
from market_maker.exchange.circuit_breaker import CircuitBreaker
from market_maker.exchange.replay import load_recorded_minutes
from tests.exchange.kucoin_server import SAMPLE_FILE, ApiKey, FakeKuCoin, Fault

NOW = datetime(2023, 8, 20, 12, 30, 20, tzinfo=UTC)  # mid-minute: no boundary during a test
CANDLES = "/api/v1/market/candles"
PUBLIC = {"/api/v1/timestamp", CANDLES, "/api/v1/market/stats", "/api/v1/market/orderbook/level1"}
KEY = ApiKey("key-v3", "secret-v3", "passphrase-v3", version=3, permission="General,Spot")
KEYS = {3: KEY, 2: ApiKey("key-v2", "secret-v2", "pass-v2", 2), 1: ApiKey("key-v1", "s1", "p1", 1)}


class Clock:
    """A settable clock for the circuit breaker."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def server() -> Iterator[FakeKuCoin]:
    with FakeKuCoin(now=NOW) as fake:
        yield fake


@pytest.fixture
def key_server() -> Iterator[FakeKuCoin]:
    """On the wall clock, so that signed timestamps are within 5 s of server time."""
    with FakeKuCoin(keys=KEYS.values()) as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def recorded() -> CandleSeries:
    return load_recorded_minutes(SAMPLE_FILE)


def client(server: FakeKuCoin, sleeps: list[float], **options: Any) -> KuCoinExchange:
    extra = {k: options.pop(k) for k in ("breaker", "clock") if k in options}
    settings = ExchangeSettings(
        name="kucoin", base_url=server.url, timeout_seconds=options.pop("timeout", 2.0), **options
    )
    return KuCoinExchange(settings, sleep=sleeps.append, **extra)


def assert_same_candles(got: CandleSeries, want: CandleSeries) -> None:
    assert got.interval == want.interval
    for column in ("t", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(got, column), getattr(want, column), err_msg=column)


# -- candles ------------------------------------------------------------------


def test_paging_three_days_of_minutes_returns_every_recorded_minute_once_oldest_first(
    server: FakeKuCoin, sleeps: list[float], recorded: CandleSeries
) -> None:
    start, end = datetime(2023, 7, 1, tzinfo=UTC), datetime(2023, 7, 4, tzinfo=UTC)
    result = client(server, sleeps).candles("ETH-USDT", Interval.MINUTE, start, end)

    assert len(result.candles) == 3 * 1440 and result.missing == []
    assert_same_candles(result.candles, recorded.between(start, end))
    pages = [(int(r.query["startAt"]), int(r.query["endAt"])) for r in server.requests_to(CANDLES)]
    assert len(pages) == 3
    assert pages[0][0] == to_seconds(start) and pages[-1][1] == to_seconds(end) - 1
    assert all(prev[1] + 1 == nxt[0] for prev, nxt in itertools.pairwise(pages))
    assert all((hi - lo) // 60 + 1 <= 1500 for lo, hi in pages)


@pytest.mark.parametrize(("interval", "pages"), [(Interval.HOUR, 2), (Interval.FOUR_HOURS, 1)])
def test_hour_and_four_hour_candles_equal_the_aggregated_recording(
    server: FakeKuCoin,
    sleeps: list[float],
    recorded: CandleSeries,
    interval: Interval,
    pages: int,
) -> None:
    start, end = datetime(2023, 6, 14, tzinfo=UTC), datetime(2023, 8, 20, tzinfo=UTC)
    result = client(server, sleeps).candles("ETH-USDT", interval, start, end)

    assert result.missing == []
    assert_same_candles(result.candles, aggregate(recorded, interval).between(start, end))
    assert len(server.requests_to(CANDLES)) == pages


@pytest.mark.parametrize("interval", [Interval.MINUTE, Interval.HOUR, Interval.FOUR_HOURS])
def test_a_range_ending_in_the_future_stops_at_the_last_closed_candle_without_the_open_one(
    server: FakeKuCoin, sleeps: list[float], interval: Interval
) -> None:
    step = interval.seconds
    open_t = to_seconds(NOW) // step * step
    start, end = from_seconds(open_t - 20 * step), NOW + timedelta(days=2)
    # The server does serve the open candle for such a range, as KuCoin does ...
    query = {"symbol": "ETH-USDT", "type": interval.value, "startAt": to_seconds(start)}
    raw = requests.get(f"{server.url}{CANDLES}", params={**query, "endAt": to_seconds(end)})
    assert int(raw.json()["data"][0][0]) == open_t

    # ... and the client keeps only closed candles, reporting nothing in the future missing.
    result = client(server, sleeps).candles("ETH-USDT", interval, start, end)
    assert result.candles.t.tolist() == list(range(open_t - 20 * step, open_t, step))
    assert result.missing == []
    assert_same_candles(
        result.candles, server.series(interval).between(start, from_seconds(open_t))
    )


def test_removed_minutes_are_reported_missing_and_never_invented(
    server: FakeKuCoin, sleeps: list[float]
) -> None:
    start, end = datetime(2023, 7, 10, tzinfo=UTC), datetime(2023, 7, 12, tzinfo=UTC)
    removed = [start, start + timedelta(minutes=1), datetime(2023, 7, 11, 5, 17, tzinfo=UTC)]
    removed.append(end - timedelta(minutes=1))
    server.remove_minutes(removed)

    result = client(server, sleeps).candles("ETH-USDT", Interval.MINUTE, start, end)

    assert result.missing == removed
    assert len(result.candles) == 2 * 1440 - len(removed)
    assert not set(result.candles.t.tolist()) & {to_seconds(t) for t in removed}
    hours = client(server, sleeps).candles("ETH-USDT", Interval.HOUR, start, end)
    assert hours.missing == [] and len(hours.candles) == 48  # an hour with trades still exists


# -- retries ------------------------------------------------------------------


@pytest.mark.parametrize(("reset_ms", "wait"), [(5000, 5.0), (120_000, 30.0), (200, 1.0)])
def test_a_429_is_retried_after_the_gw_ratelimit_reset_capped_at_the_max_wait(
    server: FakeKuCoin, sleeps: list[float], reset_ms: int, wait: float
) -> None:
    server.inject(Fault.rate_limited(reset_ms=reset_ms))
    exchange = client(server, sleeps, retry_max_wait_seconds=30)

    assert exchange.server_time() > NOW - timedelta(seconds=1)
    assert sleeps == [wait]  # never less than the 1 s backoff, never more than the cap
    assert [r.status for r in server.log] == [429, 200]


def test_server_errors_are_retried_with_exponential_backoff(
    server: FakeKuCoin, sleeps: list[float]
) -> None:
    for status in (500, 502, 503):
        server.inject(Fault.server_error(status))
    exchange = client(server, sleeps, retry_attempts=4, retry_max_wait_seconds=30)

    assert exchange.stats("ETH-USDT")["symbol"] == "ETH-USDT"
    assert sleeps == [1.0, 2.0, 4.0]
    assert [r.status for r in server.log] == [500, 502, 503, 200]


def test_a_timeout_is_retried(server: FakeKuCoin, sleeps: list[float]) -> None:
    server.inject(Fault.slow(3.0))
    exchange = client(server, sleeps, timeout=0.3)

    assert exchange.level1("ETH-USDT")["bestBid"]
    assert [r.fault for r in server.log] == ["slow", None]
    assert sleeps == [1.0]


def test_after_the_retry_attempts_the_transient_error_propagates(
    server: FakeKuCoin, sleeps: list[float]
) -> None:
    server.inject(Fault.server_error(503), times=5)
    exchange = client(server, sleeps, retry_attempts=3)

    with pytest.raises(TransientExchangeError, match="HTTP 503"):
        exchange.server_time()
    assert len(server.log) == 3 and sleeps == [1.0, 2.0]


def test_an_error_code_raises_exchange_api_error_with_code_and_msg_and_is_not_retried(
    server: FakeKuCoin, sleeps: list[float]
) -> None:
    server.inject(Fault.api_error("400100", "Parameter error: startAt"), path=CANDLES)
    exchange = client(server, sleeps)

    with pytest.raises(ExchangeAPIError) as raised:
        exchange.candles("ETH-USDT", Interval.MINUTE, NOW - timedelta(hours=1), NOW)
    assert (raised.value.code, raised.value.msg) == ("400100", "Parameter error: startAt")
    assert raised.value.http_status == 400
    assert len(server.requests_to(CANDLES)) == 1 and sleeps == []


# -- circuit breaker ------------------------------------------------------------


def test_three_failed_calls_open_the_circuit_and_the_next_call_sends_no_request(
    server: FakeKuCoin, sleeps: list[float], tmp_path: Path
) -> None:
    clock = Clock(NOW)
    state = tmp_path / "circuit-breaker-kucoin.json"
    exchange = client(
        server, sleeps, breaker=CircuitBreaker("kucoin", state_file=state, clock=clock)
    )
    server.inject(Fault.server_error(503), times=9)
    for _ in range(3):
        with pytest.raises(TransientExchangeError):
            exchange.server_time()
    assert len(server.log) == 9

    with pytest.raises(CircuitOpenError):
        exchange.server_time()
    assert len(server.log) == 9

    # A new process: a new client reading the same state file is refused too.
    reborn = client(server, sleeps, breaker=CircuitBreaker("kucoin", state_file=state, clock=clock))
    with pytest.raises(CircuitOpenError, match="open after 3 consecutive failures"):
        reborn.stats("ETH-USDT")
    assert len(server.log) == 9

    # Thirty minutes later one trial call goes through; its success closes the circuit.
    clock.now += timedelta(minutes=30)
    assert reborn.server_time()
    assert len(server.log) == 10 and not reborn.breaker.is_open
    assert CircuitBreaker("kucoin", state_file=state, clock=clock).state.failures == 0


def test_a_failed_trial_call_opens_the_circuit_again(
    server: FakeKuCoin, sleeps: list[float]
) -> None:
    clock = Clock(NOW)
    exchange = client(server, sleeps, retry_attempts=1, breaker=CircuitBreaker("k", clock=clock))
    server.inject(Fault.server_error(502), times=4)
    for _ in range(3):
        with pytest.raises(TransientExchangeError):
            exchange.server_time()
    clock.now += timedelta(minutes=31)
    with pytest.raises(TransientExchangeError):
        exchange.server_time()
    with pytest.raises(CircuitOpenError):
        exchange.server_time()
    assert len(server.log) == 4


# -- signing ------------------------------------------------------------------------


@pytest.mark.parametrize("version", [3, 2, 1])
def test_private_calls_pass_the_servers_signature_verification(
    key_server: FakeKuCoin, sleeps: list[float], version: int
) -> None:
    key = KEYS[version]
    exchange = client(
        key_server,
        sleeps,
        api_key=key.key,
        api_secret=key.secret,
        api_passphrase=key.passphrase,
        key_version=version,
    )

    assert {a["currency"] for a in exchange.accounts()} == {"USDT", "ETH"}
    assert exchange.api_key_info()["apiKey"] == key.key
    # The server's clock is read first (signatures must be within 5 s of it).
    assert key_server.paths() == ["/api/v1/timestamp", "/api/v1/accounts", "/api/v1/user/api-key"]
    assert [r.status for r in key_server.log] == [200, 200, 200]
    private = key_server.log[1:]
    assert {r.header("KC-API-KEY-VERSION") for r in private} == {str(version)}


def test_the_key_version_header_defaults_to_3(key_server: FakeKuCoin, sleeps: list[float]) -> None:
    options = {"api_key": KEY.key, "api_secret": KEY.secret, "api_passphrase": KEY.passphrase}
    assert client(key_server, sleeps, **options).api_key_info()["apiVersion"] == 3
    assert key_server.requests_to("/api/v1/user/api-key")[0].header("KC-API-KEY-VERSION") == "3"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"api_secret": "not-the-secret"}, "400005"),
        ({"api_passphrase": "not-the-passphrase"}, "400004"),
        ({"api_key": "no-such-key"}, "400003"),
        ({"key_version": 1}, "400004"),  # a version-3 key's passphrase must be signed
    ],
    ids=["wrong-secret", "wrong-passphrase", "unknown-key", "v1-for-a-v3-key"],
)
def test_a_refused_signature_raises_the_documented_error_code_without_retrying(
    key_server: FakeKuCoin, sleeps: list[float], change: dict[str, Any], code: str
) -> None:
    options = {"api_key": KEY.key, "api_secret": KEY.secret, "api_passphrase": KEY.passphrase}
    exchange = client(key_server, sleeps, **{**options, **change})

    with pytest.raises(ExchangeAPIError) as raised:
        exchange.accounts()
    assert (raised.value.code, raised.value.http_status) == (code, 401)
    assert len(key_server.requests_to("/api/v1/accounts")) == 1 and sleeps == []


def test_a_skewed_local_clock_is_corrected_by_the_servers_time_before_the_first_signature(
    key_server: FakeKuCoin, sleeps: list[float]
) -> None:
    options = {"api_key": KEY.key, "api_secret": KEY.secret, "api_passphrase": KEY.passphrase}
    skewed = client(
        key_server, sleeps, clock=lambda: datetime.now(UTC) - timedelta(seconds=30), **options
    )
    # 30 s off would be refused with 400002 if signed with the local clock.
    assert skewed.accounts()
    assert key_server.paths() == ["/api/v1/timestamp", "/api/v1/accounts"]
    assert [r.status for r in key_server.log] == [200, 200]


def test_missing_auth_headers_are_refused_with_400001(key_server: FakeKuCoin) -> None:
    response = requests.get(f"{key_server.url}/api/v1/accounts", headers={"KC-API-KEY": KEY.key})
    assert response.status_code == 401 and response.json()["code"] == "400001"


# -- key permissions ---------------------------------------------------------------------


def kucoin_env(monkeypatch: pytest.MonkeyPatch, server: FakeKuCoin, key: ApiKey | None) -> None:
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__NAME", "kucoin")
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__BASE_URL", server.url)
    if key is not None:
        monkeypatch.setenv("MARKET_MAKER_EXCHANGE__API_KEY", key.key)
        monkeypatch.setenv("MARKET_MAKER_EXCHANGE__API_SECRET", key.secret)
        monkeypatch.setenv("MARKET_MAKER_EXCHANGE__API_PASSPHRASE", key.passphrase)


@pytest.mark.parametrize(
    ("permission", "named"),
    [
        ("General,Withdrawal", "Withdrawal"),
        ("General,Transfer", "Transfer"),
        ("General,Spot,InnerTransfer", "InnerTransfer"),
    ],
)
def test_build_exchange_refuses_a_key_that_can_move_funds_after_one_api_key_call(
    key_server: FakeKuCoin, monkeypatch: pytest.MonkeyPatch, permission: str, named: str
) -> None:
    unsafe = ApiKey("unsafe", "unsafe-secret", "unsafe-pass", permission=permission)
    key_server.add_key(unsafe)
    kucoin_env(monkeypatch, key_server, unsafe)

    with pytest.raises(UnsafeAPIKeyError, match=f"grants {named}"):
        build_exchange(load_settings())
    # Only the server's clock is read before the key check; nothing else runs.
    assert key_server.paths() == ["/api/v1/timestamp", "/api/v1/user/api-key"]


@pytest.mark.parametrize("permission", ["General", "General,Spot"])
def test_build_exchange_accepts_a_general_key(
    key_server: FakeKuCoin, monkeypatch: pytest.MonkeyPatch, permission: str
) -> None:
    safe = ApiKey("safe", "safe-secret", "safe-pass", permission=permission)
    key_server.add_key(safe)
    kucoin_env(monkeypatch, key_server, safe)

    assert isinstance(build_exchange(load_settings()), KuCoinExchange)
    assert key_server.paths() == ["/api/v1/timestamp", "/api/v1/user/api-key"]


def test_without_a_key_no_private_endpoint_is_ever_called(
    server: FakeKuCoin, monkeypatch: pytest.MonkeyPatch
) -> None:
    kucoin_env(monkeypatch, server, None)
    exchange = build_exchange(load_settings())
    assert server.log == []

    hour = datetime(2023, 8, 20, 11, tzinfo=UTC)
    for interval in Interval:
        assert len(exchange.candles("ETH-USDT", interval, hour - timedelta(days=1), hour).candles)
    assert exchange.market_summary("ETH-USDT") is not None
    assert set(server.paths()) == PUBLIC
    assert not any(k.startswith("kc-api") for r in server.log for k in r.headers)


# -- market summary ---------------------------------------------------------------------


def test_market_summary_parses_stats_and_level1(
    server: FakeKuCoin, sleeps: list[float], recorded: CandleSeries
) -> None:
    summary = client(server, sleeps).market_summary("ETH-USDT")

    closed = recorded.take(recorded.t <= to_seconds(NOW) - 60)
    day = closed.take(closed.t > to_seconds(NOW) - 86400)
    assert summary.last == day.close[-1]
    assert (summary.high_24h, summary.low_24h) == (day.high.max(), day.low.min())
    assert summary.volume_24h == pytest.approx(day.volume.sum(), abs=1e-6)
    assert summary.best_bid == round(day.close[-1] - 0.01, 2)
    assert summary.best_ask == round(day.close[-1] + 0.01, 2)
    assert abs(summary.as_of - NOW) < timedelta(seconds=5)
    assert server.paths() == ["/api/v1/market/stats", "/api/v1/market/orderbook/level1"]
