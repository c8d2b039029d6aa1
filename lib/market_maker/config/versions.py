"""Versions recorded in every file the system writes."""

from __future__ import annotations

import functools
import os
import subprocess

from market_maker import __version__
from market_maker.config.loader import CODE_VERSION_ENV, project_root


@functools.cache
def code_version() -> str:
    """Package version plus the source commit: from the image's build (environment) or Git."""
    if configured := os.environ.get(CODE_VERSION_ENV):
        return configured
    try:
        sha = _git("rev-parse", "--short=12", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{sha}{'.dirty' if dirty else ''}"


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=project_root(),
        capture_output=True,
        text=True,
        timeout=5,
        check=True,
    ).stdout.strip()
