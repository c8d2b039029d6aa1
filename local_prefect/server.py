"""One local Prefect server per ``PREFECT_HOME``, started once and reused by every command.

Prefect's ephemeral mode starts a temporary server for each command (about 13 s on two
cores) and its runs vanish with it. Instead the ``market-maker`` command reuses the server
answering on 127.0.0.1:4200 (``make serve``'s, or one it started earlier in the background),
or starts one there, detached, and leaves it running: the next command takes a few seconds
and every run stays in the UI. ``market-maker server stop`` stops a server it started.

``MARKET_MAKER_PREFECT_SERVER=ephemeral`` keeps Prefect's temporary server per command;
``PREFECT_API_URL`` set in the environment always wins (a shared or remote server).
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from market_maker.base.errors import ConfigurationError

MODE_ENV = "MARKET_MAKER_PREFECT_SERVER"
PORT_ENV = "MARKET_MAKER_PREFECT_SERVER_PORT"
MODES = ("local", "ephemeral")
HOST = "127.0.0.1"
DEFAULT_PORT = 4200
START_TIMEOUT_SECONDS = 120.0
RECORD = "local-server.json"


class ServerRecord(BaseModel):
    """What ``$PREFECT_HOME/local-server.json`` says of a server started in the background."""

    pid: int
    api_url: str
    started_at: datetime
    log_file: str


def prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect")


def api_url(host: str = HOST, port: int | None = None) -> str:
    return f"http://{host}:{port or configured_port()}/api"


def ui_url(url: str) -> str:
    return url.removesuffix("/api")


def configured_port() -> int:
    raw = os.environ.get(PORT_ENV)
    if not raw:
        return DEFAULT_PORT
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigurationError(f"{PORT_ENV} must be a TCP port number, not {raw!r}")
    return int(raw)


def mode() -> str:
    value = os.environ.get(MODE_ENV, "local").strip().lower() or "local"
    if value not in MODES:
        raise ConfigurationError(f"{MODE_ENV} must be one of {', '.join(MODES)}, not {value!r}")
    return value


def server_is_healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_process(host: str, port: int, log_file: Path) -> subprocess.Popen:
    """``prefect server start`` in a session of its own (Ctrl-C in the terminal that started
    it does not reach it), its output appended to ``log_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    prefect = Path(sys.executable).with_name("prefect")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    command = [str(prefect), "server", "start", "--host", host, "--port", str(port)]
    with log_file.open("ab") as log:
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
            close_fds=True,
        )


def wait_until_healthy(url: str, process: subprocess.Popen, log_file: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server_is_healthy(url):
        if process.poll() is not None:
            raise RuntimeError(f"prefect server exited with {process.returncode}; see {log_file}")
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"prefect server did not answer within {START_TIMEOUT_SECONDS:.0f} s; "
                f"see {log_file}"
            )
        time.sleep(0.3)


@contextmanager
def _start_lock(home: Path) -> Iterator[None]:
    """Two commands started at once start one server: the second waits, then reuses it."""
    home.mkdir(parents=True, exist_ok=True)
    with (home / "local-server.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_record(home: Path) -> ServerRecord | None:
    path = home / RECORD
    try:
        return ServerRecord.model_validate_json(path.read_text())
    except (OSError, ValueError):
        return None


def ensure(host: str = HOST, port: int | None = None) -> tuple[str, bool]:
    """The API URL of the local server, and whether this call started it."""
    url = api_url(host, port)
    if server_is_healthy(url):
        return url, False
    home = prefect_home()
    with _start_lock(home):
        if server_is_healthy(url):
            return url, False
        log_file = home / "server.log"
        process = start_process(host, port or configured_port(), log_file)
        try:
            wait_until_healthy(url, process, log_file)
        except BaseException:
            terminate(process.pid)
            raise
        record = ServerRecord(
            pid=process.pid,
            api_url=url,
            started_at=datetime.now(UTC).replace(microsecond=0),
            log_file=str(log_file),
        )
        tmp = home / f".{RECORD}.tmp"
        tmp.write_text(record.model_dump_json(indent=2))
        tmp.replace(home / RECORD)
        return url, True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def terminate(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM to the server's process group (uvicorn and its services), SIGKILL after."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:  # not our child: poll until it is gone
                if not _alive(pid):
                    return
            time.sleep(0.2)


def stop() -> str:
    """Stop the server this home's commands started; a server they did not start is left."""
    home = prefect_home()
    record = read_record(home)
    if record is None or not _alive(record.pid):
        (home / RECORD).unlink(missing_ok=True)
        return "no local Prefect server started by market-maker is running"
    terminate(record.pid)
    (home / RECORD).unlink(missing_ok=True)
    return f"stopped the local Prefect server at {ui_url(record.api_url)} (pid {record.pid})"


def status(host: str = HOST, port: int | None = None) -> str:
    url = api_url(host, port)
    record = read_record(prefect_home())
    if not server_is_healthy(url):
        return f"no Prefect server answers at {ui_url(url)}"
    if record is not None and record.api_url == url and _alive(record.pid):
        return (
            f"local Prefect server at {ui_url(url)} (pid {record.pid}, started "
            f"{record.started_at:%Y-%m-%d %H:%M}Z, log {record.log_file})"
        )
    return f"a Prefect server answers at {ui_url(url)} (not started by market-maker)"
