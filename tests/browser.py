"""A page opened in real headless Chromium (Debian's ``chromium``), over the DevTools protocol.

No test framework downloads a browser here: Chromium is started with a private profile and
no network of its own, the page is loaded from a file, and every console error, uncaught
exception and failed request is collected while it renders. ``.ci/run`` installs Chromium
when it is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--window-size=1280,2000",
    "--remote-debugging-port=0",
]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageRun:
    """What happened while a page loaded and rendered."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    result: Any = None


class Browser:
    def __init__(self) -> None:
        executable = chromium()
        if executable is None:
            raise RuntimeError("chromium is not installed (apt-get install chromium)")
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start")
            time.sleep(0.05)
        self.port = int(port_file.read_text().split()[0])

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self, url: str, ready: str, result: str, timeout: float = 30) -> PageRun:
        """Load ``url`` in a new tab; wait until the JavaScript ``ready`` is true; return the
        value of ``result`` with every error seen meanwhile."""
        import urllib.request

        with urllib.request.urlopen(
            urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new", method="PUT")
        ) as response:
            target = json.load(response)
        run = PageRun()
        with connect(target["webSocketDebuggerUrl"], max_size=None) as ws:
            session = _Session(ws, run)
            for domain in ("Runtime", "Log", "Network", "Page"):
                session.call(f"{domain}.enable")
            session.call("Page.navigate", url=url)
            deadline = time.monotonic() + timeout
            while True:
                if session.evaluate(f"Boolean({ready})") is True:
                    break
                if time.monotonic() > deadline:
                    run.errors.append(f"not ready after {timeout} s: {ready}")
                    break
                time.sleep(0.1)
            run.result = session.evaluate(result)
            session.drain(0.3)  # late errors of the first frames
        return run


class _Session:
    def __init__(self, ws: Any, run: PageRun) -> None:
        self.ws = ws
        self.run = run
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message)

    def evaluate(self, expression: str) -> Any:
        reply = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in reply:
            self.run.errors.append(f"evaluating {expression}: {reply['exceptionDetails']}")
            return None
        return reply["result"].get("value")

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self._event(json.loads(self.ws.recv(timeout=left)))
            except TimeoutError:
                return

    def _event(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.run.errors.append(f"console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            self.run.errors.append(f"uncaught: {text}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.run.errors.append(f"log: {params['entry'].get('text')}")
        elif method == "Network.requestWillBeSent":
            self.run.requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed":
            self.run.errors.append(f"request failed: {params.get('errorText')}")
