"""A data-repository remote with credentials in its URL: they work, and are never written down.

The remote is served by ``git http-backend`` behind HTTP basic authentication on
127.0.0.1, as a Git host serves HTTPS; the store clones, fetches and pushes
through it, and nothing under the working copies holds the password.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import yaml
from git import Repo
from prefect import get_client

from cli.main import main
from flows.backfill import backfill
from market_maker.base.errors import StoreError
from market_maker.config import load_settings
from market_maker.store import GitDataStore
from tests.grid_files import grid_data
from tests.loopback import LoopbackServer

USER = "git"
REMOTE_URL = "MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL"
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
    url = server.remote_url("data.git", password="bad1")
    # No working copy yet and a remote it cannot use: one line, nothing written.
    with pytest.raises(StoreError, match="cannot be reached") as failed:
        GitDataStore(tmp_path / "c", remote_url=url, network_timeout=30)
    # Masked whatever its length (a short one is not registered as a secret to clean).
    assert "bad1" not in str(failed.value) and f"{USER}:***@" in str(failed.value)
    assert not (tmp_path / "c").exists()
    assert server.served == 0 and server.challenged


def test_the_remote_urls_credentials_are_masked_in_config_show_logs_artifacts_and_output(
    server: GitHttpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    caplog: pytest.LogCaptureFixture,
    prefect_server: None,
) -> None:
    url = server.remote_url("data.git")
    masked = f"http://{USER}:***@{urlsplit(server.url).netloc}/data.git"
    monkeypatch.setenv(REMOTE_URL, url)
    monkeypatch.setenv("MARKET_MAKER_DATA_REPOSITORY__BASE_PATH", str(tmp_path / "repo"))
    forms = (PASSWORD, quote(PASSWORD, safe=""))

    assert main(["config", "show"]) == 0
    shown = capsys.readouterr().out
    assert f"remote_url: {masked}" in shown
    assert main(["config", "show", "--canonical"]) == 0
    canonical = capsys.readouterr().out
    assert masked in canonical
    # The configuration version does not depend on the password either.
    version = load_settings().config_version
    monkeypatch.setenv(REMOTE_URL, server.remote_url("data.git", password="another-password"))
    assert load_settings().config_version == version
    monkeypatch.setenv(REMOTE_URL, url)

    hour = datetime(2023, 8, 10, tzinfo=UTC)
    with caplog.at_level(logging.INFO, logger="market_maker"):
        result = backfill(symbol="ETH-USDT", start=hour, end=hour)
    assert result.written == 1 and result.unpushed == 0  # cloned and pushed through the server
    assert f"cloning data repository {masked}" in caplog.text
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(yaml.safe_dump(grid_data()))
    assert main(["grid", "add", str(grid_file)]) == 0
    added = capsys.readouterr().out
    assert f"pushed main to {masked}" in added

    with get_client(sync_client=True) as client:
        artifacts = [str(a.data) for a in client.read_artifacts(limit=200)]
    assert artifacts
    for text in (shown, canonical, caplog.text, added, result.model_dump_json(), *artifacts):
        assert not any(form in text for form in forms)


def test_a_config_file_with_credentials_in_the_remote_url_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = tmp_path / "overlay.yaml"
    config.write_text(
        yaml.safe_dump({"data_repository": {"remote_url": "https://ci:pw1@git.example/d.git"}})
    )

    assert main(["--config", str(config), "config", "show"]) == 2

    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"market-maker config: config file {config} sets data_repository.remote_url with "
        f"credentials in the URL: credentials come only from the environment ({REMOTE_URL}); "
        "remove them from the file"
    )
    # Without credentials, a remote in a file is what a file is for.
    config.write_text(yaml.safe_dump({"data_repository": {"remote_url": "ssh://git@h/d.git"}}))
    assert main(["--config", str(config), "config", "show"]) == 0
    assert "remote_url: ssh://git@h/d.git" in capsys.readouterr().out
