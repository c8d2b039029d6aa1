"""Every wait is bounded: a remote that never answers, an exchange that never answers, a flow
past its time limit. Real sockets on 127.0.0.1, real Git, real writer processes."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from git import Repo

from flows.backfill import backfill
from local_prefect.serve import PREFECT_YAML, flow_timeout_of, read_deployment_configs
from market_maker.base.errors import StoreError
from market_maker.store import GitDataStore
from tests.exchange.kucoin_server import FakeKuCoin, Fault
from tests.reliability.writers import PROJECT_ROOT, run, zygote

HOUR = timedelta(hours=1)


class SilentRemote(str):
    """A Git remote URL whose server accepts connections and never says a word; ``held``
    holds the connections it accepted."""

    held: list[socket.socket]


@pytest.fixture
def silent_remote() -> Iterator[SilentRemote]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    url = SilentRemote(f"http://127.0.0.1:{server.getsockname()[1]}/data.git")
    url.held = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                url.held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield url
    stop.set()
    thread.join()
    for connection in url.held:
        connection.close()
    server.close()


def test_a_first_clone_from_a_remote_that_never_answers_fails_in_one_line_writing_nothing(
    tmp_path: Path, silent_remote: SilentRemote
) -> None:
    with pytest.raises(StoreError) as failed:
        GitDataStore(tmp_path / "repo", remote_url=silent_remote, network_timeout=1.5)

    assert "\n" not in str(failed.value)
    assert "cannot be reached" in str(failed.value) and "no answer within 1.5 s" in str(
        failed.value
    )
    assert not (tmp_path / "repo").exists()


def test_a_first_run_whose_remote_never_answers_exits_non_zero_in_one_line(
    writer_env: dict[str, str], tmp_path: Path, silent_remote: SilentRemote
) -> None:
    env = {
        **writer_env,
        "MARKET_MAKER_DATA_REPOSITORY__BASE_PATH": str(tmp_path / "repo"),
        "MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL": silent_remote,
        "MARKET_MAKER_DATA_REPOSITORY__NETWORK_TIMEOUT_SECONDS": "1.5",
    }
    ended = run(env, ["grid", "list"])

    assert ended.code == 1
    (line,) = ended.err.strip().splitlines()
    assert line.startswith("market-maker grid: the data repository's remote ")
    assert "cannot be reached" in line and "nothing was written" in line
    assert not (tmp_path / "repo").exists()


def cloned(path: Path, remote: Path, silent_remote: str) -> None:
    """A working copy cloned while its remote answered, that remote now silent."""
    GitDataStore(path, remote_url=str(remote))
    Repo(path).remotes.origin.set_url(silent_remote)


def test_git_against_a_remote_that_never_answers_gives_up_after_the_network_timeout(
    tmp_path: Path, silent_remote: SilentRemote, bare_remote: Path
) -> None:
    cloned(tmp_path / "repo", bare_remote, silent_remote)
    started = time.monotonic()
    store = GitDataStore(tmp_path / "repo", remote_url=silent_remote, network_timeout=1.5)
    (tmp_path / "repo" / "a.txt").write_text("a\n")
    store.commit("a", [tmp_path / "repo" / "a.txt"])

    synced = store.sync()
    pushed = store.push()

    assert synced is False
    assert not pushed.pushed and "no answer within 1.5 s" in pushed.detail
    assert store.unpushed_count() == 1  # the commit waits for the next run
    assert time.monotonic() - started < 15  # open, fetch, push: about 1.5 s each


def test_a_backfill_whose_remote_never_answers_asks_it_once_and_says_what_stays_local(
    data_env: dict[str, str],
    bare_remote: Path,
    silent_remote: SilentRemote,
    prefect_api_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cloned(Path(data_env["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"]), bare_remote, silent_remote)
    monkeypatch.setenv("MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL", silent_remote)
    monkeypatch.setenv("MARKET_MAKER_DATA_REPOSITORY__NETWORK_TIMEOUT_SECONDS", "1.5")
    start = datetime(2023, 8, 10, tzinfo=UTC)

    # Three chunks, each fetching before and pushing after its commit.
    result = backfill(symbol="ETH-USDT", start=start, end=start + 2 * HOUR, chunk_hours=1)

    assert result.written == 3 and len(result.commits) == 3
    assert "no answer within 1.5 s" in caplog.text
    assert "it is not asked again in this run" in caplog.text
    assert len(silent_remote.held) == 1  # the first fetch only: no chunk waited again
    assert result.unpushed == 3
    assert result.summary_line().endswith(
        "3 commit(s), 3 commit(s) stay local (unpushed: the next run pushes them)"
    )
    repo = Repo(data_env["MARKET_MAKER_DATA_REPOSITORY__BASE_PATH"])
    assert repo.head.commit.hexsha == result.commits[-1]


def test_a_flow_past_its_time_limit_fails_in_one_line_and_releases_the_repository(
    writer_env: dict[str, str], tmp_path: Path
) -> None:
    Repo.init(tmp_path / "remote.git", bare=True, initial_branch="main")
    data = {
        "MARKET_MAKER_DATA_REPOSITORY__BASE_PATH": str(tmp_path / "repo"),
        "MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL": str(tmp_path / "remote.git"),
    }
    argv = ["backfill", "--symbol", "ETH-USDT", "--start", "2023-07-12T00:00Z"]
    argv += ["--end", "2023-07-12T02:00Z"]
    with FakeKuCoin(now=datetime(2023, 8, 25, 12, tzinfo=UTC)) as exchange:
        # The exchange's clock never answers within the run's time limit (3 s), while the
        # client would wait 60 s: the run holds the repository when its time is up.
        exchange.inject(Fault.slow(30), path="/api/v1/timestamp")
        env = {
            **writer_env,
            **data,
            "MARKET_MAKER_FLOW_TIMEOUT_SECONDS": "3",  # read when the flow module loads
            "MARKET_MAKER_EXCHANGE__NAME": "kucoin",
            "MARKET_MAKER_EXCHANGE__BASE_URL": exchange.url,
            "MARKET_MAKER_EXCHANGE__TIMEOUT_SECONDS": "60",
        }
        with zygote(env, tmp_path / "writers") as forks:  # the limit is read at import
            ended = forks.start(argv).wait(timeout=60)

        assert ended.code == 1
        assert ended.seconds < 20
        last = ended.err.strip().splitlines()[-1]
        assert last.startswith("market-maker backfill: ") and "timeout" in last.lower()
        assert "Traceback" not in ended.err
        # Nothing left held: the next writer takes the repository at once.
        after = run(
            {**writer_env, **data},
            [
                "backfill",
                "--symbol",
                "ETH-USDT",
                "--start",
                "2023-07-12T00:00Z",
                "--end",
                "2023-07-12T00:00Z",
            ],
        )
        assert after.code == 0, after.err
        assert "releasing it" not in after.err and "waiting" not in after.err


def test_every_deployment_sets_its_flows_time_limit_and_the_flow_applies_it(
    writer_env: dict[str, str],
) -> None:
    configs = read_deployment_configs(PREFECT_YAML)
    limits = {c["name"]: flow_timeout_of(c) for c in configs}
    assert all(limit and limit > 0 for limit in limits.values()), limits
    raw = yaml.safe_load(PREFECT_YAML.read_text())
    assert {d["name"] for d in raw["deployments"]} == set(limits)
    # In the pod the variable comes from the job variables; the flow reads it at import.
    for config in configs:
        path, name = config["entrypoint"].split(":")
        module = path.removesuffix(".py").replace("/", ".")
        code = f"import {module} as m; print(m.{name}.timeout_seconds)"
        env = {**writer_env, "MARKET_MAKER_FLOW_TIMEOUT_SECONDS": str(limits[config["name"]])}
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
        )
        assert float(out.stdout.strip()) == limits[config["name"]], out.stderr
