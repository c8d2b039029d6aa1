"""Real HTTP test servers on 127.0.0.1: the thread, the port, start and stop, in one place."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self


class _Delegate(BaseHTTPRequestHandler):
    """Hands every request to the server object's ``handle(handler)``."""

    def do_GET(self) -> None:
        self.server.fake.handle(self)  # type: ignore[attr-defined]

    do_POST = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class LoopbackServer:
    """Mixin: subclasses implement ``handle(handler)`` and set ``_httpd`` (None) and
    ``_stopping`` (an Event, which fault delays wait on so that stop is prompt)."""

    protocol_version: ClassVar[str] = "HTTP/1.1"
    _httpd: ThreadingHTTPServer | None
    _stopping: threading.Event

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        handler = type("Handler", (_Delegate,), {"protocol_version": self.protocol_version})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.fake = self  # type: ignore[attr-defined]
        # A short poll interval makes shutdown quick.
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"


def free_port() -> int:
    """A TCP port nothing listens on now, for a server a test starts."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
