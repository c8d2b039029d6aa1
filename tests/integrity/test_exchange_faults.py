"""Exchange faults end clearly: against a fake KuCoin over real HTTP on 127.0.0.1.

A broken answer (truncated JSON with HTTP 200, a body cut short on the wire, a connection
hung up) is retried like a 5xx; when every attempt fails the command line ends with one line
naming the endpoint and the cause, never a traceback; an open circuit breaker says so; a key
without an IP whitelist is refused unless the configuration accepts the risk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pytest
import requests
from prefect.settings import PREFECT_API_URL

from market_maker.base.candles import Interval
from market_maker.base.errors import TransientExchangeError, UnsafeAPIKeyError
from market_maker.config import load_settings
from market_maker.config.models import ExchangeSettings
from market_maker.exchange import KuCoinExchange, build_exchange
from market_maker.exchange.replay import load_recorded_minutes
from tests.conftest import PROJECT_ROOT
from tests.exchange.kucoin_server import SAMPLE_FILE, ApiKey, FakeKuCoin, Fault, LoggedRequest
from tests.integrity.conftest import Run

NOW = datetime(2023, 8, 25, 12, 0, 30, tzinfo=UTC)
HOUR = "2023-08-25T10:00:00Z"
CANDLES = "/api/v1/market/candles"
TIMESTAMP = "/api/v1/timestamp"
API_KEY = "/api/v1/user/api-key"


class WireFaultKuCoin(FakeKuCoin):
    """FakeKuCoin, plus faults below HTTP: an answer cut short on the wire (a Content-Length
    larger than the body sent, then the connection closed) and a connection hung up before
    any answer."""

    def __init__(self, *args: object, **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._wire: list[tuple[str, str]] = []

    def inject_wire(self, kind: str, *, path: str) -> None:
        assert kind in ("cut-short", "hang-up")
        with self._lock:
            self._wire.append((path, kind))

    @property
    def pending_faults(self) -> int:
        return super().pending_faults + len(self._wire)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        target = urlsplit(handler.path)
        with self._lock:
            kind = next((k for p, k in self._wire if p == target.path), None)
            if kind is not None:
                self._wire.remove((target.path, kind))
        if kind is None:
            super().handle(handler)
            return
        entry = LoggedRequest(
            handler.command,
            target.path,
            dict(parse_qsl(target.query, keep_blank_values=True)),
            {k.lower(): v for k, v in handler.headers.items()},
            fault=kind,
        )
        with self._lock:
            self.log.append(entry)
        handler.close_connection = True
        if kind == "hang-up":
            return  # the server closes the connection without a byte of answer
        body = json.dumps({"code": "200000", "data": self._route(entry, handler.path, "")})
        data = body.encode()
        entry.status = 200
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data[: len(data) // 2])
        handler.wfile.flush()


@pytest.fixture
def server() -> Iterator[WireFaultKuCoin]:
    with WireFaultKuCoin(now=NOW) as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    return []


def client(server: FakeKuCoin, sleeps: list[float], **options: object) -> KuCoinExchange:
    settings = ExchangeSettings(name="kucoin", base_url=server.url, timeout_seconds=2.0, **options)
    return KuCoinExchange(settings, sleep=sleeps.append)


def fetch_two_hours(exchange: KuCoinExchange):
    start = datetime(2023, 8, 24, 8, tzinfo=UTC)
    return exchange.candles("ETH-USDT", Interval.MINUTE, start, start + timedelta(hours=2)), start


def assert_complete(result, start: datetime) -> None:
    """Every recorded minute of the two hours, exactly as recorded: nothing lost to the fault."""
    want = load_recorded_minutes(SAMPLE_FILE).between(start, start + timedelta(hours=2))
    assert result.missing == [] and len(result.candles) == 120
    for column in ("t", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(result.candles, column), getattr(want, column))


# -- broken answers are transient ---------------------------------------------------------


def test_a_truncated_json_body_with_http_200_is_retried_and_the_call_then_succeeds(
    server: WireFaultKuCoin, sleeps: list[float]
) -> None:
    start = int(datetime(2023, 8, 24, 8, tzinfo=UTC).timestamp())
    real = requests.get(
        f"{server.url}{CANDLES}",
        params={"symbol": "ETH-USDT", "type": "1min", "startAt": start, "endAt": start + 7199},
        timeout=5,
    ).content
    assert json.loads(real)["code"] == "200000"
    server.log.clear()
    server.inject(Fault("truncated", 200, real[: len(real) // 2]), path=CANDLES)

    result, first = fetch_two_hours(client(server, sleeps))

    assert server.pending_faults == 0
    assert [(r.fault, r.status) for r in server.requests_to(CANDLES)] == [
        ("truncated", 200),
        (None, 200),
    ]
    assert sleeps == [1.0]  # one backoff, as for a 5xx
    assert_complete(result, first)


@pytest.mark.parametrize("kind", ["cut-short", "hang-up"])
def test_an_answer_broken_off_on_the_wire_is_retried_and_the_call_then_succeeds(
    server: WireFaultKuCoin, sleeps: list[float], kind: str
) -> None:
    # cut-short: requests raises ChunkedEncodingError (IncompleteRead); hang-up: ConnectionError.
    server.inject_wire(kind, path=CANDLES)

    result, first = fetch_two_hours(client(server, sleeps))

    assert server.pending_faults == 0
    assert [r.fault for r in server.requests_to(CANDLES)] == [kind, None]
    assert sleeps == [1.0]
    assert_complete(result, first)


@pytest.mark.parametrize(
    ("kind", "raw_error"),
    [
        ("cut-short", requests.exceptions.ChunkedEncodingError),
        ("hang-up", requests.exceptions.ConnectionError),
    ],
)
def test_every_attempt_broken_off_ends_in_one_transient_error_naming_the_endpoint(
    server: WireFaultKuCoin, sleeps: list[float], kind: str, raw_error: type[Exception]
) -> None:
    server.inject_wire(kind, path=TIMESTAMP)
    with pytest.raises(raw_error):  # what requests itself makes of the fault
        requests.get(f"{server.url}{TIMESTAMP}", timeout=2)
    for _ in range(2):
        server.inject_wire(kind, path=TIMESTAMP)

    with pytest.raises(TransientExchangeError) as raised:
        client(server, sleeps, retry_attempts=2).server_time()

    message = str(raised.value)
    assert TIMESTAMP in message and "gave up after 2 attempts" in message
    assert "\n" not in message
    assert len(server.requests_to(TIMESTAMP)) == 3


# -- the command line when every attempt fails ------------------------------------------------


@pytest.fixture
def kucoin_env(
    server: WireFaultKuCoin, data_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__NAME", "kucoin")
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__BASE_URL", server.url)
    return data_env


def collect(cli: Callable[..., Run]) -> Run:
    return cli("collect", "--symbol", "ETH-USDT", "--hour", HOUR)


def assert_one_line_failure(run: Run, command: str) -> str:
    assert run.code != 0
    assert "Traceback" not in run.err
    last = run.err_lines[-1]
    assert last.startswith(f"market-maker {command}: ")
    assert [line for line in run.err_lines if line.startswith("market-maker")] == [last]
    return last


def test_collect_with_every_attempt_failing_ends_with_one_line_naming_the_endpoint_and_cause(
    server: WireFaultKuCoin,
    kucoin_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., Run],
) -> None:
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__RETRY_ATTEMPTS", "2")
    server.inject(Fault.server_error(503), times=20)

    run = collect(cli)

    line = assert_one_line_failure(run, "collect")
    assert TIMESTAMP in line and "HTTP 503" in line and "gave up after 2 attempts" in line
    assert [r.status for r in server.log] == [503, 503]  # retried, then given up


def test_with_the_circuit_breaker_open_the_next_run_says_so_in_one_line_without_a_call(
    server: WireFaultKuCoin,
    kucoin_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., Run],
) -> None:
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__RETRY_ATTEMPTS", "1")
    server.inject(Fault.server_error(502), times=3)
    state = Path(kucoin_env["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"]) / (
        ".git/market-maker/circuit-breaker-kucoin.json"
    )

    for failures in (1, 2, 3):  # the default threshold: 3 consecutive failed calls
        assert_one_line_failure(collect(cli), "collect")
        assert json.loads(state.read_text())["failures"] == failures
    assert json.loads(state.read_text())["opened_at"] is not None
    calls = len(server.log)

    run = collect(cli)

    line = assert_one_line_failure(run, "collect")
    assert "circuit breaker for kucoin is open" in line
    assert f"GET {TIMESTAMP} not called" in line
    assert len(server.log) == calls  # refused before any request


def test_a_failing_collect_in_a_real_process_prints_no_traceback(
    server: WireFaultKuCoin, kucoin_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console of a real ``market-maker`` process, whose logging Prefect sets up lazily."""
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__RETRY_ATTEMPTS", "1")
    server.inject(Fault.server_error(503), times=5)
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}

    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "collect", "--symbol", "ETH-USDT", "--hour", HOUR],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1, done.stderr
    assert "Beginning flow run" in done.stderr  # Prefect's console handler is there ...
    assert "Encountered exception" not in done.stderr  # ... without its failure lines
    assert "Traceback" not in done.stderr  # ... or a traceback (they are in the run's logs)
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("market-maker collect: ") and TIMESTAMP in last


# -- the key's IP whitelist -----------------------------------------------------------------


@pytest.fixture
def key_server() -> Iterator[FakeKuCoin]:
    """On the wall clock, so that signed timestamps are within 5 s of server time."""
    with FakeKuCoin() as fake:
        yield fake


def use_key(monkeypatch: pytest.MonkeyPatch, server: FakeKuCoin, key: ApiKey) -> None:
    server.add_key(key)
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__NAME", "kucoin")
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__BASE_URL", server.url)
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__API_KEY", key.key)
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__API_SECRET", key.secret)
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__API_PASSPHRASE", key.passphrase)


OPEN_KEY = ApiKey("open-key", "open-secret-0123456789", "open-passphrase", ip_whitelist="")


def test_a_key_without_an_ip_whitelist_is_refused(
    key_server: FakeKuCoin, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_key(monkeypatch, key_server, OPEN_KEY)

    with pytest.raises(UnsafeAPIKeyError, match="no IP whitelist"):
        build_exchange(load_settings())
    assert key_server.paths() == [TIMESTAMP, API_KEY]  # nothing else is called


def test_the_command_line_refuses_a_key_without_a_whitelist_in_one_line(
    key_server: FakeKuCoin,
    data_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., Run],
) -> None:
    use_key(monkeypatch, key_server, OPEN_KEY)

    run = collect(cli)

    line = assert_one_line_failure(run, "collect")
    assert "no IP whitelist" in line and "allow_no_ip_whitelist" in line
    assert OPEN_KEY.secret not in run.err and OPEN_KEY.passphrase not in run.err
    assert CANDLES not in key_server.paths()


def test_a_key_without_a_whitelist_passes_when_the_configuration_accepts_the_risk(
    key_server: FakeKuCoin, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_key(monkeypatch, key_server, OPEN_KEY)
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__ALLOW_NO_IP_WHITELIST", "true")

    assert isinstance(build_exchange(load_settings()), KuCoinExchange)


def test_a_key_with_a_whitelist_passes(
    key_server: FakeKuCoin, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_key(monkeypatch, key_server, ApiKey("fenced", "fenced-secret", "fenced-pass"))

    assert isinstance(build_exchange(load_settings()), KuCoinExchange)
    assert key_server.paths() == [TIMESTAMP, API_KEY]
