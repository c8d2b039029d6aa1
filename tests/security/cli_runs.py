"""The leak test's runs: every command of the CLI as a ``market-maker`` subprocess.

Each sequence of runs has its data repository and its Prefect home in a workspace of its
own; every secret is set in its environment, at DEBUG with JSON logs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from git import Repo

from market_maker.config.settings import env_var_for
from tests.alerts.pushover_server import FakePushover
from tests.conftest import PROJECT_ROOT, SAMPLE_FILE
from tests.exchange.kucoin_server import FakeKuCoin
from tests.grid_files import grid_data
from tests.security.leak_search import Secrets

SYMBOL = "ETH-USDT"
RUN_TIMEOUT = 240


@dataclass(frozen=True)
class Step:
    """One ``market-maker`` run; ``expect`` None means any non-zero exit."""

    label: str
    args: list[str]
    env: dict[str, str] = field(repr=False)  # secrets: kept out of assertion messages
    expect: int | None = 0

    @property
    def command(self) -> str:
        return next(a for a in self.args if not a.startswith("-") and a != self.config_arg)

    @property
    def config_arg(self) -> str | None:
        return self.args[self.args.index("--config") + 1] if "--config" in self.args else None

    @property
    def debug(self) -> bool:
        return "--debug" in self.args


@dataclass(frozen=True)
class Run:
    step: Step
    returncode: int
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)
    seconds: float = 0.0


def run(step: Step) -> Run:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", *step.args],
        cwd=PROJECT_ROOT,
        env=step.env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    return Run(step, done.returncode, done.stdout, done.stderr, time.perf_counter() - started)


def run_sequence(steps: list[Step]) -> list[Run]:
    return [run(step) for step in steps]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def hour(text: str) -> str:
    """``07-12T05`` -> 2023-07-12T05:00:00Z."""
    return f"2023-{text}:00:00Z"


@dataclass
class Workspace:
    base: Path  # everything the runs write; scanned whole
    inputs: Path  # files the test hands the CLI (a config file with a secret): not scanned
    secrets: Secrets
    kucoin: FakeKuCoin
    pushover: FakePushover
    # Until the Prefect server is up: a closed port, so that a command that needed it fails.
    api_url: str = field(default_factory=lambda: f"http://127.0.0.1:{closed_port()}/api")
    runs: list[Run] = field(default_factory=list)

    def repo(self, name: str) -> Path:
        return self.base / name / "data-repo"

    def remote(self, name: str) -> Path:
        path = self.base / name / "remote.git"
        if not path.exists():
            Repo.init(path, bare=True, initial_branch="main")
        return path

    def env(self, name: str, *, keys: bool = True, **changes: str | None) -> dict[str, str]:
        """A subprocess environment: DEBUG, JSON logs, its own data repository ``name``;
        with ``keys`` every secret set; ``changes`` (None unsets) on top."""
        own = ("MARKET_MAKER_", "PREFECT_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
        home = self.base / "prefect-home" / name
        home.mkdir(parents=True, exist_ok=True)
        env |= {
            "PREFECT_API_URL": self.api_url,
            "PREFECT_HOME": str(home),
            "PREFECT_LOGGING_LEVEL": "DEBUG",
            # Prefect's logging.yml override of root.level: every library's DEBUG lines too.
            "PREFECT_LOGGING_ROOT_LEVEL": "DEBUG",
            "PREFECT_LOGGING_INTERNAL_LEVEL": "DEBUG",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "MARKET_MAKER_LOGGING__LEVEL": "DEBUG",
            "MARKET_MAKER_LOGGING__FORMAT": "json",
            "MARKET_MAKER_DATA_REPOSITORY__BASE_PATH": str(self.repo(name)),
            "MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL": str(self.remote(name)),
            # The workspaces' writers share one Prefect server, hence one repository slot:
            # a long step (maintenance packs and rebuilds) may hold it a while under load.
            "MARKET_MAKER_DATA_REPOSITORY__LOCK_TIMEOUT_SECONDS": "600",
            "MARKET_MAKER_EXCHANGE__NAME": "kucoin",
            "MARKET_MAKER_EXCHANGE__BASE_URL": self.kucoin.url,
            "MARKET_MAKER_EXCHANGE__RETRY_ATTEMPTS": "1",
            "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__API_URL": self.pushover.messages_url,
        }
        if keys:
            s = self.secrets
            env |= {
                env_var_for("exchange.api_key"): s.api_key,
                env_var_for("exchange.api_secret"): s.api_secret,
                env_var_for("exchange.api_passphrase"): s.api_passphrase,
                env_var_for("notifications.pushover.token"): s.pushover_token,
                env_var_for("notifications.pushover.user_key"): s.pushover_user,
                env_var_for("notifications.webhook_url"): s.webhook_url(self.pushover),
            }
        for key, value in changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env


SYM = ["--symbol", SYMBOL]


def without_server(ws: Workspace) -> dict[str, list[Step]]:
    """Commands that run no flow (they never call the Prefect server): these start while the
    server does. Each sequence has its own data repository."""
    grid_file = ws.inputs / "eth-grid-1.yaml"
    grid_file.write_text(yaml.safe_dump(grid_data()))
    grid = ws.env("grid")
    sample = str(SAMPLE_FILE)
    two_weeks = ["--start", hour("07-01T00"), "--end", hour("07-14T00")]
    return {
        "grid": [
            Step("grid add", ["grid", "add", str(grid_file)], grid),
            Step("grid list", ["grid", "list", "--at", hour("08-17T18")], grid),
        ],
        "config": [
            Step("config show", ["config", "show"], ws.env("config")),
            Step("server status", ["server", "status"], ws.env("config")),
        ],
        "report": [
            Step(
                "regime-report",
                ["regime-report", "--data-file", sample, *two_weeks],
                ws.env("report"),
            )
        ],
        "study": [
            Step("exit-study", ["exit-study", "--data-file", sample, *two_weeks], ws.env("study")),
            # The full study needs the two-year recording and ten minutes: its refusal of an
            # output folder that does not exist, before any run, is what runs here.
            Step(
                "exit-signal-study",
                ["exit-signal-study", "--data-file", sample, "--out", str(ws.base / "no" / "x.md")],
                ws.env("study"),
                expect=None,
            ),
            # The strategy study likewise: its refusal of a missing data folder, before any run.
            Step(
                "strategy-study",
                ["strategy-study", "--data-dir", str(ws.base / "no-data"), "--out", "x.md"],
                ws.env("study"),
                expect=2,
            ),
        ],
        "malformed": [
            Step(
                "malformed symbol",
                ["run-hourly", "--symbol", "eth/usdt", "--hour", hour("08-17T21")],
                ws.env("malformed"),
                expect=2,
            )
        ],
    }


def with_server(ws: Workspace) -> dict[str, list[Step]]:
    """The flows, failing ones included; "grid" goes on from where ``without_server`` left it."""
    s = ws.secrets
    secret_config = ws.inputs / "overlay.yaml"
    secret_config.write_text(
        yaml.safe_dump({"exchange": {"timeout_seconds": 5, "api_secret": s.file_secret}})
    )
    closed = f"127.0.0.1:{closed_port()}"
    grid, snapshots, collected = ws.env("grid"), ws.env("snapshots"), ws.env("collected")
    return {
        "grid": [  # the grid's life, with alerts: the price leaves its range on 17 August
            Step(
                "run-hourly range",
                ["run-hourly", *SYM, "--start", hour("08-17T18"), "--end", hour("08-17T21")],
                grid,
            ),
            Step("evaluate-exit", ["evaluate-exit", *SYM, "--hour", hour("08-17T21")], grid),
            Step(
                "grid disable",
                [
                    *["grid", "disable", "--id", "eth-grid-1", "--at", hour("08-18T00")],
                    *["--reason", "leak test", "--decision", "dec-ETH-USDT-20230817-210000"],
                ],
                grid,
            ),
            Step(
                "grid enable, unknown decision",
                [
                    *["grid", "enable", "--id", "eth-grid-1", "--at", hour("08-18T01")],
                    *["--decision", "dec-ETH-USDT-20230101-000000"],
                ],
                grid,
                expect=None,
            ),
            Step(
                "grid enable",
                ["grid", "enable", "--id", "eth-grid-1", "--at", hour("08-18T02")],
                grid,
            ),
            Step(
                "decision act",
                [
                    *["decision", "act", "--id", "dec-ETH-USDT-20230817-220000"],
                    *["--action", "ignored", "--at", hour("08-18T03"), "--note", "leak test"],
                ],
                grid,
            ),
            Step("kpi", ["kpi", "--date", "2023-08-17"], grid),
            Step("kpi json", ["kpi", "--date", "2023-08-17", "--format", "json"], grid),
            Step(
                "dashboard",
                ["dashboard", "--out", str(ws.base / "grid" / "page"), "--date", "2023-08-17"],
                grid,
            ),
        ],
        "snapshots": [  # written, validated, analysed, queried
            Step(
                "backfill",
                ["backfill", *SYM, "--start", hour("07-12T00"), "--end", hour("07-12T05")],
                snapshots,
            ),
            Step("validate", ["validate", *SYM], snapshots),
            Step(
                "analyze range",
                ["analyze", *SYM, "--start", hour("07-12T03"), "--end", hour("07-12T05")],
                snapshots,
            ),
            Step("regimes", ["regimes", *SYM, "--format", "json"], snapshots),
            Step("setup", ["setup", *SYM, "--hour", hour("07-12T05")], snapshots),
            # Packs the month (one commit, pushed), rebuilds the caches, reports sizes.
            Step("maintenance", ["maintenance", "--pack-after-months", "1"], snapshots),
            Step(
                "backtest",
                [
                    *["backtest", "--start", hour("07-10T00"), "--end", hour("07-13T00")],
                    *["--cadence-hours", "24", "--data-file", str(SAMPLE_FILE)],
                ],
                snapshots,
            ),
            Step(
                "backtest-sweep",
                [
                    *["backtest-sweep", "--start", hour("07-10T00"), "--end", hour("07-13T00")],
                    *["--split", hour("07-11T12"), "--vary", "half_width_pct=3,5"],
                    *["--data-file", str(SAMPLE_FILE)],
                ],
                snapshots,
            ),
        ],
        "collected": [  # one hour collected, then analysed
            Step("collect", ["collect", *SYM, "--hour", hour("07-12T06")], collected),
            Step("analyze hour", ["analyze", *SYM, "--hour", hour("07-12T06")], collected),
        ],
        # -- failures ----------------------------------------------------------------------
        "incomplete-key": [
            Step(
                "incomplete exchange key",
                ["collect", *SYM, "--hour", hour("07-12T06")],
                ws.env(
                    "incomplete-key", keys=False, **{env_var_for("exchange.api_key"): s.api_key}
                ),
                expect=2,
            )
        ],
        "pushover-half": [
            Step(
                "pushover token without user key",
                ["validate", *SYM],
                ws.env("pushover-half", **{env_var_for("notifications.pushover.user_key"): None}),
                expect=2,
            )
        ],
        "config-secret": [
            Step(
                "secret in a config file",
                ["--config", str(secret_config), "analyze", *SYM, "--hour", hour("07-12T06")],
                ws.env("config-secret"),
                expect=2,
            )
        ],
        "unreachable": [
            Step(
                "exchange unreachable",
                ["collect", *SYM, "--hour", hour("07-12T06")],
                ws.env("unreachable", MARKET_MAKER_EXCHANGE__BASE_URL=f"http://{closed}"),
                expect=1,
            )
        ],
        "unreachable-debug": [
            Step(
                "exchange unreachable, --debug",
                [
                    *["--debug", "backfill", *SYM],
                    *["--start", hour("07-12T00"), "--end", hour("07-12T01")],
                ],
                ws.env("unreachable-debug", MARKET_MAKER_EXCHANGE__BASE_URL=f"http://{closed}"),
                expect=1,
            )
        ],
        "rejected": [
            Step(
                "key rejected by the exchange",
                ["collect", *SYM, "--hour", hour("07-12T06")],
                ws.env("rejected", **{env_var_for("exchange.api_secret"): s.wrong_secret}),
                expect=None,
            )
        ],
        "unconfigured": [
            Step(
                "symbol not configured",
                ["evaluate-exit", "--symbol", "BTC-USDT", "--hour", hour("08-17T21")],
                ws.env("unconfigured"),
                expect=2,
            )
        ],
        "remote-password": [
            Step(  # unreachable, with no working copy yet: one line, nothing written
                "remote with a password, unreachable",
                ["validate", *SYM],
                ws.env(
                    "remote-password",
                    MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL=(
                        f"http://git:{s.remote_password}@{closed}/data.git"
                    ),
                ),
                expect=1,
            )
        ],
    }
