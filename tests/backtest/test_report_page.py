"""The backtest report files and page: written once, read back equal, drawn offline.

One real run per module: the protocol placement over July 2023 of the recorded sample
(five weekly grids, two range breaks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from market_maker.backtest.page import (
    REPORT_HTML,
    REPORT_YAML,
    _steps,
    read_report,
    render_page,
    write_report,
)
from market_maker.backtest.parameters import parse_parameters
from market_maker.backtest.results import BacktestReport, DataHealth
from market_maker.backtest.run import run_backtest
from market_maker.backtest.scoring import figures, grid_figures, headline, series
from market_maker.base.errors import DataError
from market_maker.config.loader import load_settings
from market_maker.exchange.replay import load_recorded_minutes
from tests.browser import Browser, chromium
from tests.conftest import SAMPLE_FILE


@dataclass(frozen=True)
class Built:
    report: BacktestReport
    series: dict[str, Any]


@pytest.fixture(scope="module")
def built() -> Built:
    minutes = load_recorded_minutes(SAMPLE_FILE)
    settings = load_settings()
    params = parse_parameters(dict(start="2023-07-01T00:00:00Z", end="2023-08-01T00:00:00Z"))
    run = run_backtest(params, settings, minutes)
    fig = figures(run)
    report = BacktestReport(
        name="t",
        symbol=params.symbol,
        start=params.start,
        end=params.end,
        parameters=params,
        preflight=DataHealth(
            data_file="sample",
            rows=len(minutes),
            first=None,
            last=None,
            ok=True,
            allow_gaps=False,
            findings=[],
        ),
        variants=fig,
        headline=headline(fig),
        grids=grid_figures(run),
        hours=run.hour_rows(),
        config_version="x",
        code_version="y",
    )
    return Built(report, series(run))


def folder(root: Path) -> Path:
    return root / "backtests" / "t"


# -- files -------------------------------------------------------------------------------


def test_write_report_writes_the_yaml_and_the_page(built: Built, tmp_path: Path) -> None:
    written = write_report(tmp_path, built.report, built.series)

    yaml_path, html_path = folder(tmp_path) / REPORT_YAML, folder(tmp_path) / REPORT_HTML
    assert sorted(written) == sorted([yaml_path, html_path])
    assert html_path.read_text() == render_page(built.report, built.series)
    assert read_report(yaml_path) == built.report
    assert not list(folder(tmp_path).glob(".*.tmp"))  # no temporary file left behind


def test_a_rerun_with_the_same_results_writes_nothing(built: Built, tmp_path: Path) -> None:
    write_report(tmp_path, built.report, built.series)
    before = {p: p.stat().st_mtime_ns for p in folder(tmp_path).iterdir()}

    assert write_report(tmp_path, built.report, built.series) == []
    assert {p: p.stat().st_mtime_ns for p in folder(tmp_path).iterdir()} == before


def test_a_page_lost_since_is_written_again(built: Built, tmp_path: Path) -> None:
    write_report(tmp_path, built.report, built.series)
    (folder(tmp_path) / REPORT_HTML).unlink()

    assert write_report(tmp_path, built.report, built.series) == [folder(tmp_path) / REPORT_HTML]


def test_other_results_under_the_same_name_are_refused(built: Built, tmp_path: Path) -> None:
    write_report(tmp_path, built.report, built.series)
    files = {p: p.read_bytes() for p in folder(tmp_path).iterdir()}
    other = built.report.model_copy(update={"config_version": "another"})

    with pytest.raises(DataError) as info:
        write_report(tmp_path, other, built.series)

    yaml_path = folder(tmp_path) / REPORT_YAML
    assert str(info.value) == (
        f"{yaml_path}: a backtest report named t already exists with other results; "
        "choose another name"
    )
    assert {p: p.read_bytes() for p in folder(tmp_path).iterdir()} == files


def test_a_name_that_leaves_the_folder_is_refused(built: Built, tmp_path: Path) -> None:
    bad = built.report.model_copy(update={"name": "../escape"})
    with pytest.raises(DataError, match="not a valid folder name"):
        write_report(tmp_path, bad, built.series)
    assert not (tmp_path / "escape").exists()


def test_read_report_round_trips_equal(built: Built, tmp_path: Path) -> None:
    write_report(tmp_path, built.report, built.series)
    report = read_report(folder(tmp_path) / REPORT_YAML)

    assert report == built.report
    assert report.model_dump() == built.report.model_dump()


def test_read_report_names_the_file_at_fault(tmp_path: Path) -> None:
    path = tmp_path / REPORT_YAML
    path.write_text("schema_version: '1.0'\nname: t\n")
    with pytest.raises(DataError, match=f"^{path}: symbol: Field required"):
        read_report(path)


# -- page --------------------------------------------------------------------------------


def test_the_page_is_deterministic(built: Built) -> None:
    page = render_page(built.report, built.series)
    assert page == render_page(built.report, built.series)
    copied = built.report.model_validate(built.report.model_dump())
    assert render_page(copied, dict(built.series)) == page


def test_the_page_shows_the_figures_and_loads_nothing(built: Built) -> None:
    page = render_page(built.report, built.series)
    report = built.report

    assert "<title>Backtest t: ETH-USDT</title>" in page
    assert "2023-07-01 00:00 to 2023-08-01 00:00 UTC (744 h)" in page
    assert "act on LATEST_ACCEPTABLE_EXIT, 15 min after the recommendation" in page
    for h in report.headline:
        assert f"{h.pnl_difference:+,.2f}" in page
    for g in report.grids:
        assert g.id in page
    assert "No findings." in page
    assert "Chart.js v4" in page and 'id="backtest-data"' in page
    head = page.split("<script")[0]
    assert "http://" not in head and "https://" not in head  # no font, image or stylesheet


def test_text_from_the_report_is_escaped(built: Built) -> None:
    preflight = built.report.preflight.model_copy(
        update={"findings": ["gap <script>alert(1)</script> at 12:00"]}
    )
    page = render_page(built.report.model_copy(update={"preflight": preflight}), built.series)
    assert "<li>gap &lt;script&gt;alert(1)&lt;/script&gt; at 12:00</li>" in page


def test_grid_bounds_keep_only_the_steps_of_each_run() -> None:
    t = [0, 1, 2, 3, 4, 5, 6, 7]
    values = [None, 10.0, 10.0, 10.0, 12.0, None, None, 12.0]
    points = _steps(t, values)

    assert points == [[0, None], [1, 10.0], [3, 10.0], [4, 12.0], [5, None], [6, None], [7, 12.0]]
    # A line stepped "after" through the kept points has every hour's value.
    for k, v in zip(t, values, strict=True):
        assert [y for x, y in points if x <= k][-1] == v


# -- headless browser ----------------------------------------------------------------------

READY = "window.backtestReport && window.backtestReport.ready"
CHARTS = """(() => {
  const canvases = [...document.querySelectorAll('canvas')];
  const charts = Object.values(Chart.instances);
  return {
    charts: charts.length,
    drawn: canvases.map((c) => {
      const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let painted = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i]) painted++;
      return [c.id, painted];
    }),
    datasets: charts.flatMap((ch) => ch.data.datasets.map((d) => d.label)),
    closePoints: charts.find((ch) => ch.canvas.id === 'price').getDatasetMeta(0).data.length,
    report: window.backtestReport,
    fillsNote: document.getElementById('fills-note').textContent,
  };
})()"""


def open_page(page: Path) -> Any:
    if chromium() is None:
        pytest.fail("chromium is not installed: .ci/run installs it (apt-get install chromium)")
    with Browser() as browser:
        run = browser.open(page.as_uri(), READY, CHARTS)
    assert run.errors == []
    assert run.requests == [page.as_uri()]  # offline: the page loads nothing else
    return run.result


def test_the_report_page_loads_in_headless_chromium_and_every_chart_draws(
    built: Built, tmp_path: Path
) -> None:
    write_report(tmp_path, built.report, built.series)
    result = open_page(folder(tmp_path) / REPORT_HTML)

    assert result["charts"] == len(result["drawn"]) == 2
    for canvas, painted in result["drawn"]:
        assert painted > 1000, f"{canvas} drew nothing"
    assert {"system", "no_exit", "static_stop", "adx_rule"} <= set(result["datasets"])
    assert {"close", "grid lower", "grid upper", "WARNING", "buy fill", "sell fill"} <= set(
        result["datasets"]
    )
    fills = len(built.series["fills"])
    assert result["report"]["fills"] == {"total": fills, "drawn": fills}
    assert result["fillsNote"] == ""  # under the limit: every fill is drawn


def two_years(built: Built) -> tuple[BacktestReport, dict[str, Any]]:
    """The month's series repeated over two years (17,520 hours) with its fills: the size a
    two-year run gives the page."""
    s, month = built.series, len(built.series["t"])
    copies = -(-17_520 // month)
    hours = 17_520
    t0 = s["t"][0]

    def tile(values: list) -> list:
        return (values * copies)[:hours]

    fills = [
        [t + k * month * 3600, price, side]
        for k in range(copies)
        for t, price, side in s["fills"]
        if t + k * month * 3600 < t0 + hours * 3600
    ]
    big = {
        "t": [t0 + 3600 * k for k in range(hours)],
        **{key: tile(s[key]) for key in ("close", "lower", "upper", "verdict", "exit_state")},
        "pnl": {name: tile(values) for name, values in s["pnl"].items()},
        "fills": fills,
    }
    report = built.report.model_copy(update={"end": built.report.start + timedelta(hours=hours)})
    return report, big


def test_a_two_year_page_is_decimated_and_loads_fast(built: Built, tmp_path: Path) -> None:
    report, big = two_years(built)
    page = tmp_path / "two-years.html"
    page.write_text(render_page(report, big))
    result = open_page(page)

    for canvas, painted in result["drawn"]:
        assert painted > 1000, f"{canvas} drew nothing"
    assert result["closePoints"] < 17_520  # decimated to the chart's width
    total = len(big["fills"])
    assert total > 5_000 and result["report"]["fills"]["total"] == total
    assert result["report"]["fills"]["drawn"] <= 5_000
    assert result["fillsNote"].startswith(f"{total:,} fills: one marker is drawn per side")
    # A couple of seconds at most (about half a second here); generous for a loaded machine.
    assert result["report"]["renderedMs"] < 5_000
