"""KPI tables for people: the command line, the flow's artifacts, the demo."""

from __future__ import annotations

import textwrap
from datetime import date

from market_maker.kpis.model import WINDOWS, Kpi, KpiFile, KpiValue

# Each KPI's name and, in brackets, what its value counts (docs/kpis.md).
NAMES = {
    Kpi.SLAR: "stop-loss avoidance rate (share of breaks)",
    Kpi.PRR: "profit retention rate (kept / peak profit)",
    Kpi.TTDR: "time to detect (median h)",
    Kpi.FER: "false exit rate (share of exit signals)",
    Kpi.ERT: "exit response time (median min)",
    Kpi.EAW: "exit advance warning (share of breaks)",
    Kpi.MEC: "missed exit cost (USD)",
}

SUFFIX = {"hours": " h", "minutes": " min"}
# What a value below 0 means, for the KPIs where one can surprise.
BELOW_ZERO = {
    Kpi.PRR: "below 0, the stopped grids gave back more than their peak profit (PRR = "
    "profit kept at the stop / peak profit: -1 is a loss as large as the peak)",
    Kpi.TTDR: "below 0, the WARNING came that many hours before the break (hours from a "
    "break to its WARNING)",
}


COUNTED = (Kpi.SLAR, Kpi.FER, Kpi.EAW)  # ratios of events: numerator / denominator


def value_text(v: KpiValue) -> str:
    """The value alone: ``0.25``, ``1,234.50``, ``-3``; ``-`` when there is nothing."""
    if v.value is None:
        return "-"
    if v.unit == "ratio":
        return f"{v.value:.2f}"
    if v.unit == "USD":
        return f"{v.value:,.2f}"
    return f"{v.value:g}"


def cell(kpi: Kpi, v: KpiValue) -> str:
    """The value with its counts: ``0.25 (1/4)``, ``-3.0 h (n=2)``, ``- (0 events)``."""
    shown = value_text(v)
    if kpi in COUNTED and v.numerator is not None:
        counts = f"{v.numerator:g}/{v.denominator}"
    else:
        counts = f"n={v.denominator}"
    extra = f", {v.pending} pending" if v.pending else ""
    mark = "" if v.met is None else (" ok" if v.met else " MISSED")
    return f"{shown} ({counts}{extra}){mark}"


def notes(windows: dict[str, dict[Kpi, KpiValue]], width: int = 100) -> list[str]:
    """For each KPI whose value can surprise (below 0), what it means, wrapped at ``width``;
    the window is named when there are several."""
    lines = []
    for kpi, meaning in BELOW_ZERO.items():
        negative = [
            (name, v)
            for name, values in windows.items()
            if (v := values[kpi]).value is not None and v.value < 0
        ]
        if negative:
            shown = ", ".join(
                value_text(v) + SUFFIX.get(v.unit, "") + (f" ({name})" if len(windows) > 1 else "")
                for name, v in negative
            )
            text = f"{kpi.value} {shown}: {meaning}"
            lines += textwrap.wrap(text, width=width, subsequent_indent="  ")
    return lines


def kpi_rows(file: KpiFile) -> list[dict[str, str]]:
    rows = []
    for kpi in Kpi:
        row = {"KPI": kpi.value, "meaning": NAMES[kpi]}
        for window in WINDOWS:
            row[window] = cell(kpi, file.windows[window][kpi])
        row["target"] = file.windows["day"][kpi].target or ""
        rows.append(row)
    return rows


def kpi_table(file: KpiFile) -> str:
    rows = kpi_rows(file)
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in keys}
    lines = ["  ".join(k.ljust(widths[k]) for k in keys).rstrip()]
    lines += ["  ".join(r[k].ljust(widths[k]) for k in keys).rstrip() for r in rows]
    head = f"KPIs of {file.date} (as of {file.as_of:%Y-%m-%dT%H:%MZ})"
    if file.no_events:
        head += ": no events on this day"
    return "\n".join([head, *lines, *notes(dict(file.windows))])


def kpi_markdown(file: KpiFile) -> str:
    rows = kpi_rows(file)
    keys = list(rows[0])
    lines = [
        f"# KPIs of {file.date}",
        "",
        "No events on this day." if file.no_events else f"{len(file.events)} event(s) today.",
        "",
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
    ]
    lines += ["| " + " | ".join(r[k] for k in keys) + " |" for r in rows]
    if file.events:
        lines += ["", "## Events", ""]
        lines += [
            f"- {e.at:%Y-%m-%d %H:%M}Z {e.kind} {e.symbol} {e.grid_id}: {e.outcome}"
            + (f" ({e.decision})" if e.decision else "")
            for e in file.events
        ]
    return "\n".join(lines)


def kpi_period_table(service, first: date, last: date, width: int = 100) -> str:
    """The KPIs over a whole period (every event from ``first`` to the end of ``last``), and
    what a surprising value means (wrapped at ``width``)."""
    values = service.period_kpis(first, last)
    lines = [f"KPIs of {first} .. {last}:"]
    names = max(len(NAMES[k]) for k in Kpi)
    for kpi in Kpi:
        target = values[kpi].target or ""
        row = f"  {kpi.value:5} {NAMES[kpi]:{names}}  {cell(kpi, values[kpi])} {target}"
        lines.append(row.rstrip())
    return "\n".join([*lines, *notes({"period": values}, width)])
