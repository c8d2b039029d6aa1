"""The backtest's figures as markdown and table rows (artifacts, the CLI)."""

from __future__ import annotations

from market_maker.backtest.results import BASELINES, BacktestReport
from market_maker.backtest.sweep import SweepResult
from market_maker.kpis.model import Kpi
from market_maker.kpis.tables import cell


def headline_rows(report: BacktestReport) -> list[dict[str, str]]:
    """One row per policy: PnL, fees, fills, drawdown, time in market and the KPIs."""
    rows = []
    for name, v in report.variants.items():
        row = {
            "policy": name,
            "pnl": f"{v.pnl:,.2f}",
            "realized": f"{v.realized:,.2f}",
            "fees": f"{v.fees:,.2f}",
            "fills": str(v.fills),
            "max drawdown": f"{v.max_drawdown:,.2f}",
            "in market": f"{v.time_in_market:.0%}",
        }
        row.update({str(k): cell(k, v.kpis[k]) for k in Kpi})
        rows.append(row)
    return rows


def report_lines(report: BacktestReport) -> list[str]:
    """The CLI's summary: the difference the system makes, each policy's figures."""
    p = report.parameters
    grids = (
        f"protocol grids (±{p.half_width_pct:g} %, {p.levels} levels, every {p.cadence_hours} h)"
        if p.placement == "protocol"
        else "the system's own grids (the live lifecycle: setups, probation, promotions)"
    )
    out = [
        f"backtest {report.name}: {report.symbol} {p.start:%Y-%m-%d %H:%MZ} .. "
        f"{p.end:%Y-%m-%d %H:%MZ}, {grids}, operator acts on {p.act_on} after "
        f"{p.delay_minutes} min, fee {p.fee_rate:g}",
        f"grids: {len(report.grids)}, evaluated hours: {len(report.hours)}",
        "",
        f"{'policy':<18} {'PnL':>11} {'realized':>10} {'fees':>9} {'fills':>6} "
        f"{'max DD':>9} {'in mkt':>6}  " + "  ".join(f"{k.value:<14}" for k in Kpi),
    ]
    for name, v in report.variants.items():
        kpis = "  ".join(f"{cell(k, v.kpis[k]):<14}" for k in Kpi)
        out.append(
            f"{name:<18} {v.pnl:>11,.2f} {v.realized:>10,.2f} {v.fees:>9,.2f} {v.fills:>6} "
            f"{v.max_drawdown:>9,.2f} {v.time_in_market:>6.0%}  {kpis}"
        )
    out.append("")
    out.append("the system against each baseline (PnL difference: following the system minus it):")
    for h in report.headline:
        mec = (
            f"MEC {h.mec_system:,.2f} vs {h.mec_baseline:,.2f}"
            if h.mec_system is not None and h.mec_baseline is not None
            else "MEC -"
        )
        out.append(
            f"  vs {h.baseline:<18} PnL {h.pnl_system:>11,.2f} vs {h.pnl_baseline:>11,.2f}: "
            f"{h.pnl_difference:>+11,.2f}   {mec}"
        )
    if report.preflight.findings:
        out.append("")
        out.append("data findings:")
        out += [f"  {line}" for line in report.preflight.findings]
    return out


def report_markdown(report: BacktestReport) -> str:
    rows = headline_rows(report)
    head = list(rows[0])
    lines = [
        f"# Backtest {report.name}",
        "",
        f"{report.symbol}, {report.start:%Y-%m-%d %H:%MZ} .. {report.end:%Y-%m-%d %H:%MZ}: "
        f"{len(report.grids)} grids, {len(report.hours)} evaluated hours.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    lines += ["| " + " | ".join(r[h] for h in head) + " |" for r in rows]
    lines += [
        "",
        "| against | PnL system | PnL baseline | difference | MEC system | MEC baseline |",
    ]
    lines += ["|---|---|---|---|---|---|"]
    for h in report.headline:
        lines.append(
            f"| {h.baseline} ({BASELINES[h.baseline]}) | {h.pnl_system:,.2f} | "
            f"{h.pnl_baseline:,.2f} | {h.pnl_difference:+,.2f} | {_usd(h.mec_system)} | "
            f"{_usd(h.mec_baseline)} |"
        )
    if report.preflight.findings:
        lines += ["", "Data findings:", ""] + [f"- {x}" for x in report.preflight.findings]
    return "\n".join(lines) + "\n"


def sweep_markdown(results: list[SweepResult], rank_by: str) -> str:
    """One table: every point's figures on the training and on the test period, best first
    by ``rank_by`` on the test period."""
    if not results:
        return "No sweep point.\n"
    keys = list(results[0].values)
    head = ["rank", *keys, *(f"train {c}" for c in SweepResult.COLUMNS)]
    head += [f"test {c}" for c in SweepResult.COLUMNS]
    lines = [
        f"Ranked by **{rank_by}** on the test period (never used to choose).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for n, r in enumerate(results, 1):
        cells = [str(n), *(str(r.values[k]) for k in keys)]
        cells += [r.train.cell(c) for c in SweepResult.COLUMNS]
        cells += [r.test.cell(c) for c in SweepResult.COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"
