"""End to end: the backfill command against a fake KuCoin over real HTTP, faults included.

The configuration points at the fake server through the environment, the data
repository is fresh, and the CLI runs in-process under Prefect's test harness.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from git import Repo

from cli.main import main
from market_maker.base.candles import Interval
from market_maker.base.timeutil import hours_between
from market_maker.snapshots import SnapshotReader
from tests.exchange.kucoin_server import FakeKuCoin, Fault

NOW = datetime(2023, 8, 25, 12, 0, 30, tzinfo=UTC)
START, END = datetime(2023, 7, 12, 0, tzinfo=UTC), datetime(2023, 7, 12, 7, tzinfo=UTC)
SYMBOL = "ETH-USDT"
SCALE = 100


@pytest.fixture
def server(data_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKuCoin]:
    with FakeKuCoin(now=NOW) as fake:
        monkeypatch.setenv("MARKET_MAKER_EXCHANGE__NAME", "kucoin")
        monkeypatch.setenv("MARKET_MAKER_EXCHANGE__BASE_URL", fake.url)
        yield fake


def backfill(start: datetime = START, end: datetime = END) -> int:
    iso = "%Y-%m-%dT%H:%M:%SZ"
    args = ["backfill", "--symbol", SYMBOL, "--start", start.strftime(iso)]
    return main([*args, "--end", end.strftime(iso)])


def reader(data_env: dict[str, str]) -> SnapshotReader:
    return SnapshotReader(Path(data_env["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"]))


def test_backfill_through_rate_limits_and_server_errors_writes_every_hour_from_kucoin(
    server: FakeKuCoin, data_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # One fault per call, each costing a real 1 s backoff.
    server.inject(Fault.rate_limited(reset_ms=50), path="/api/v1/market/candles")
    server.inject(Fault.server_error(503), path="/api/v1/timestamp")

    assert backfill() == 0
    assert "8 written, 0 already valid, 0 missing at the source" in capsys.readouterr().out

    assert server.pending_faults == 0
    assert sorted(r.status for r in server.log if r.fault) == [429, 503]
    assert not any(r.path.startswith(("/api/v1/accounts", "/api/v1/user")) for r in server.log)
    minutes = server.series(Interval.MINUTE)
    store = reader(data_env)
    for hour in hours_between(START, END):
        snapshot = store.load_snapshot(SYMBOL, hour)
        assert snapshot.source == "kucoin" and snapshot.price_scale == SCALE
        want = minutes.between(hour, hour + timedelta(hours=1))
        assert [r.t for r in snapshot.minutes] == want.times()
        prices = {"o": want.open, "h": want.high, "l": want.low, "c": want.close}
        for field, column in prices.items():
            assert [getattr(r, field) for r in snapshot.minutes] == np.rint(column * SCALE).tolist()
        np.testing.assert_allclose([r.v for r in snapshot.minutes], want.volume, rtol=0, atol=1e-8)
        assert snapshot.candles_1h[-1].t == hour

    remote = Repo(data_env["MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL"])
    assert remote.head.commit.message.startswith(f"backfill: {SYMBOL} 2023-07-12T00:00:00Z")


def test_an_hour_with_minutes_missing_at_kucoin_is_reported_and_not_written(
    server: FakeKuCoin, data_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    gap = datetime(2023, 7, 12, 2, 41, tzinfo=UTC)
    server.remove_minutes([gap])

    assert backfill(START, START + timedelta(hours=3)) == 0
    out = capsys.readouterr().out
    assert "3 written, 0 already valid, 1 missing at the source" in out
    assert "missing at the source: 2023-07-12T02:00:00Z" in out
    store = reader(data_env)
    assert store.stored_hours(SYMBOL) == [
        START,
        START + timedelta(hours=1),
        START + timedelta(hours=3),
    ]
