"""Keep secret values out of every message, log line and error the project or a library emits.

Secrets are held as ``SecretStr`` from load to use; this module is the second
line: the values are registered once (from the environment before the
settings are even parsed, then from the settings), and every log record
created in the process, whatever its logger and level, has them replaced by
``***`` before any handler (console, JSON, Prefect's API) sees it.
"""

from __future__ import annotations

import logging
import os
import threading
import traceback
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

MASK = "***"
# Shorter values would mask ordinary words; real keys and tokens are far longer.
MIN_SECRET_LENGTH = 6

_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False


def register(values: Iterable[str | None]) -> None:
    """Add secret values (and their URL-encoded forms) to the set every message is cleaned of.

    A secret URL's parts are registered too: libraries print them on their own (urllib3
    logs the request target, ``/hook?token=...``, without the scheme and host).
    """
    added = set()
    for value in values:
        if not value or len(value) < MIN_SECRET_LENGTH:
            continue
        for part in {value, *_url_parts(value)}:
            if len(part) >= MIN_SECRET_LENGTH:
                added |= {part, quote(part, safe=""), quote_plus(part)}
    if added:
        with _lock:
            _secrets.update(added)


def _url_parts(value: str) -> set[str]:
    """The parts of a URL that can carry its token: the password, the request target (path
    and query) and the query."""
    if "://" not in value:
        return set()
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:  # not a URL after all (a malformed host)
        return set()
    target = f"{parts.path}?{parts.query}" if parts.query else parts.path
    return {p for p in (password, target, parts.query) if p}


def register_environment(names: Iterable[str]) -> None:
    """Register the values of the named environment variables (set or not)."""
    register(os.environ.get(name) for name in names)


def url_credentials(url: str | None) -> str | None:
    """The password or token embedded in a URL's user part, if any (``https://u:TOKEN@host``,
    ``https://TOKEN@host``). An SSH URL's user (``ssh://git@host``) is a name, not a secret."""
    if not url or "://" not in url:
        return None
    try:
        parts = urlsplit(url)
        password, username = parts.password, parts.username
    except ValueError:
        return None
    if password:
        return password
    return username if parts.scheme.lower() in ("http", "https") else None


def mask_url(url: str) -> str:
    """``url`` with the credentials of its user part replaced by ``***``, whatever their
    length: ``https://user:***@host/repo``, ``https://***@host/repo``."""
    secret = url_credentials(url)
    if not secret:
        return url
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    name, colon, _ = user.partition(":")
    masked = f"{name}:{MASK}" if colon and parts.password else MASK
    return urlunsplit(parts._replace(netloc=f"{masked}@{host}"))


def known() -> frozenset[str]:
    with _lock:
        return frozenset(_secrets)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***`` (longest first)."""
    secrets = known()
    if not secrets or not text:
        return text
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def contains_secret(text: str) -> bool:
    return any(secret in text for secret in known())


def _clean(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: leave it to the handler to report
        return record
    if contains_secret(message):
        record.msg, record.args = redact(message), ()
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if contains_secret(text):
            record.exc_text, record.exc_info = redact(text), None
    for name in ("stack_info", "exc_text"):
        value = getattr(record, name, None)
        if isinstance(value, str) and contains_secret(value):
            setattr(record, name, redact(value))
    return record


def install_log_redaction() -> None:
    """Clean every log record at creation, before any handler or formatter sees it."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    factory = logging.getLogRecordFactory()

    def cleaning_factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        return _clean(record) if _secrets else record

    logging.setLogRecordFactory(cleaning_factory)
