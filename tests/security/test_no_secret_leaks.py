"""Secrets never appear anywhere: every CLI command, at DEBUG with JSON logs, leaves no trace.

Distinctive secret values (each holding ``MARKER``) are set in the environment of
``market-maker`` subprocesses that run every command of the CLI, failing runs
included, against stand-ins over real HTTP: a fake KuCoin that checks the signed
key before anything is collected, and a fake Pushover with a webhook. Then the
console output of every run, the data repositories (working copies with
``.git``, bare remotes, every object decompressed), the Prefect home, the Prefect
server's database and what its API serves, and anything under ``var/`` are
searched for every secret in its raw, URL-encoded, base64 and hex forms, what is
compressed or base64-encoded decoded first.

Runs with data repositories of their own go in parallel; the commands that run no
flow start while the Prefect test harness does (about 12 s), with a closed port as
their ``PREFECT_API_URL`` so that one needing the server would fail, not go unseen.

``demo`` is not run: it backfills the whole recorded sample (minutes of work)
through the same flows as ``backfill``, ``collect`` and ``validate``, which are.
"""

from __future__ import annotations

import base64
import gzip
import json
import lzma
import os
import re
import secrets
import socket
import string
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, quote_plus, urlsplit

import httpx
import pytest
import yaml
from git import Repo
from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL, PREFECT_API_URL

from market_maker.config.settings import SECRET_FIELDS, env_var_for
from tests.alerts.pushover_server import FakePushover
from tests.conftest import PROJECT_ROOT, SAMPLE_FILE
from tests.exchange.kucoin_server import ApiKey, FakeKuCoin, _hmac
from tests.grid_files import grid_data

# In every secret value: found anywhere, even in part, it is a leak. Random per test run, so
# that nothing another run left (in var/, say) is mistaken for one.
MARKER = "LEAKCANARY" + "".join(secrets.choice(string.ascii_uppercase) for _ in range(5))
SYMBOL = "ETH-USDT"
# The fake exchange's clock: after every hour the runs work on.
NOW = datetime(2023, 8, 25, 12, 0, 30, tzinfo=UTC)
RUN_TIMEOUT = 240
WORKERS = 3
# Console lines of Prefect's text format ("12:00:00.123 | DEBUG | name - message").
PREFECT_TEXT_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} \| ")
BASE64_RUN = re.compile(rb"[A-Za-z0-9+/_-]{24,}={0,2}")  # either alphabet


def canary(label: str, length: int = 30, extra: str = "") -> str:
    """``MARKER`` + label + random letters and digits (+ ``extra``), ``length`` long."""
    alphabet = string.ascii_letters + string.digits
    head = MARKER + label
    return head + "".join(secrets.choice(alphabet) for _ in range(length - len(head))) + extra


@dataclass(frozen=True)
class Secrets:
    api_key: str = field(default_factory=lambda: canary("key"))
    api_secret: str = field(default_factory=lambda: canary("sec", 36))
    # Characters URL encoding changes, to make its forms differ from the raw value.
    api_passphrase: str = field(default_factory=lambda: canary("pass", 24, extra="+/ &=%"))
    pushover_token: str = field(default_factory=lambda: canary("tok"))  # Pushover: 30 [A-Za-z0-9]
    pushover_user: str = field(default_factory=lambda: canary("usr"))
    webhook_token: str = field(default_factory=lambda: canary("hook"))
    webhook_password: str = field(default_factory=lambda: canary("hookpw"))
    remote_password: str = field(default_factory=lambda: canary("remotepw"))
    # Values that only ever sit in a refused config file, or are a key KuCoin rejects.
    file_secret: str = field(default_factory=lambda: canary("file"))
    wrong_secret: str = field(default_factory=lambda: canary("wrong", 36))

    def webhook_url(self, pushover: FakePushover) -> str:
        parts = urlsplit(pushover.webhook_url)
        return (
            f"{parts.scheme}://hook:{self.webhook_password}@{parts.netloc}{parts.path}"
            f"?channel=alerts&token={self.webhook_token}"
        )

    def signed_passphrase(self) -> str:
        """What KuCoin receives instead of the passphrase (key version 3): as good as it."""
        return _hmac(self.api_secret, self.api_passphrase)

    def needles(self, pushover: FakePushover) -> dict[bytes, str]:
        """Every byte string whose presence is a leak, with what it is."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values["webhook_url"] = self.webhook_url(pushover)
        values["signed passphrase"] = self.signed_passphrase()
        values["marker"] = MARKER
        found: dict[bytes, str] = {}
        for name, value in values.items():
            for form, needle in encodings(value).items():
                found.setdefault(needle, f"{name} ({form})")
        return found


def encodings(value: str) -> dict[str, bytes]:
    """``value`` raw, URL-encoded, hex, and base64 at each of the three alignments."""
    raw = value.encode()
    forms = {
        "raw": raw,
        "url-encoded": quote(value, safe="").encode(),
        "form-encoded": quote_plus(value).encode(),
        "url-encoded, lower-case hex": re.sub(
            "%[0-9A-F]{2}", lambda m: m.group().lower(), quote(value, safe="")
        ).encode(),
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
    }
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw)
        # Only the characters that depend on the value alone, wherever it starts.
        core = encoded[-(-shift * 8 // 6) : (shift + len(raw)) * 8 // 6]
        forms[f"base64, offset {shift}"] = core
        forms[f"url-safe base64, offset {shift}"] = core.translate(bytes.maketrans(b"+/", b"-_"))
    return forms


def expanded(data: bytes, depth: int = 0) -> Iterator[bytes]:
    """``data`` and whatever it holds compressed or base64-encoded, decoded (a few levels)."""
    yield data
    if depth >= 3 or not data:
        return
    decoders = []
    if data[:2] == b"\x1f\x8b":
        decoders.append(gzip.decompress)
    if data[:1] == b"\x78":
        decoders.append(zlib.decompress)
    if data[:6] == b"\xfd7zXZ\x00":
        decoders.append(lzma.decompress)
    for decode in decoders:
        try:
            yield from expanded(decode(data), depth + 1)
        except Exception:
            continue
    for match in BASE64_RUN.finditer(data):
        chunk = match.group().rstrip(b"=")
        try:
            decoded = base64.b64decode(chunk + b"=" * (-len(chunk) % 4), altchars=b"-_")
        except ValueError:  # not base64 after all
            continue
        yield from expanded(decoded, depth + 1)


def leaks_in(data: bytes, needles: dict[bytes, str]) -> list[str]:
    hits = set()
    for chunk in expanded(data):
        hits |= {what for needle, what in needles.items() if needle in chunk}
    return sorted(hits)


# -- the runs ----------------------------------------------------------------------------


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
            Step(  # the remote is unreachable: the run goes on locally, and succeeds
                "remote with a password, unreachable",
                ["validate", *SYM],
                ws.env(
                    "remote-password",
                    MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL=(
                        f"http://git:{s.remote_password}@{closed}/data.git"
                    ),
                ),
            )
        ],
    }


@pytest.fixture(scope="module")
def ws(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Workspace]:
    s = Secrets()
    key = ApiKey(s.api_key, s.api_secret, s.api_passphrase)
    with FakeKuCoin(now=NOW, keys=[key]) as kucoin, FakePushover() as pushover:
        workspace = Workspace(
            tmp_path_factory.mktemp("runs"), tmp_path_factory.mktemp("inputs"), s, kucoin, pushover
        )
        with ThreadPoolExecutor(WORKERS) as pool:
            early = {
                name: pool.submit(run_sequence, steps)
                for name, steps in without_server(workspace).items()
            }
            request.getfixturevalue("prefect_server")  # starts the server meanwhile
            workspace.api_url = str(PREFECT_API_URL.value())
            late = with_server(workspace)
            grid_rest = late.pop("grid")
            # The grid's flows need the grid added first.
            grid = pool.submit(lambda: early["grid"].result() + run_sequence(grid_rest))
            rest = [pool.submit(run_sequence, steps) for steps in late.values()]
            for name, future in early.items():
                if name != "grid":
                    workspace.runs.extend(future.result())
            for future in [grid, *rest]:
                workspace.runs.extend(future.result())
        yield workspace


# -- where to look -----------------------------------------------------------------------


def files_under(root: Path) -> Iterator[Path]:
    if root.is_dir():
        yield from (p for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink())


def git_dirs(root: Path) -> list[Path]:
    """Every repository under ``root``: working copies (their .git) and bare ones."""
    found = {p.parent for p in root.rglob("HEAD") if (p.parent / "objects").is_dir()}
    return sorted(found)


def git_output(git_dir: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), *args], capture_output=True, check=True
    ).stdout


def database_files() -> list[Path]:
    """The harness's SQLite database and what lies beside it (-wal, -shm, -journal)."""
    url = str(PREFECT_API_DATABASE_CONNECTION_URL.value())
    assert url.startswith("sqlite"), url
    path = Path(url.split(":///", 1)[1])
    return sorted(path.parent.glob(f"{path.name}*"))


def api_records() -> Iterator[tuple[str, bytes]]:
    """Everything the Prefect server serves about the runs: logs, runs, artifacts, events."""
    with httpx.Client(base_url=str(PREFECT_API_URL.value()), timeout=30) as client:
        for kind in (
            "logs",
            "flow_runs",
            "task_runs",
            "artifacts",
            "variables",
            "block_documents",
            "deployments",
            "flows",
        ):
            offset = 0
            while True:
                reply = client.post(f"/{kind}/filter", json={"limit": 200, "offset": offset})
                reply.raise_for_status()
                page = reply.json()
                yield f"API /{kind} (offset {offset})", reply.content
                if len(page) < 200:
                    break
                offset += 200
        reply = client.post("/events/filter", json={"limit": 50})
        while reply.status_code == 200:
            yield "API /events", reply.content
            next_page = reply.json().get("next_page")
            if not next_page:
                break
            reply = client.get(next_page)


# -- the tests ---------------------------------------------------------------------------


def describe(r: Run) -> str:
    tail = "\n".join(r.stderr.strip().splitlines()[-5:])
    return f"{r.step.label}: exit {r.returncode}\nstdout: {r.stdout[-500:]}\nstderr tail: {tail}"


def test_every_command_of_the_cli_is_run(ws: Workspace) -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "cli.main", "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    listed = set(re.findall(r"^ {4}([a-z][a-z-]+)", help_text, re.MULTILINE))
    run_commands = {r.step.command for r in ws.runs} | {"demo"}  # demo: see the docstring
    assert listed and listed <= run_commands, listed - run_commands
    grid = [r.step.args for r in ws.runs if r.step.command == "grid"]
    assert {args[args.index("grid") + 1] for args in grid} == {"add", "list", "enable", "disable"}


def test_every_run_exits_as_expected(ws: Workspace) -> None:
    for r in ws.runs:
        if r.step.expect is None:
            assert r.returncode != 0, describe(r)
        else:
            assert r.returncode == r.step.expect, describe(r)


def without_log_records(stderr: str) -> list[str]:
    """The lines of ``stderr`` that are not log records: at DEBUG, records (JSON lines, or
    Prefect's text lines before the settings are read, with the lines that continue them)
    come before the CLI's message and after it (handlers flushing at exit)."""
    kept, in_record = [], False
    for line in stderr.splitlines():
        if line.startswith("market-maker "):
            kept.append(line)
            in_record = False
        elif line.startswith("{") or PREFECT_TEXT_LINE.match(line):
            in_record = True
        elif not in_record and line.strip():
            kept.append(line)
    return kept


def test_a_failure_is_one_line_naming_the_command(ws: Workspace) -> None:
    failures = [r for r in ws.runs if r.returncode != 0]
    assert len(failures) >= 8
    for r in failures:
        if r.step.debug:
            assert "Traceback (most recent call last)" in r.stderr, describe(r)
            continue
        lines = without_log_records(r.stderr)
        messages = [line for line in lines if line.startswith("market-maker ")]
        assert len(messages) == 1, describe(r)
        assert messages[0].startswith(f"market-maker {r.step.command}: "), describe(r)
        if r.step.label == "malformed symbol":  # argparse: its usage, then the message
            assert lines[0].startswith("usage: market-maker") and lines[-1] == messages[0]
        else:
            assert lines == messages, describe(r)


def test_the_runs_log_at_debug_as_json(ws: Workspace) -> None:
    """What the console scan sees: the project's, Prefect's and libraries' DEBUG records."""
    records = [
        json.loads(line) for r in ws.runs for line in r.stderr.splitlines() if line[:1] == "{"
    ]
    levels = {(rec["name"].split(".")[0], rec["levelname"]) for rec in records}
    # urllib3 logs every request target (the webhook's included), GitPython every command.
    for name in ("market_maker", "prefect", "urllib3", "git"):
        assert (name, "DEBUG") in levels, levels


def test_the_secrets_were_really_used(ws: Workspace) -> None:
    s, kucoin, pushover = ws.secrets, ws.kucoin, ws.pushover
    key_checks = kucoin.requests_to("/api/v1/user/api-key")
    good = [r for r in key_checks if r.status == 200]
    assert good, "the exchange never checked the key"
    for request in good:
        assert request.header("KC-API-KEY") == s.api_key
        assert request.header("KC-API-PASSPHRASE") == s.signed_passphrase()
    assert any(r.status == 401 for r in key_checks), "the wrong key was not refused"
    assert kucoin.requests_to("/api/v1/market/candles"), "nothing was collected from KuCoin"
    for request in kucoin.log:  # the passphrase and the secret never travel in clear
        sent = json.dumps([request.headers, request.query, request.path])
        assert s.api_passphrase not in sent and s.api_secret not in sent
    assert pushover.accepted, "no alert reached Pushover"
    assert all(
        f["token"] == s.pushover_token and f["user"] == s.pushover_user for f in pushover.accepted
    )
    assert pushover.webhook, "no alert reached the webhook"


def test_no_secret_on_the_console(ws: Workspace) -> None:
    needles = ws.secrets.needles(ws.pushover)
    leaks = {}
    for r in ws.runs:
        output = f"{r.stdout}\n{r.stderr}"
        if found := leaks_in(output.encode(), needles):
            # The first line that shows it, to find where it comes from.
            line = next(
                (x for x in output.splitlines() if any(n in x.encode() for n in needles)), ""
            )
            leaks[r.step.label] = (found, line[:600])
    assert not leaks, leaks


def test_no_secret_in_the_data_repositories_or_their_history(ws: Workspace) -> None:
    needles = ws.secrets.needles(ws.pushover)
    repositories = git_dirs(ws.base)
    assert len(repositories) >= 4  # working copies and bare remotes of the sequences
    leaks = {}
    for git_dir in repositories:
        for what, args in (
            ("git log -p --all", ["log", "-p", "--all", "--format=fuller"]),
            ("every object", ["cat-file", "--batch-all-objects", "--batch"]),
            ("reflog", ["reflog", "--all"]),
        ):
            if found := leaks_in(git_output(git_dir, *args), needles):
                leaks[f"{git_dir} ({what})"] = found
    assert not leaks, leaks


def test_no_secret_in_any_file_the_runs_wrote(ws: Workspace) -> None:
    """Data repositories (working copies, .git, bare remotes), the Prefect homes, any var/."""
    needles = ws.secrets.needles(ws.pushover)
    scanned = [*files_under(ws.base), *files_under(PROJECT_ROOT / "var")]
    assert any("prefect-home" in p.parts for p in scanned)
    leaks = {str(p): found for p in scanned if (found := leaks_in(p.read_bytes(), needles))}
    assert not leaks, leaks


def test_no_secret_in_the_prefect_database(ws: Workspace) -> None:
    needles = ws.secrets.needles(ws.pushover)
    records = list(api_records())
    logs = [
        log
        for what, content in records
        if what.startswith("API /logs")
        for log in json.loads(content)
    ]
    sources = {(log["name"].split(".")[0], log["level"]) for log in logs}
    assert ("prefect", 10) in sources, sources  # DEBUG
    assert any(name == "market_maker" for name, _ in sources), sources
    assert any(what == "API /events" for what, _ in records)
    leaks = {what: found for what, content in records if (found := leaks_in(content, needles))}
    time.sleep(1)  # let the server write what it buffers
    files = database_files()
    assert files
    leaks |= {str(p): found for p in files if (found := leaks_in(p.read_bytes(), needles))}
    assert not leaks, leaks


def test_secret_settings_are_the_ones_this_test_sets() -> None:
    assert set(SECRET_FIELDS) == {
        "exchange.api_key",
        "exchange.api_secret",
        "exchange.api_passphrase",
        "notifications.pushover.token",
        "notifications.pushover.user_key",
        "notifications.webhook_url",
    }
