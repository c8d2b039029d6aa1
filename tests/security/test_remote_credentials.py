"""A data-repository remote with credentials in its URL: they work, and are never written down.

The remote is served by ``git http-backend`` behind HTTP basic authentication on
127.0.0.1, as a Git host serves HTTPS; the store clones, fetches and pushes
through it, and nothing under the working copies holds the password.
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from git import Repo

from market_maker.base.errors import StoreError
from market_maker.store import GitDataStore
from tests.loopback import LoopbackServer

USER = "git"
# Characters a URL must encode, so that the decoded password is what is checked.
PASSWORD = "LEAKCANARY-remote+p@ss/word"


class GitHttpServer(LoopbackServer):
    """Smart HTTP for the bare repositories under ``root``, for ``USER:PASSWORD`` only."""

    protocol_version = "HTTP/1.0"

    def __init__(self, root: Path):
        self.root = root
        self.challenged = 0
        self.served = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._stopping = threading.Event()

    def remote_url(self, repository: str, password: str = PASSWORD) -> str:
        """``http://git:PASSWORD@127.0.0.1:PORT/repository``, the password URL-encoded."""
        host = urlsplit(self.url).netloc
        return f"http://{USER}:{quote(password, safe='')}@{host}/{repository}"

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if handler.headers.get("Authorization") != f"Basic {expected}":
            self.challenged += 1
            handler.send_response(401)
            handler.send_header("WWW-Authenticate", 'Basic realm="data"')
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        self.served += 1
        target = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        env = {
            **os.environ,
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": target.path,
            "QUERY_STRING": target.query,
            "REQUEST_METHOD": handler.command,
            "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": USER,
            "REMOTE_ADDR": "127.0.0.1",
        }
        if encoding := handler.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = encoding
        out = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=True
        ).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(": ")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value))
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitHttpServer]:
    root = tmp_path / "served"
    bare = Repo.init(root / "data.git", bare=True, initial_branch="main")
    bare.git.config("http.receivepack", "true")
    with GitHttpServer(root) as fake:
        yield fake


def files_holding(root: Path, text: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def test_a_password_in_the_remote_url_authenticates_and_is_never_written_down(
    server: GitHttpServer, tmp_path: Path
) -> None:
    url = server.remote_url("data.git")
    writer = GitDataStore(tmp_path / "a", remote_url=url, network_timeout=30)
    (writer.path / "seed.txt").write_text("seed\n")
    writer.commit("seed", [writer.path / "seed.txt"])
    assert writer.push().pushed

    reader = GitDataStore(tmp_path / "b", remote_url=url, network_timeout=30)  # a clone
    assert (reader.path / "seed.txt").read_text() == "seed\n"
    (reader.path / "more.txt").write_text("more\n")
    reader.commit("more", [reader.path / "more.txt"])
    assert reader.push().pushed
    assert writer.sync() and (writer.path / "more.txt").exists()

    assert server.challenged and server.served  # git was asked, and answered
    for store in (writer, reader):
        assert store.repo.remotes.origin.url == f"{server.url}/data.git"
        for form in (PASSWORD, quote(PASSWORD, safe=""), "LEAKCANARY"):
            assert files_holding(store.path, form) == []


def test_a_wrong_password_is_refused_at_once_not_prompted_for(
    server: GitHttpServer, tmp_path: Path
) -> None:
    url = server.remote_url("data.git", password="wrong")
    # No working copy yet and a remote it cannot use: one line, nothing written.
    with pytest.raises(StoreError, match="cannot be reached"):
        GitDataStore(tmp_path / "c", remote_url=url, network_timeout=30)
    assert not (tmp_path / "c").exists()
    assert server.served == 0 and server.challenged
