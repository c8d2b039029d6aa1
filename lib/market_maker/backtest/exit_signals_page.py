"""The exit-signal study as one markdown page: the diagnosis of the configuration as it
stood, then the walk-forward tuning in both directions, its curves, money and alerts."""

from __future__ import annotations

from collections.abc import Callable

from market_maker.backtest.exit_signals import markdown, tables
from market_maker.backtest.exit_tuning import (
    BEFORE,
    POLICIES,
    WIDTHS,
    Direction,
    Pooled,
    pooled,
    walk_forward,
)
from market_maker.config import Settings


def _ratio(pair: tuple[int, int]) -> str:
    a, b = pair
    return f"{a / b:.2f} ({a}/{b})" if b else "-"


def _pooled_ratio(p: Pooled, name: str) -> str:
    a, b = p._sum(name)
    return _ratio((a, b))


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def diagnosis(studies_by_run: list) -> str:
    parts = []
    for title, (header, rows) in tables(studies_by_run).items():
        parts.append(f"#### {title[0].upper()}{title[1:]}\n\n{markdown(header, rows)}")
    return "\n\n".join(parts)


def direction_tables(d: Direction) -> str:
    lines = [
        f"### Tuned on {d.train}, reported on {d.test}",
        "",
        f"Model fitted on {d.train} ({d.model.samples} grid-hours, base rate "
        f"{d.model.base_rate:.0%}): `{d.model.coefficients}`. Log loss on {d.test} (lower is "
        f"better): `{d.out_of_sample_log_loss}`. Chosen on {d.train}: `{_knobs(d.chosen)}`.",
        "",
        "| year | role | width | FER before | FER after | EAW before | EAW after |",
        "|---|---|---|---|---|---|---|",
    ]
    for year, role in ((d.train, "train"), (d.test, "**test**")):
        for k, width in enumerate(WIDTHS):
            b, a = d.before[year].cases[k], d.after[year].cases[k]
            lines.append(
                f"| {year} | {role} | ±{width:g} % | {_ratio(b.fer)} | {_ratio(a.fer)} | "
                f"{_ratio(b.eaw)} | {_ratio(a.eaw)} |"
            )
    lines += [
        "",
        f"Money on the test year {d.test} (USD, grids of 10,000; MEC: missed-exit cost):",
        "",
        "| width | policy | PnL before | PnL after | MEC before | MEC after |",
        "|---|---|---|---|---|---|",
    ]
    for k, width in enumerate(WIDTHS):
        for name in POLICIES:
            b, a = d.before[d.test].cases[k], d.after[d.test].cases[k]
            lines.append(
                f"| ±{width:g} % | {name} | {_money(b.pnl[name])} | {_money(a.pnl[name])} | "
                f"{_money(b.mec[name])} | {_money(a.mec[name])} |"
            )
    lines += [
        "",
        f"Alerts per week on {d.test}, by Pushover priority (-1 eased, 0 WARNING, "
        "1 LATEST, 2 MANDATORY), per grid width:",
        "",
        "| width | before -1/0/1/2 | after -1/0/1/2 |",
        "|---|---|---|",
    ]
    for k, width in enumerate(WIDTHS):
        b, a = d.before[d.test].cases[k], d.after[d.test].cases[k]
        lines.append(
            f"| ±{width:g} % | {_alerts(b.alerts_per_week)} | {_alerts(a.alerts_per_week)} |"
        )
    lines += [
        "",
        f"FER against warned share (EAW), both widths pooled, every candidate: chosen on "
        f"{d.train}, shown on {d.test} too.",
        "",
        f"| candidate | FER {d.train} | EAW {d.train} | FER {d.test} | EAW {d.test} |",
        "|---|---|---|---|---|",
    ]
    for tr, te in zip(d.curve_train, d.curve_test, strict=True):
        mark = " (chosen)" if tr.values == d.chosen else ""
        lines.append(
            f"| {tr.label}{mark} | {_pooled_ratio(tr, 'fer')} | {_pooled_ratio(tr, 'eaw')} | "
            f"{_pooled_ratio(te, 'fer')} | {_pooled_ratio(te, 'eaw')} |"
        )
    return "\n".join(lines)


def _alerts(a: dict[int, float]) -> str:
    return " / ".join(f"{a.get(p, 0.0):.1f}" for p in (-1, 0, 1, 2))


def _knobs(values: dict) -> dict:
    return {
        k.removeprefix("exit_strategy."): v
        for k, v in values.items()
        if ".coefficients." not in k and not k.endswith(".enabled")
    }


def render(
    data_file: str, settings: Settings, say: Callable[[str], None] = lambda text: None
) -> tuple[str, list[Direction]]:
    """The whole study: diagnosis of the settings as given, then both walk-forward directions."""
    before = [
        pooled(data_file, settings, y, "before", BEFORE, keep_study=True) for y in ("2022", "2023")
    ]
    studies = [c.study for p in before for c in p.cases if c.study is not None]
    say("diagnosed the configuration as given")
    directions = [
        walk_forward(data_file, settings, "2022", "2023", say),
        walk_forward(data_file, settings, "2023", "2022", say),
    ]
    page = [
        "## Diagnosis (the configuration as given, 2022 and 2023, ±4 % and ±8 %)",
        "",
        diagnosis(studies),
        "",
        "## Walk-forward",
        "",
        *(direction_tables(d) + "\n" for d in directions),
    ]
    return "\n".join(page), directions
