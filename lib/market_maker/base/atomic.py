"""Atomic file writes: temporary file, validate, rename. Nothing half-written is ever seen."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from market_maker.base.errors import DiskFullError


def write_atomic(path: Path, data: bytes, validate: Callable[[Path], None] | None = None) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory.

    ``validate`` is called on the temporary file and may raise; then the
    temporary file is removed and whatever stood at ``path`` is untouched.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _named(exc, path) from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if validate is not None:
            validate(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a data file is for every reader
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise _named(exc, path) from exc
        raise


def _named(exc: OSError, path: Path) -> OSError | DiskFullError:
    """A full disk as one line naming the file (the OS's error names none: the write was to
    an open file); any other OS error as it is."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(
            f"no space left on the device writing {path} ({os.strerror(exc.errno)}): nothing "
            "was replaced; free some space and run again"
        )
    return exc
