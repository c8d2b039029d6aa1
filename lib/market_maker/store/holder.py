"""Who holds the data repository: written by the holder, read by whoever waits for it."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from market_maker.base.atomic import write_atomic
from market_maker.base.timeutil import format_utc, parse_utc


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (tells a reused pid apart)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22, counted after the parenthesised command name (which may hold spaces).
    return stat.rsplit(")", 1)[1].split()[19]


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    since: datetime
    who: str = ""
    started: str | None = None  # /proc start ticks of the pid
    lease_id: str | None = None  # the Prefect concurrency lease it holds, if any

    @classmethod
    def me(cls, who: str = "") -> Holder:
        pid = os.getpid()
        return cls(
            pid=pid,
            host=socket.gethostname(),
            since=datetime.now(UTC).replace(microsecond=0),
            who=who,
            started=_start_ticks(pid),
        )

    def with_lease(self, lease_id: str | None) -> Holder:
        return replace(self, lease_id=lease_id)

    @property
    def local(self) -> bool:
        return self.host == socket.gethostname()

    def alive(self) -> bool:
        """False only when it surely died: a process of this host that is gone (or whose pid
        now belongs to another process). A holder on another host is taken as alive."""
        if not self.local:
            return True
        ticks = _start_ticks(self.pid)
        if ticks is None:
            return False
        return self.started is None or ticks == self.started

    def describe(self) -> str:
        who = f"{self.who} " if self.who else ""
        return f"{who}(pid {self.pid} on {self.host}) since {format_utc(self.since)}"


def read_holder(path: Path) -> Holder | None:
    try:
        raw = json.loads(path.read_text())
        return Holder(**{**raw, "since": parse_utc(raw["since"])})
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write_holder(path: Path, holder: Holder) -> None:
    data = {**asdict(holder), "since": format_utc(holder.since)}
    write_atomic(path, json.dumps(data).encode())
