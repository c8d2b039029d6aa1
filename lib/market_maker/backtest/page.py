"""The backtest report files, ``backtests/{name}/report.yaml`` and ``report.html``.

The page is built like the dashboard: one self-contained HTML file, Chart.js inlined from the
dashboard's vendored build, the hourly series embedded as JSON. The tables are rendered here,
so they read without JavaScript; only the two charts are drawn in the browser.
"""

from __future__ import annotations

import html
import json
import math
import re
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from market_maker.backtest.parameters import RUN_NAME, BacktestParameters
from market_maker.backtest.results import BACKTESTS_DIR, BASELINES, VARIANTS, BacktestReport
from market_maker.base.atomic import write_atomic
from market_maker.base.errors import DataError
from market_maker.base.identifiers import inside
from market_maker.base.yaml_files import dump, load_model
from market_maker.dashboard.page import CHARTJS
from market_maker.kpis.model import Kpi, KpiValue
from market_maker.store.file_kinds import FileKind

TEMPLATE = "report_template.html"
REPORT_YAML = "report.yaml"
REPORT_HTML = "report.html"
DATA_ID = 'id="backtest-data"'
# Exit states drawn as markers on the price chart (NORMAL is the quiet background).
MARKED_STATES = ("WARNING", "LATEST_ACCEPTABLE_EXIT", "MANDATORY_EXIT")
FIGURES = (
    ("pnl", "PnL (USD)", "usd"),
    ("realized", "realized (USD)", "usd"),
    ("unrealized_at_stops", "unrealized at stops (USD)", "usd"),
    ("fees", "fees (USD)", "usd"),
    ("fills", "fills", "int"),
    ("pairs", "pairs", "int"),
    ("grids", "grids", "int"),
    ("max_drawdown", "max drawdown (USD)", "usd"),
    ("max_drawdown_pct", "max drawdown (of capital)", "pct"),
    ("time_in_market", "time in market", "pct"),
)


# -- files -------------------------------------------------------------------------------


def write_report(root: Path, report: BacktestReport, series: dict[str, Any]) -> list[Path]:
    """Write ``backtests/{name}/report.html`` then ``report.yaml`` atomically; the paths written.

    The YAML is written last, so its presence means the run's files are complete. A rerun
    with the same results writes nothing (only a page missing since is written again); other
    results under the same name are refused, never overwritten.
    """
    if not re.fullmatch(RUN_NAME, report.name):
        raise DataError(f"backtest name {report.name!r} is not a valid folder name")
    folder = inside(root, Path(BACKTESTS_DIR, report.name))
    yaml_path, html_path = folder / REPORT_YAML, folder / REPORT_HTML
    data = dump(report.model_dump(mode="json"))
    if yaml_path.exists() and not _same_report(yaml_path, data, report):
        raise DataError(
            f"{yaml_path}: a backtest report named {report.name} already exists with other "
            "results; choose another name"
        )
    written = []
    if not yaml_path.exists() or not html_path.exists():
        page = render_page(report, series).encode()
        if not (html_path.exists() and html_path.read_bytes() == page):
            write_atomic(html_path, page, lambda tmp: check_report_page(tmp, html_path))
            written.append(html_path)
    if not yaml_path.exists():

        def validate_yaml(tmp: Path) -> None:
            if load_model(tmp.read_bytes(), BacktestReport, str(yaml_path)) != report:
                raise DataError(f"{yaml_path}: the backtest report does not read back equal")

        write_atomic(yaml_path, data, validate_yaml)
        written.append(yaml_path)
    return written


def _same_report(path: Path, data: bytes, report: BacktestReport) -> bool:
    # Bytes first (the common rerun); the model compare accepts a file dumped differently.
    return path.read_bytes() == data or read_report(path) == report


def read_report(path: Path) -> BacktestReport:
    """A ``report.yaml``, validated; a DataError names the file and every field at fault."""
    return load_model(path.read_bytes(), BacktestReport, str(path), kind="backtest report")


def check_report_files(path: Path, relative: Path) -> None:
    """A file found uncommitted under ``backtests/``: a report that reads back under its own
    name, or a page that carries its data beside such a report. The page is written first, so
    a page alone is what a backtest stopped before it finished leaves: not committed."""
    if len(relative.parts) == 3 and relative.name == REPORT_YAML:
        _check_report_yaml(path, relative)
    elif len(relative.parts) == 3 and relative.name == REPORT_HTML:
        check_report_page(path, relative)
        companion = relative.with_name(REPORT_YAML)
        if not path.with_name(REPORT_YAML).is_file():
            raise DataError(
                f"{relative}: a report page without its {companion.name} (a backtest stopped "
                "before it finished)"
            )
        try:
            _check_report_yaml(path.with_name(REPORT_YAML), companion)
        except DataError as exc:
            raise DataError(f"{relative}: its {companion.name} is invalid ({exc})") from None
    else:
        raise DataError(f"{relative}: not a file a backtest writes")


def _check_report_yaml(path: Path, relative: Path) -> None:
    report = read_report(path)
    if report.name != relative.parts[1]:
        raise DataError(f"{relative}: holds the backtest {report.name!r}")


def check_report_page(path: Path, name: Path | None = None) -> None:
    if DATA_ID.encode() not in path.read_bytes():
        raise DataError(f"{name or path}: the report page has no data")


# -- page --------------------------------------------------------------------------------


def render_page(report: BacktestReport, series: dict[str, Any]) -> str:
    """The report page: deterministic (same report and series, same bytes), nothing loaded
    from the network."""
    dashboard = resources.files("market_maker.dashboard")
    chartjs = dashboard.joinpath(CHARTJS).read_text()
    template = resources.files("market_maker.backtest").joinpath(TEMPLATE).read_text()
    # JSON inside <script>: "</" would end the element early.
    payload = json.dumps(
        page_data(report, series), separators=(",", ":"), sort_keys=True, allow_nan=False
    ).replace("</", "<\\/")
    parts = {
        "TITLE": html.escape(f"Backtest {report.name}: {report.symbol}"),
        "SUBTITLE": _subtitle(report),
        "PARAMETERS": _parameters(report.parameters),
        "HEADLINE": _headline(report),
        "FIGURES": _figures(report),
        "KPIS": _kpis(report),
        "MONTHLY": _monthly(report),
        "PREFLIGHT": _preflight(report),
        "GRIDS": _grids(report),
        "DATA": payload,
        "CHARTJS": chartjs.replace("</script", "<\\/script"),
    }
    # One pass over the template's own placeholders: a value (a name, a reason, Chart.js)
    # that happens to contain "__X__" is never substituted again.
    return re.sub(r"__([A-Z]+)__", lambda m: parts[m.group(1)], template)


def page_data(report: BacktestReport, series: dict[str, Any]) -> dict[str, Any]:
    """What the charts draw, from :func:`market_maker.backtest.run.series`: the hourly lines
    as they are (the browser decimates them), bounds and regimes compressed to their changes."""
    t = [int(s) for s in series["t"]]
    close = [_num(c) for c in series["close"]]
    states = [
        [t[k], close[k], s]
        for k, s in enumerate(series["exit_state"])
        if s in MARKED_STATES and close[k] is not None
    ]
    return {
        "start": _seconds(report.start),
        "end": _seconds(report.end),
        "t": t,
        "close": close,
        "pnl": {name: [_num(x) for x in series["pnl"][name]] for name in VARIANTS},
        "lower": _steps(t, series["lower"]),
        "upper": _steps(t, series["upper"]),
        "regimes": _runs(t, series["verdict"]),
        "states": states,
        "fills": [[int(s), _num(p), side] for s, p, side in series["fills"]],
    }


def _num(x: Any) -> float | None:
    """A finite float, else None: JSON has no NaN, and a gap is drawn as a gap."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def _steps(t: list[int], values: list[float | None]) -> list[list[Any]]:
    """The first and last hour of every run of equal values, [t, value or None]: a stepped
    line through them is the same as through every hour, with far fewer points."""
    v = [_num(x) for x in values]
    n = len(v)
    return [
        [t[k], v[k]] for k in range(n) if k in (0, n - 1) or v[k] != v[k - 1] or v[k] != v[k + 1]
    ]


def _runs(t: list[int], verdicts: list[str | None]) -> list[list[Any]]:
    """Runs of one regime verdict: [first hour, end (exclusive), verdict]; None is left out."""
    out: list[list[Any]] = []
    for k, verdict in enumerate(verdicts):
        if verdict is None:
            continue
        if out and out[-1][2] == verdict and out[-1][1] == t[k]:
            out[-1][1] = t[k] + 3600
        else:
            out.append([t[k], t[k] + 3600, verdict])
    return out


# -- tables ------------------------------------------------------------------------------


def _esc(value: object) -> str:
    return html.escape(str(value))


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


def _nw(text: str) -> str:
    """Kept on one line: a date or a price range split in two reads as two values."""
    return f'<span class="nw">{text}</span>'


def _usd(x: float | None, *, signed: bool = False) -> str:
    if x is None:
        return '<span class="empty">-</span>'
    text = f"{x:+,.2f}" if signed else f"{x:,.2f}"
    cls = "neg" if x < 0 else ("pos" if signed and x > 0 else "")
    return f'<span class="{cls}">{text}</span>' if cls else text


def _fmt(x: float | int, kind: str) -> str:
    if kind == "usd":
        return _usd(float(x))
    if kind == "pct":
        return f"{100 * x:.2f} %"
    return f"{int(x):,}"


def _table(head: list[str], rows: list[list[str]], *, cls: str = "") -> str:
    """An HTML table from cells already escaped; numbers right-aligned by the ``num`` class."""
    attr = f' class="{cls}"' if cls else ""
    thead = "".join(f"<th>{h}</th>" for h in head)
    body = "\n".join(
        "<tr>" + "".join(_cell(c, first=i == 0) for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table{attr}><thead><tr>{thead}</tr></thead><tbody>\n{body}\n</tbody></table>"


def _cell(content: str, *, first: bool) -> str:
    return f"<td>{content}</td>" if first else f'<td class="num">{content}</td>'


def _subtitle(report: BacktestReport) -> str:
    hours = int((report.end - report.start).total_seconds() // 3600)
    return _esc(
        f"{_when(report.start)} to {_when(report.end)} UTC ({hours:,} h) · "
        f"data {report.preflight.data_file} · config {report.config_version[:10]} · "
        f"code {report.code_version[:10]}"
    )


def _parameters(p: BacktestParameters) -> str:
    if p.placement == "protocol":
        placement = (
            f"protocol: a grid at the price ± {p.half_width_pct:g} % every {p.cadence_hours} h"
        )
    else:
        placement = "system: the live lifecycle's own setups, probation and stops"
    items = [
        f"placement {placement}",
        f"{p.levels} {p.spacing} levels, {p.capital:,.0f} USDT per grid",
        f"act on {p.act_on}, {p.delay_minutes} min after the recommendation",
        f"maker fee {100 * p.fee_rate:g} %, exit (taker) fee {100 * p.exit_fee_rate:g} %",
        f"ADX baseline above {p.adx_threshold:g}",
    ]
    if p.stop_loss_pct is not None:
        items.append(f"stop-loss {p.stop_loss_pct:g} % below the lower bound")
    if p.overrides:
        # Sorted: the page must not depend on the order the overrides were given in.
        changed = ", ".join(f"{k} = {p.overrides[k]!r}" for k in sorted(p.overrides))
        items.append(f"overrides: {changed}")
    return " · ".join(_esc(i) for i in items)


def _headline(report: BacktestReport) -> str:
    rows = [
        [
            f"<b>{_esc(h.baseline)}</b><br><small>{_esc(BASELINES[h.baseline])}</small>",
            _usd(h.pnl_system),
            _usd(h.pnl_baseline),
            _usd(h.pnl_difference, signed=True),
            _usd(h.mec_system),
            _usd(h.mec_baseline),
        ]
        for h in report.headline
    ]
    head = [
        "system versus",
        "PnL system",
        "PnL baseline",
        "difference",
        "MEC system",
        "MEC baseline",
    ]
    return _table(head, rows)


def _figures(report: BacktestReport) -> str:
    names = list(report.variants)
    rows = [
        [_esc(label), *(_fmt(getattr(report.variants[n], key), kind) for n in names)]
        for key, label, kind in FIGURES
    ]
    return _table(["", *(_esc(n) for n in names)], rows)


def _kpis(report: BacktestReport) -> str:
    names = list(report.variants)
    rows = []
    for kpi in Kpi:
        values = [report.variants[n].kpis.get(kpi) for n in names]
        note = next((v.note for v in values if v is not None), "")
        target = next((v.target for v in values if v is not None and v.target), None)
        rows.append(
            [
                f'<abbr title="{_esc(note)}">{kpi.value}</abbr>',
                _esc(target or "-"),
                *(_kpi_cell(v) for v in values),
            ]
        )
    return _table(["KPI", "target", *(_esc(n) for n in names)], rows, cls="kpis")


def _kpi_cell(v: KpiValue | None) -> str:
    """Value and unit, then what it is counted from, then the target's verdict."""
    if v is None:
        return '<span class="empty">-</span>'
    if v.value is None:
        value = '<span class="empty">nothing to measure</span>'
    elif v.unit == "ratio":
        value = f"{v.value:.3f}"
    elif v.unit == "USD":
        value = f"{v.value:,.2f} USD"
    else:
        value = f"{v.value:g} {'h' if v.unit == 'hours' else 'min'}"
    if v.numerator is not None:
        counts = f"{v.numerator:g} / {v.denominator}"
    else:
        counts = f"n = {v.denominator}"
    if v.pending:
        counts += f", {v.pending} pending"
    verdict = ""
    if v.met is True:
        verdict = '<br><span class="met">target met</span>'
    elif v.met is False:
        verdict = '<br><span class="missed">target missed</span>'
    return f"{value}<br><small>{_esc(counts)}</small>{verdict}"


def _monthly(report: BacktestReport) -> str:
    system = report.variants["system"]
    others = [n for n in report.variants if n != "system"]
    by_month = {n: {m.month: m.pnl for m in report.variants[n].monthly} for n in others}
    rows = [
        [
            _esc(m.month),
            _usd(m.pnl),
            f"{m.fills:,}",
            str(m.grids_started),
            str(m.breaks),
            str(m.exit_signals),
            *(_usd(by_month[n].get(m.month)) for n in others),
        ]
        for m in system.monthly
    ]
    head = [
        "month",
        "PnL system",
        "fills",
        "grids started",
        "breaks",
        "exit signals",
        *(f"PnL {_esc(n)}" for n in others),
    ]
    return _table(head, rows)


def _preflight(report: BacktestReport) -> str:
    d = report.preflight
    status = "ok" if d.ok else "not ok"
    gaps = ", run with allow_gaps" if d.allow_gaps else ""
    summary = (
        f"<p>{_esc(d.data_file)}: {d.rows:,} rows, {_esc(_when(d.first))} to "
        f"{_esc(_when(d.last))} UTC, {status}{gaps}.</p>"
    )
    if not d.findings:
        return summary + '<p class="empty">No findings.</p>'
    items = "".join(f"<li>{_esc(f)}</li>" for f in d.findings)
    return f"{summary}<ul>{items}</ul>"


def _grids(report: BacktestReport) -> str:
    names = list(VARIANTS)
    rows = []
    for g in report.grids:
        stops = []
        for n in names:
            s = g.stops.get(n)  # type: ignore[call-overload]
            stops.append(
                '<span class="empty">-</span>'
                if s is None
                else f"{_nw(_esc(_when(s.at)))} · {_usd(s.pnl)}<br><small>{_esc(s.reason)}, "
                f"{s.fills} fills</small>"
            )
        rows.append(
            [
                f"{_esc(g.id)}<br><small>{_esc(g.reason)}</small>",
                f"{_nw(_esc(_when(g.placed_at)))}<br>"
                f"<small>life to {_nw(_esc(_when(g.life_end)))}</small>",
                _nw(f"{g.lower:,.2f} – {g.upper:,.2f}"),
                str(g.levels),
                *stops,
            ]
        )
    if not rows:
        return '<p class="empty">No grid was placed.</p>'
    head = ["grid", "placed", "bounds", "levels", *(f"{_esc(n)} stop · PnL" for n in names)]
    return _table(head, rows, cls="grids")


REPORT_FILES = FileKind(
    "backtest report",
    lambda rel: rel.parts[0] == BACKTESTS_DIR,
    lambda root, rel: check_report_files(root / rel, rel),
)
