"""The embedded default's remote: a local bare repository under var/, ours to make."""

from __future__ import annotations

import logging
from pathlib import Path

from git import Repo

from market_maker.config import Settings
from market_maker.config.models import DataRepositorySettings

log = logging.getLogger(__name__)

# The remote of the embedded default (config/default.yaml).
EMBEDDED_REMOTE = DataRepositorySettings.model_fields["remote_url"].default


def ensure_embedded_remote(settings: Settings) -> Path | None:
    """The embedded default's remote, created bare when missing: a first run of a fresh
    checkout makes it rather than warning that it cannot be reached. None for any other
    remote, which is the operator's (one that fails is warned about, never created)."""
    cfg = settings.data_repository
    if cfg.remote_url != EMBEDDED_REMOTE:
        return None
    path = settings.resolve(Path(EMBEDDED_REMOTE))
    if not path.exists():
        log.info("creating the local bare remote %s", path)
        Repo.init(path, bare=True, mkdir=True, initial_branch=cfg.branch)
    return path
