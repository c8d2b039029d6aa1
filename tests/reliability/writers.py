"""Writers as separate processes, killed for real: started ahead, given a command, SIGKILLed.

Each is ``python -m tests.reliability.warm_writer``: imports done, it waits for one JSON
line (environment and command-line arguments), runs ``market-maker`` with them and exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml
from git import Repo

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Finished:
    code: int
    out: str
    err: str
    seconds: float


class Zygote:
    """One process with the imports done, forking a writer for each command it is given."""

    def __init__(self, env: dict[str, str], folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.warm_writer"],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != "ready":
            self.process.kill()
            raise AssertionError(f"writers could not start: {self.process.communicate()[1]}")
        self.count = 0

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> Writer:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.count += 1
        files = {k: self.folder / f"{self.count}.{k}" for k in ("out", "err", "code")}
        command = {"env": env or {}, "argv": argv, **{k: str(v) for k, v in files.items()}}
        started = time.monotonic()
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        pid = int(self.process.stdout.readline())
        return Writer(pid, files, started)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream:
                stream.close()


@dataclass
class Writer:
    """A forked writer: a pid, its output files, when it started."""

    pid: int
    files: dict[str, Path]
    started: float

    def alive(self) -> bool:
        try:
            state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z"

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        while self.alive():
            time.sleep(0.01)

    def wait(self, timeout: float = 300) -> Finished:
        deadline = time.monotonic() + timeout
        while not self.files["code"].exists() or self.alive():
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"writer {self.pid} still running after {timeout} s")
            if not self.alive() and not self.files["code"].exists():
                raise AssertionError(f"writer {self.pid} died: {self.files['err'].read_text()}")
            time.sleep(0.02)
        return Finished(
            int(self.files["code"].read_text()),
            self.files["out"].read_text(),
            self.files["err"].read_text(),
            time.monotonic() - self.started,
        )

    def finished_within(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.alive():
                return True
            time.sleep(0.01)
        return not self.alive()


@contextmanager
def zygote(env: dict[str, str], folder: Path) -> Iterator[Zygote]:
    forks = Zygote(env, folder)
    try:
        yield forks
    finally:
        forks.close()


def run(env: dict[str, str], argv: list[str], data: dict[str, str] | None = None) -> Finished:
    """One writer, in a process of its own (its environment set before any import)."""
    started = time.monotonic()
    process = subprocess.run(
        [sys.executable, "-m", "cli.main", *argv],
        cwd=PROJECT_ROOT,
        env={**env, **(data or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Finished(process.returncode, process.stdout, process.stderr, time.monotonic() - started)


def kill_servers_of(prefect_home: Path) -> int:
    """Kill the ephemeral Prefect servers started with ``PREFECT_HOME=prefect_home``: a writer
    killed outright leaves its server running, adopted by init. Returns how many."""
    wanted = f"PREFECT_HOME={prefect_home}".encode()
    killed = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:  # gone meanwhile, or not ours
            continue
        if wanted in environ and b"prefect.server" in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)
                killed += 1
    return killed


def slots_taken() -> int:
    """Slots of the data repository's Prefect concurrency limit in use on the test server."""
    from prefect import get_client

    from flows._lock import DATA_REPOSITORY_LIMIT

    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(DATA_REPOSITORY_LIMIT).active_slots


# -- comparing repositories ------------------------------------------------------------------

# Wall-clock moments that differ between any two runs, interrupted or not.
_WALL_CLOCK = re.compile(rb'("collected_at": ")[^"]*(")')
_WALL_CLOCK_YAML = re.compile(rb"((?:snapshot_collected_at|attempted_at): )'?[^\s',}]+'?")


def normalised(data: bytes) -> bytes:
    data = _WALL_CLOCK.sub(rb"\1-\2", data)
    return _WALL_CLOCK_YAML.sub(rb"\1-", data)


def remote_tree(bare: Path, branch: str = "main") -> dict[str, bytes]:
    """Every file of the remote's branch, wall-clock moments blanked."""
    repo = Repo(bare)
    tree = repo.commit(branch).tree
    return {
        blob.path: normalised(blob.data_stream.read())
        for blob in tree.traverse()
        if blob.type == "blob"  # type: ignore[union-attr]
    }


def grid_file(path: Path, grid: dict) -> Path:
    path.write_text(yaml.safe_dump(grid, sort_keys=False))
    return path
