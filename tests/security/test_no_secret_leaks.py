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

The runs are in ``cli_runs.py``; the secrets and the search for them in ``leak_search.py``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from prefect.settings import PREFECT_API_URL

from market_maker.config.settings import SECRET_FIELDS
from tests.alerts.pushover_server import FakePushover
from tests.conftest import PROJECT_ROOT
from tests.exchange.kucoin_server import ApiKey, FakeKuCoin
from tests.security.cli_runs import Run, Workspace, run_sequence, with_server, without_server
from tests.security.leak_search import (
    Secrets,
    api_records,
    database_files,
    files_under,
    git_dirs,
    git_output,
    leaks_in,
)

# Every test reads the one workspace of the module: on one test worker it is built once.
pytestmark = pytest.mark.xdist_group("secret-leaks")

# The fake exchange's clock: after every hour the runs work on.
NOW = datetime(2023, 8, 25, 12, 0, 30, tzinfo=UTC)
WORKERS = 3
# Console lines of Prefect's text format ("12:00:00.123 | DEBUG | name - message").
PREFECT_TEXT_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} \| ")


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
