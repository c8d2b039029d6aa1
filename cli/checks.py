"""What the commands check before a flow run starts (and before the Prefect server does).

A command's ``check_*`` function (next to its ``cmd_*``, named in the parser) raises
:class:`ParameterError` or :class:`ConfigurationError`: ``main`` prints one line and exits 2,
and no flow run is created for the mistake. The flows check the same again for runs started
from the UI or a deployment.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from market_maker.base.errors import ParameterError
from market_maker.base.hour_span import HourSpan
from market_maker.config import Settings, load_settings
from market_maker.store.location import check_base_path


def settings_for(symbols: Iterable[str] | None) -> Settings:
    """The settings in force; every symbol asked for must be configured, and the data
    repository's working copy must have a place of its own."""
    settings = load_settings()
    settings.require_symbols(list(symbols or []))
    check_base_path(settings.resolve(settings.data_repository.base_path), settings.project_root)
    return settings


def check_data_repository(args: argparse.Namespace) -> None:
    """For the commands that open the data repository and check nothing else."""
    settings_for(None)


def check_hours(
    settings: Settings,
    *,
    hour: datetime | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> None:
    """``hour``, or ``start`` and ``end`` in order, or none: each on a collection period."""
    if hour is None and start is None and end is None:
        return
    HourSpan.of(
        hour,
        start,
        end,
        default=lambda: hour,  # never called: something was given
        period_minutes=settings.snapshots.period_minutes,
    )


def existing_file(option: str, path: str | Path) -> Path:
    """``path`` when it is a file; a ParameterError naming ``option`` otherwise."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ParameterError(f"{option}: {path} {what}")
    return path
