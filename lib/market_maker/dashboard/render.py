"""The dashboard page: the template, Chart.js inlined, the data embedded as JSON."""

from __future__ import annotations

import html
import json
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from market_maker.base.atomic import write_atomic
from market_maker.base.identifiers import inside
from market_maker.context import RunContext
from market_maker.dashboard.data import dashboard_data
from market_maker.dashboard.page import CHARTJS, check_dashboard_page

DASHBOARD = Path("dashboard", "index.html")


def render(data: dict[str, Any]) -> str:
    """The page for ``data``: deterministic, so a rerun over the same records is identical."""
    package = resources.files("market_maker.dashboard")
    template = package.joinpath("template.html").read_text()
    chartjs = package.joinpath(CHARTJS).read_text()
    # JSON inside <script>: "</" would end the element early.
    payload = json.dumps(data, separators=(",", ":"), sort_keys=True).replace("</", "<\\/")
    return (
        template.replace("__TITLE__", html.escape(data["title"]))
        .replace("__DATA__", payload)
        .replace("__CHARTJS__", chartjs.replace("</script", "<\\/script"))
    )


def write_page(path: Path, page: str) -> bool:
    """Write atomically; False (and nothing written) when the page is already that."""
    data = page.encode()
    if path.exists() and path.read_bytes() == data:
        return False

    write_atomic(path, data, lambda tmp: check_dashboard_page(tmp, path))
    return True


def write_dashboard(ctx: RunContext, day: date, out_dir: Path | None = None) -> list[Path]:
    """``dashboard/index.html`` in the data repository (or ``out_dir/index.html``) for the
    period ending with ``day``; the paths written (none when unchanged)."""
    path = out_dir / "index.html" if out_dir else inside(ctx.store.path, DASHBOARD)
    return [path] if write_page(path, render(dashboard_data(ctx, day))) else []
