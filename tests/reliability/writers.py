"""Writers as separate processes, killed for real: started ahead, given a command, SIGKILLed.

Each is ``python -m tests.reliability.warm_writer``: imports done, it waits for one JSON
line (environment and command-line arguments), runs ``market-maker`` with them and exits.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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


class Writer:
    """One market-maker process, imports done, waiting for its command."""

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.warm_writer"],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started = 0.0

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        assert self.process.stdout is not None and self.process.stdin is not None
        line = self.process.stdout.readline().strip()
        assert line == "ready", f"writer did not start: {line!r} {self._stderr()}"
        self.process.stdin.write(json.dumps({"env": env or {}, "argv": argv}) + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "started"
        self.started = time.monotonic()

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def wait(self, timeout: float = 300) -> Finished:
        out, err = self.process.communicate(timeout=timeout)
        return Finished(self.process.returncode, out, err, time.monotonic() - self.started)

    def _stderr(self) -> str:
        self.process.kill()
        return self.process.communicate()[1][-2000:]


def run(env: dict[str, str], argv: list[str], data: dict[str, str] | None = None) -> Finished:
    writer = Writer(env)
    writer.start(argv, data)
    return writer.wait()


@contextmanager
def writers(env: dict[str, str], ahead: int = 2) -> Iterator[Callable[[], Writer]]:
    """Hands out writers; the next ones are always starting while the current one works."""
    pool: list[Writer] = [Writer(env) for _ in range(ahead)]

    def take() -> Writer:
        pool.append(Writer(env))
        return pool.pop(0)

    try:
        yield take
    finally:
        for writer in pool:
            writer.process.kill()
            writer.process.communicate()


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
