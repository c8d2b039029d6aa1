"""The strategy study as markdown: the method's figures, every out-of-sample cell, the
targets, and the policy that ships (docs/strategy.md holds the page and its reading)."""

from __future__ import annotations

from typing import Any

from market_maker.backtest.results import BASELINES
from market_maker.backtest.walk_forward import Choice, StudySettings
from market_maker.backtest.walk_forward_detail import (
    POLICIES,
    CellDetail,
    PolicyReport,
    SplitReport,
)


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
    reference: dict[str, Choice] | None = None,
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
    if reference:
        out += [
            "The lifecycle as it was configured before the study (every filter off, the "
            "engine's exits), on each half:",
            "",
            "| half | J | PnL | max DD | grids |",
            "|---|---:|---:|---:|---:|",
        ]
        out += [
            f"| {name} | {_usd(c.j)} | {_usd(c.pnl)} | {_usd(c.drawdown)} | {c.grids} |"
            for name, c in reference.items()
        ]
        out.append("")
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
    c = r.chosen
    out = [
        f"## Tuned on {r.tuned_on}, reported on {r.reported_on}",
        "",
        f"Chosen on the tuning half: **{policy_text(c.choice.overrides)}** (J "
        f"{_usd(c.choice.j)}, PnL {_usd(c.choice.pnl)}, drawdown {_usd(c.choice.drawdown)}, "
        f"{c.choice.grids} grids). Out of sample: J {_usd(c.oos.j)}, PnL {_usd(c.oos.pnl)}, "
        f"drawdown {_usd(c.oos.drawdown)}, {c.oos.grids} grids.",
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
    out += [""]
    out += _policy(c, study, "The chosen policy")
    if r.trade_off is not None:
        t = r.trade_off
        out += [
            f"The best policy that places grids on the tuning half, **"
            f"{policy_text(t.choice.overrides)}** (J {_usd(t.choice.j)}), is the trade-off "
            f"a trader who wants grids anyway would take. Out of sample: J {_usd(t.oos.j)}, "
            f"PnL {_usd(t.oos.pnl)}, drawdown {_usd(t.oos.drawdown)}, {t.oos.grids} grids.",
            "",
        ]
        out += _policy(t, study, "The best policy that places grids")
    return out


def _policy(p: PolicyReport, study: StudySettings, title: str) -> list[str]:
    out = [f"### {title}: every out-of-sample cell, its own placement and exits", ""]
    out += _money_table(p.cells)
    out += [
        "",
        f"System minus each baseline, summed over grids, with a {study.bootstrap.interval:.0%} "
        f"bootstrap interval (resampling grids, {study.bootstrap.draws:,} draws):",
        "",
    ]
    out += _interval_table(p)
    out += ["", f"### {title}: its exits on protocol grids (grids it did not choose)", ""]
    out += _money_table(p.protocol)
    out += ["", f"### {title}: FER against the share of breaks warned (±5 % protocol)", ""]
    out += _curve_table(p, study)
    out += ["", f"### {title}: targets, out of sample", ""]
    out += _targets(p)
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


def _interval_table(r: PolicyReport) -> list[str]:
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


def _curve_table(r: PolicyReport, study: StudySettings) -> list[str]:
    out = [f"| {study.fer_curve.setting} | FER | breaks warned ahead |", "|---:|---:|---:|"]
    for value in study.fer_curve.values:
        rows = [d for d in r.curve if d.placement == f"curve {value:g}"]
        false, judged = sum(d.fer[0] for d in rows), sum(d.fer[1] for d in rows)
        warned, breaks = sum(d.warned[0] for d in rows), sum(d.warned[1] for d in rows)
        fer = f"{false / judged:.2f} ({false:g}/{judged})" if judged else "-"
        eaw = f"{warned / breaks:.2f} ({warned:g}/{breaks})" if breaks else "-"
        out.append(f"| {value:g} | {fer} | {eaw} |")
    return out


def _targets(r: PolicyReport) -> list[str]:
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
