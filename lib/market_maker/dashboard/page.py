"""What the pages share and a dashboard page must hold (no run context: the leftover check
of the data repository imports it)."""

from __future__ import annotations

from pathlib import Path

from market_maker.base.errors import DataError
from market_maker.store.file_kinds import FileKind

DATA_ID = b'id="dashboard-data"'
# The vendored Chart.js build every page inlines (see assets/README.md).
CHARTJS = "assets/chart.umd.min.js"


def check_dashboard_page(path: Path, name: Path | None = None) -> None:
    """A DataError naming ``name`` (default ``path``) when the page carries no data."""
    if DATA_ID not in path.read_bytes():
        raise DataError(f"{name or path}: the dashboard page has no data")


DASHBOARD_PAGE = FileKind(
    "dashboard",
    lambda rel: rel == Path("dashboard", "index.html"),
    lambda root, rel: check_dashboard_page(root / rel, rel),
)
