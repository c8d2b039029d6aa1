"""The project's own local Prefect server: one per home, started once and reused.

Prefect's ephemeral mode starts a temporary server for each command (about 13 s on two
cores) and its runs vanish with it. Instead the ``market-maker`` command, ``make serve``
and ``make worker`` share one server on 127.0.0.1:4200 (``MARKET_MAKER_PREFECT_SERVER_PORT``
for another port): the first that needs it starts it, detached, and leaves it running; the
next command takes a few seconds and every run stays in the UI. ``market-maker server
stop`` stops it.

Its state has one home whatever the entry point: ``PREFECT_HOME`` when set, else the
checkout's ``var/prefect`` (the Makefile's default too). The server started there is
recorded in ``local-server.json`` in the home (its pid, the home, the port), and a command
reuses only that server, or the one ``PREFECT_API_URL`` names: a port held by anything else
(another checkout's server, another program) stops the command with one line naming it.

``MARKET_MAKER_PREFECT_SERVER=ephemeral`` keeps Prefect's temporary server per command.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from market_maker.base.errors import ConfigurationError
from market_maker.config import project_root

MODE_ENV = "MARKET_MAKER_PREFECT_SERVER"
PORT_ENV = "MARKET_MAKER_PREFECT_SERVER_PORT"
MODES = ("local", "ephemeral")
HOST = "127.0.0.1"
DEFAULT_PORT = 4200
START_TIMEOUT_SECONDS = 120.0
RECORD = "local-server.json"


class PortTaken(ConfigurationError):
    """The port of the local server answers, but not for a server of this home."""


class ServerRecord(BaseModel):
    """What ``$PREFECT_HOME/local-server.json`` says of the server started there."""

    pid: int
    home: str = ""
    port: int = DEFAULT_PORT
    api_url: str
    started_at: datetime
    log_file: str


def prefect_home() -> Path:
    """``PREFECT_HOME`` when set, else the checkout's ``var/prefect``."""
    configured = os.environ.get("PREFECT_HOME")
    if configured:
        return Path(configured).expanduser().absolute()
    return project_root() / "var" / "prefect"


def use_home() -> Path:
    """Put the home in the environment before Prefect is imported: its database, profiles
    and result storage go there, not to ``~/.prefect``."""
    home = prefect_home()
    os.environ["PREFECT_HOME"] = str(home)
    return home


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


def port_in_use(host: str, port: int) -> bool:
    """Something accepts connections on the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex((host, port)) == 0


def listener_pids(port: int) -> set[int] | None:
    """The processes listening on ``port`` that this user can see (Linux ``/proc``); None
    where that cannot be told."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None if not Path("/proc/net/tcp").exists() else set()
    pids = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        pids.add(int(proc.name))
                        break
    return pids


def describe(pid: int) -> str:
    """``pid 123 (prefect server start --port 4200)``."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"pid {pid}"
    words = [w for w in raw.decode(errors="replace").split("\0") if w]
    # Programs by their name: python3 prefect server start --port 4200
    words = [Path(w).name if i < 2 and "/" in w else w for i, w in enumerate(words)]
    text = " ".join(words)
    return f"pid {pid} ({text[:97] + '...' if len(text) > 100 else text})"


def _holder(port: int) -> str:
    pids = listener_pids(port)
    if pids:
        return ", ".join(describe(p) for p in sorted(pids))
    if pids is None:
        return "another program"
    return "a process of another user"


def start_process(host: str, port: int, log_file: Path, home: Path) -> subprocess.Popen:
    """``prefect server start`` in a session of its own (Ctrl-C in the terminal that started
    it does not reach it), its output appended to ``log_file``. The UI calls this port's
    API, whatever Prefect's defaults say."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    prefect = Path(sys.executable).with_name("prefect")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    env |= {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_API_URL": api_url(host, port),
    }
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


@contextlib.contextmanager
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


def running_record(home: Path) -> ServerRecord | None:
    """The record of the home's server while its process lives (a stale one is removed)."""
    record = read_record(home)
    if record is not None and _alive(record.pid) and _is_server(record.pid):
        return record
    (home / RECORD).unlink(missing_ok=True)
    return None


def _is_server(pid: int) -> bool:
    """The pid runs a Prefect server (not a process that took a dead server's pid)."""
    try:
        return b"server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc to tell


def _is_ours(record: ServerRecord) -> bool:
    """Nothing but the recorded server (or a process of its group) listens on its port."""
    pids = listener_pids(record.port)
    if pids is None:  # no /proc: the record and a live pid are all there is to go by
        return True
    if not pids:  # nobody this user can see: free (ours starting), or another user's
        return not port_in_use(HOST, record.port)
    return any(pid == record.pid or _group_of(pid) == record.pid for pid in pids)


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def ensure(host: str = HOST, port: int | None = None) -> tuple[str, bool]:
    """The API URL of this home's server, started unless it runs, and whether this call
    started it. Raises PortTaken when the port answers for something else."""
    port = port or configured_port()
    url = api_url(host, port)
    home = prefect_home()
    record = running_record(home)
    if record is not None and record.port == port and server_is_healthy(url) and _is_ours(record):
        return url, False
    with _start_lock(home):
        record = running_record(home)
        if record is not None:
            return _reuse(record, host, port), False
        if port_in_use(host, port):
            raise PortTaken(
                f"port {port} is taken by {_holder(port)}, not by the local Prefect server of "
                f"{home}; stop it, or set {PORT_ENV} to a free port "
                "(or PREFECT_API_URL to use that server)"
            )
        return _start(home, host, port), True


def _reuse(record: ServerRecord, host: str, port: int) -> str:
    """The home's running server, when it is the one asked for."""
    url = api_url(host, port)
    if record.port != port:
        raise PortTaken(
            f"the local Prefect server of {record.home} runs on port {record.port} "
            f"(pid {record.pid}), not {port}: stop it first (market-maker server stop)"
        )
    if not _is_ours(record):
        raise PortTaken(
            f"port {port} is taken by {_holder(port)}, not by the local Prefect server "
            f"of {record.home} (pid {record.pid}); stop one of them"
        )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server_is_healthy(url):
        if time.monotonic() > deadline or not _alive(record.pid):
            raise RuntimeError(
                f"the local Prefect server (pid {record.pid}) does not answer at {url}; "
                f"see {record.log_file}"
            )
        time.sleep(0.3)
    return url


def _start(home: Path, host: str, port: int) -> str:
    url = api_url(host, port)
    log_file = home / "server.log"
    process = start_process(host, port, log_file, home)
    record = ServerRecord(
        pid=process.pid,
        home=str(home),
        port=port,
        api_url=url,
        started_at=datetime.now(UTC).replace(microsecond=0),
        log_file=str(log_file),
    )
    tmp = home / f".{RECORD}.tmp"
    tmp.write_text(record.model_dump_json(indent=2))
    tmp.replace(home / RECORD)
    try:
        wait_until_healthy(url, process, log_file)
    except BaseException:
        terminate(process.pid)
        (home / RECORD).unlink(missing_ok=True)
        raise
    return url


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a child of ours that exited is alive to kill(0) until it is reaped
        return os.waitpid(pid, os.WNOHANG)[0] != pid
    except ChildProcessError:
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
    with _start_lock(home):
        record = running_record(home)
        if record is None:
            return f"no local Prefect server of {home} is running"
        terminate(record.pid)
        (home / RECORD).unlink(missing_ok=True)
    return f"stopped the local Prefect server at {ui_url(record.api_url)} (pid {record.pid})"


def status(host: str = HOST, port: int | None = None) -> str:
    home = prefect_home()
    record = running_record(home)
    if record is not None:
        answers = "" if server_is_healthy(record.api_url) else "; not answering yet"
        return (
            f"local Prefect server at {ui_url(record.api_url)} (pid {record.pid}, started "
            f"{record.started_at:%Y-%m-%d %H:%M}Z, home {record.home}, log "
            f"{record.log_file}{answers})"
        )
    port = port or configured_port()
    if port_in_use(host, port):
        return (
            f"no local Prefect server of {home} is running; port {port} is taken by {_holder(port)}"
        )
    return f"no local Prefect server of {home} is running"
