"""A fake Pushover server for tests: real HTTP on 127.0.0.1, validating as Pushover documents.

``POST /1/messages.json``, form-encoded: ``token`` and ``user`` (30 characters
of [A-Za-z0-9]), ``message`` (not blank, at most 1024 characters), ``title``
(at most 250), ``priority`` (-2..2; 2 needs ``retry`` >= 30 and ``expire`` <=
10800). Invalid input gets HTTP 400 ``{"status": 0, "errors": [...],
"request": ...}``; success HTTP 200 ``{"status": 1, "request": ...}`` (plus a
``receipt`` for priority 2), with the X-Limit-App-* quota headers. A message
may instead come as ``multipart/form-data`` with an image in the part named
``attachment`` (``image/png`` or ``image/jpeg``, at most 5,242,880 bytes). Every
accepted message is recorded with all its fields (and its attachment); faults
(5xx, slow answers) are queued and consumed per request. ``POST /webhook``
records JSON bodies.

Receipts of emergencies: ``GET /1/receipts/{receipt}.json?token=`` answers
``acknowledged``, ``acknowledged_at``, ``acknowledged_by``,
``acknowledged_by_device``, ``last_delivered_at``, ``expired``, ``expires_at``,
``called_back``, ``called_back_at`` (0/1 flags, Unix seconds, 0 for never);
``POST /1/receipts/{receipt}/cancel.json`` (form ``token``) stops the retries.
A test plays the operator with :meth:`FakePushover.acknowledge` and lets time
pass with :meth:`FakePushover.expire`.

    with FakePushover() as server:
        settings = PushoverSettings(api_url=server.messages_url, token=..., user_key=...)
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.loopback import LoopbackServer

MESSAGES_PATH = "/1/messages.json"
WEBHOOK_PATH = "/webhook"
RECEIPTS_PREFIX = "/1/receipts/"
RECEIPT_PATH = re.compile(r"/1/receipts/([A-Za-z0-9]+)(\.json|/cancel\.json)")
MAX_ATTACHMENT = 5_242_880
IMAGE_TYPES = ("image/png", "image/jpeg")
KEY = re.compile(r"[A-Za-z0-9]{30}")
MONTHLY_LIMIT = 10_000
LENGTHS = {"message": 1024, "title": 250, "url": 512, "url_title": 100}
TOKEN = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"  # the format of Pushover's own examples
USER_KEY = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"


@dataclass(frozen=True)
class Fault:
    """A canned answer instead of the real one; with ``delay`` the answer only comes late."""

    status: int = 500
    body: bytes = b'{"status": 0, "errors": ["internal error"]}'
    delay: float = 0.0

    @classmethod
    def server_error(cls, status: int = 503) -> Fault:
        return cls(status, f"<html><body>{status} Service Unavailable</body></html>".encode())

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls(status=200, body=b"", delay=seconds)


@dataclass(frozen=True)
class Attachment:
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class Receipt:
    """An emergency's receipt, as Pushover keeps it."""

    receipt: str
    user: str
    sent_at: int
    expires_at: int
    acknowledged_at: int = 0
    acknowledged_by: str = ""
    acknowledged_by_device: str = ""
    cancelled: bool = False

    def reply(self, now: int) -> dict[str, Any]:
        expired = int(self.cancelled or (not self.acknowledged_at and now >= self.expires_at))
        return {
            "status": 1,
            "acknowledged": int(bool(self.acknowledged_at)),
            "acknowledged_at": self.acknowledged_at,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_by_device": self.acknowledged_by_device,
            "last_delivered_at": self.acknowledged_at or min(now, self.expires_at),
            "expired": expired,
            "expires_at": self.expires_at,
            "called_back": 0,
            "called_back_at": 0,
            "request": str(uuid.uuid4()),
        }


@dataclass
class Request:
    """Every request the server saw, accepted or not."""

    path: str
    form: dict[str, str]
    status: int = 0
    fault: bool = False
    method: str = "POST"
    content_type: str = ""


@dataclass
class FakePushover(LoopbackServer):
    tokens: set[str] | None = None  # None: any well-formed token is an application's
    accepted: list[dict[str, str]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    webhook: list[Any] = field(default_factory=list)
    # request id of an accepted message -> its attachment, and the receipts of emergencies
    attachments: dict[str, Attachment] = field(default_factory=dict)
    receipts: dict[str, Receipt] = field(default_factory=dict)
    _faults: list[tuple[str, Fault]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _httpd: ThreadingHTTPServer | None = None

    @property
    def messages_url(self) -> str:
        return self.url + MESSAGES_PATH

    @property
    def webhook_url(self) -> str:
        return self.url + WEBHOOK_PATH

    def inject(self, fault: Fault, *, path: str = MESSAGES_PATH, times: int = 1) -> None:
        """Queue a fault for requests to ``path`` (``RECEIPTS_PREFIX``: any receipt call)."""
        with self._lock:
            self._faults.extend([(path, fault)] * times)

    def heal(self) -> None:
        """Drop the faults still queued: the service is up again."""
        with self._lock:
            self._faults.clear()

    def clear(self) -> None:
        with self._lock:
            self.accepted.clear()
            self.requests.clear()
            self.webhook.clear()
            self.attachments.clear()

    def acknowledge(
        self,
        receipt: str,
        *,
        user: str | None = None,
        device: str = "operator-phone",
        at: datetime | None = None,
    ) -> None:
        """The operator taps "acknowledge" on the emergency (by default its recipient)."""
        with self._lock:
            r = self.receipts[receipt]
            r.acknowledged_at = int((at or datetime.now(UTC)).timestamp())
            r.acknowledged_by = user or r.user
            r.acknowledged_by_device = device

    def expire(self, receipt: str) -> None:
        """Let the emergency's ``expire`` seconds pass unacknowledged."""
        with self._lock:
            self.receipts[receipt].expires_at = int(time.time()) - 1

    def emergencies(self) -> list[dict[str, str]]:
        return [f for f in self.accepted if f.get("priority") == "2"]

    # -- request handling ----------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        path = split.path
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        with self._lock:
            fault = next(
                (
                    f
                    for p, f in self._faults
                    if p == path or (p == RECEIPTS_PREFIX and path.startswith(p))
                ),
                None,
            )
            if fault is not None:
                self._faults.remove(next(x for x in self._faults if x[1] is fault))
        if fault is not None and fault.delay:
            self._stopping.wait(fault.delay)
            fault = None
        if path.startswith(RECEIPTS_PREFIX):
            self._receipt(handler, path, split.query, raw, fault)
            return
        if handler.command != "POST" or path not in (MESSAGES_PATH, WEBHOOK_PATH):
            _send(handler, 404, {"status": 0, "errors": ["not found"]})
            return
        if path == WEBHOOK_PATH:
            self._webhook(handler, raw, fault)
            return
        content_type = handler.headers.get("Content-Type") or ""
        files: dict[str, Attachment] = {}
        if content_type.startswith("multipart/form-data"):
            form, files = _multipart(content_type, raw)
        else:
            form = {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        entry = Request(path, form, content_type=content_type)
        with self._lock:
            self.requests.append(entry)
        if fault is not None:
            entry.status, entry.fault = fault.status, True
            _send_raw(handler, fault.status, fault.body, "text/html")
            return
        request_id = str(uuid.uuid4())
        errors = self.validate(form, content_type) + _attachment_errors(files)
        if errors:
            entry.status = 400
            _send(handler, 400, {"status": 0, "errors": errors, "request": request_id})
            return
        reply: dict[str, Any] = {"status": 1, "request": request_id}
        with self._lock:
            if form.get("priority") == "2":
                receipt = uuid.uuid4().hex[:30]
                now = int(time.time())
                self.receipts[receipt] = Receipt(
                    receipt, form["user"], now, now + int(form["expire"])
                )
                reply["receipt"] = receipt
            self.accepted.append(form)
            if "attachment" in files:
                self.attachments[request_id] = files["attachment"]
                form["_request"] = request_id
            remaining = MONTHLY_LIMIT - len(self.accepted)
        entry.status = 200
        _send(handler, 200, reply, self._quota_headers(remaining))

    def attachment_of(self, form: dict[str, str]) -> Attachment | None:
        """The image that came with an accepted message, if any."""
        return self.attachments.get(form.get("_request", ""))

    def _receipt(
        self,
        handler: BaseHTTPRequestHandler,
        path: str,
        query: str,
        raw: bytes,
        fault: Fault | None,
    ) -> None:
        if handler.command == "GET":
            form = {k: v[-1] for k, v in parse_qs(query).items()}
        else:
            form = {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        entry = Request(path, form, method=handler.command)
        with self._lock:
            self.requests.append(entry)
        if fault is not None:
            entry.status, entry.fault = fault.status, True
            _send_raw(handler, fault.status, fault.body, "text/html")
            return
        match = RECEIPT_PATH.fullmatch(path)
        cancel = match is not None and match.group(2) == "/cancel.json"
        token = form.get("token", "")
        if match is None or handler.command != ("POST" if cancel else "GET"):
            entry.status = 404
            _send(handler, 404, {"status": 0, "errors": ["not found"]})
            return
        if not KEY.fullmatch(token) or (self.tokens is not None and token not in self.tokens):
            entry.status = 400
            _send(handler, 400, {"status": 0, "errors": ["application token is invalid"]})
            return
        with self._lock:
            receipt = self.receipts.get(match.group(1))
            if receipt is not None and cancel:
                receipt.cancelled = True
            body = receipt.reply(int(time.time())) if receipt is not None else None
        if body is None:
            entry.status = 404
            _send(handler, 404, {"status": 0, "errors": ["receipt not found; may be invalid"]})
            return
        entry.status = 200
        _send(handler, 200, {"status": 1, "request": body["request"]} if cancel else body)

    def validate(self, form: dict[str, str], content_type: str) -> list[str]:
        """Pushover's documented checks; every problem is named, not just the first."""
        errors: list[str] = []
        if not content_type.startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            errors.append("request must be form-encoded")
        token = form.get("token", "")
        if not KEY.fullmatch(token) or (self.tokens is not None and token not in self.tokens):
            errors.append("application token is invalid")
        if not KEY.fullmatch(form.get("user", "")):
            errors.append("user identifier is not a valid user, group, or subscribed user key")
        message = form.get("message")
        if message is None or not message.strip():
            errors.append("message cannot be blank")
        for name, limit in LENGTHS.items():
            if len(form.get(name, "")) > limit:
                errors.append(f"{name} is too long ({limit} characters at most)")
        if "timestamp" in form and not form["timestamp"].isdigit():
            errors.append("timestamp is invalid")
        return errors + _priority_errors(form)

    def _webhook(self, handler: BaseHTTPRequestHandler, raw: bytes, fault: Fault | None) -> None:
        if fault is not None:
            _send_raw(handler, fault.status, fault.body, "text/plain")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            _send(handler, 400, {"error": "body is not JSON"})
            return
        with self._lock:
            self.webhook.append(body)
        _send(handler, 200, {"ok": True})

    @staticmethod
    def _quota_headers(remaining: int) -> dict[str, str]:
        now = datetime.now(UTC)
        first = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
        return {
            "X-Limit-App-Limit": str(MONTHLY_LIMIT),
            "X-Limit-App-Remaining": str(remaining),
            "X-Limit-App-Reset": str(int(first.timestamp())),
        }


def _multipart(content_type: str, raw: bytes) -> tuple[dict[str, str], dict[str, Attachment]]:
    """The text fields and the files of a multipart/form-data body."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    form: dict[str, str] = {}
    files: dict[str, Attachment] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[name] = Attachment(part.get_filename(), part.get_content_type(), data)
        else:
            form[name] = data.decode()
    return form, files


def _attachment_errors(files: dict[str, Attachment]) -> list[str]:
    errors = [f"unknown file field {name}" for name in files if name != "attachment"]
    attachment = files.get("attachment")
    if attachment is not None:
        if attachment.content_type not in IMAGE_TYPES:
            errors.append("attachment must be an image")
        if len(attachment.data) > MAX_ATTACHMENT:
            errors.append("attachment is too large (5,242,880 bytes at most)")
    return errors


def _priority_errors(form: dict[str, str]) -> list[str]:
    """Priority -2..2; an emergency (2) needs retry >= 30 s and expire <= 10800 s."""
    priority = _int(form.get("priority", "0"))
    if priority is None or not -2 <= priority <= 2:
        return ["priority is invalid"]
    if priority != 2:
        return []
    errors = []
    retry, expire = _int(form.get("retry", "")), _int(form.get("expire", ""))
    if retry is None:
        errors.append("retry is required for emergency-priority notifications")
    elif retry < 30:
        errors.append("retry must be at least 30 seconds")
    if expire is None:
        errors.append("expire is required for emergency-priority notifications")
    elif expire > 10800:
        errors.append("expire must be at most 10800 seconds")
    return errors


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> None:
    _send_raw(handler, status, json.dumps(body).encode(), "application/json", headers)


def _send_raw(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str,
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)
