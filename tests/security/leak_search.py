"""The secrets of the leak test, and how it looks for them.

Each secret value holds ``MARKER``; a leak is any of its raw, URL-encoded, hex or base64
forms, searched for in the data and in whatever it holds compressed or base64-encoded.
Where to look: files, Git repositories (every object, the reflog), the Prefect server's
database and what its API serves.
"""

from __future__ import annotations

import base64
import gzip
import lzma
import re
import secrets
import string
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus, urlsplit

import httpx
from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL, PREFECT_API_URL

from tests.alerts.pushover_server import FakePushover
from tests.exchange.kucoin_server import _hmac

# In every secret value: found anywhere, even in part, it is a leak. Random per test run, so
# that nothing another run left (in var/, say) is mistaken for one.
MARKER = "LEAKCANARY" + "".join(secrets.choice(string.ascii_uppercase) for _ in range(5))
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
