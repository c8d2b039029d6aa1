"""The strategy study as markdown: the method's figures, every out-of-sample cell, the
targets, and the policy that ships (docs/strategy.md holds the page and its reading)."""

from __future__ import annotations

from typing import Any

from market_maker.backtest.results import BASELINES
from market_maker.backtest.walk_forward import Choice, StudySettings
from market_maker.backtest.walk_forward_detail import POLICIES, CellDetail, SplitReport


def policy_text(overrides: dict[str, Any]) -> str:
    if overrides.get("lifecycle.setup.enabled") is False:
        return "no grid (lifecycle.setup.enabled: false)"
    return ", ".join(f"{k.split('.', 1)[1]}={_value(v)}" for k, v in overrides.items())


def _value(v: Any) -> str:
    if isinstance(v, list):
        return "+".join(str(x) for x in v)
    return "off" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def _usd(x: float) -> str:
    return f"{x:,.0f}"


def render(
    study: StudySettings,
    reports: list[SplitReport],
    final: Choice,
    ranking: list[Choice],
    seconds: float,
) -> str:
    out = [
        "# Strategy study: results",
        "",
        f"{len(study.candidates())} candidate policies (no grid and "
        f"{len(study.candidates()) - 1} combinations of {len(study.knobs)} settings), "
        f"J = net PnL - {study.drawdown_penalty:g} x max drawdown, USD per "
        f"{study.backtest.capital:,.0f} USD grid. Study time: {seconds / 60:.1f} min.",
        "",
    ]
    for r in reports:
        out += _split(r, study)
    out += [
        "## The shipped policy (the same choice over both halves)",
        "",
        f"**{policy_text(final.overrides)}**: J {_usd(final.j)}, PnL {_usd(final.pnl)}, "
        f"drawdown {_usd(final.drawdown)}, {final.grids} grids over every cell.",
        "",
        "Best candidates over both halves:",
        "",
        "| # | policy | J | PnL | max DD | grids |",
        "|---|---|---:|---:|---:|---:|",
    ]
    out += [
        f"| {i + 1} | {policy_text(c.overrides)} | {_usd(c.j)} | {_usd(c.pnl)} | "
        f"{_usd(c.drawdown)} | {c.grids} |"
        for i, c in enumerate(ranking[:8])
    ]
    return "\n".join(out) + "\n"


def _split(r: SplitReport, study: StudySettings) -> list[str]:
    c = r.choice
    out = [
        f"## Tuned on {r.tuned_on}, reported on {r.reported_on}",
        "",
        f"Chosen on the tuning half: **{policy_text(c.overrides)}** (J {_usd(c.j)}, PnL "
        f"{_usd(c.pnl)}, drawdown {_usd(c.drawdown)}, {c.grids} grids). Out of sample: J "
        f"{_usd(r.oos.j)}, PnL {_usd(r.oos.pnl)}, drawdown {_usd(r.oos.drawdown)}, "
        f"{r.oos.grids} grids.",
        "",
        "Best five on the tuning half:",
        "",
        "| policy | J | PnL | max DD | grids |",
        "|---|---:|---:|---:|---:|",
    ]
    out += [
        f"| {policy_text(x.overrides)} | {_usd(x.j)} | {_usd(x.pnl)} | {_usd(x.drawdown)} | "
        f"{x.grids} |"
        for x in r.ranking[:5]
    ]
    out += ["", "### Every out-of-sample cell: the system's own placement and exits", ""]
    out += _money_table(r.cells)
    out += [
        "",
        f"System minus each baseline, summed over grids, with a "
        f"{study.bootstrap.interval:.0%} bootstrap interval (resampling grids, "
        f"{study.bootstrap.draws:,} draws):",
        "",
    ]
    out += _interval_table(r)
    out += ["", "### Protocol grids (the same exits on grids the system did not choose)", ""]
    out += _money_table(r.protocol)
    out += ["", "### FER against the share of breaks warned ahead (±5 % protocol grids)", ""]
    out += _curve_table(r, study)
    out += ["", "### Targets, out of sample", ""]
    out += _targets(r)
    return [*out, ""]


def _money_table(details: list[CellDetail]) -> list[str]:
    head = (
        "| cell | placement | grids | " + " | ".join(POLICIES) + " | DD system | DD static | FER |"
    )
    out = [head, "|---" * (len(POLICIES) + 6) + "|"]
    totals = {p: 0.0 for p in POLICIES}
    for d in details:
        for p in POLICIES:
            totals[p] += d.policies[p].pnl
        pnl = " | ".join(_usd(d.policies[p].pnl) for p in POLICIES)
        fer = f"{d.fer[0]:g}/{d.fer[1]}" if d.fer[1] else "-"
        out.append(
            f"| {d.label} | {d.placement} | {d.policies['system'].grids} | {pnl} | "
            f"{_usd(d.policies['system'].max_drawdown)} | "
            f"{_usd(d.policies['static_stop'].max_drawdown)} | {fer} |"
        )
    total = " | ".join(f"**{_usd(totals[p])}**" for p in POLICIES)
    out.append(f"| **all** | | | {total} | | | |")
    return out


def _interval_table(r: SplitReport) -> list[str]:
    names = list(BASELINES)
    out = [
        "| cell | " + " | ".join(f"vs {n}" for n in names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for label, by in r.intervals.items():
        cells = " | ".join(
            f"{_usd(s)} [{_usd(lo)}, {_usd(hi)}]" for s, lo, hi in (by[n] for n in names)
        )
        out.append(f"| {label} | {cells} |")
    return out


def _curve_table(r: SplitReport, study: StudySettings) -> list[str]:
    out = [f"| {study.fer_curve.setting} | FER | breaks warned ahead |", "|---:|---:|---:|"]
    for value in study.fer_curve.values:
        rows = [d for d in r.curve if d.placement == f"curve {value:g}"]
        false, judged = sum(d.fer[0] for d in rows), sum(d.fer[1] for d in rows)
        warned, breaks = sum(d.warned[0] for d in rows), sum(d.warned[1] for d in rows)
        fer = f"{false / judged:.2f} ({false:g}/{judged})" if judged else "-"
        eaw = f"{warned / breaks:.2f} ({warned:g}/{breaks})" if breaks else "-"
        out.append(f"| {value:g} | {fer} | {eaw} |")
    return out


def _targets(r: SplitReport) -> list[str]:
    t = r.targets

    def mark(ok: bool | None) -> str:
        return "met" if ok else "n/a" if ok is None else "missed"

    return [
        "| target | figure | |",
        "|---|---|---|",
        f"| total net PnL > 0 | {_usd(t['pnl'])} | {mark(t['pnl_positive'])} |",
        f"| system >= every baseline (no trading included) in 75 % of cells | "
        f"{t['cells_beating_every_baseline']} | {mark(t['beats_in_75pct'])} |",
        f"| max drawdown <= the static stop's | {_usd(t['max_drawdown'])} vs "
        f"{_usd(t['static_stop_max_drawdown'])} | {mark(t['drawdown_at_most_static'])} |",
        f"| FER < 30 % | {t['fer']} | {mark(t['fer_below_30pct'])} |",
    ]
