"""KPI tables for people: the command line, the flow's artifacts, the demo."""

from __future__ import annotations

from datetime import date

from market_maker.kpis.model import WINDOWS, Kpi, KpiFile, KpiValue

NAMES = {
    Kpi.SLAR: "stop-loss avoidance rate",
    Kpi.PRR: "profit retention rate",
    Kpi.TTDR: "time to detect (median h)",
    Kpi.FER: "false exit rate",
    Kpi.ERT: "exit response time (median min)",
    Kpi.EAW: "exit advance warning",
    Kpi.MEC: "missed exit cost (USD)",
}


COUNTED = (Kpi.SLAR, Kpi.FER, Kpi.EAW)  # ratios of events: numerator / denominator


def cell(kpi: Kpi, v: KpiValue) -> str:
    """The value with its counts: ``0.25 (1/4)``, ``-3.0 h (n=2)``, ``- (0 events)``."""
    if v.value is None:
        shown = "-"
    elif v.unit == "ratio":
        shown = f"{v.value:.2f}"
    elif v.unit == "USD":
        shown = f"{v.value:,.2f}"
    else:
        shown = f"{v.value:g}"
    if kpi in COUNTED and v.numerator is not None:
        counts = f"{v.numerator:g}/{v.denominator}"
    else:
        counts = f"n={v.denominator}"
    extra = f", {v.pending} pending" if v.pending else ""
    mark = "" if v.met is None else (" ok" if v.met else " MISSED")
    return f"{shown} ({counts}{extra}){mark}"


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
    lines = ["  ".join(k.ljust(widths[k]) for k in keys)]
    lines += ["  ".join(r[k].ljust(widths[k]) for k in keys) for r in rows]
    head = f"KPIs of {file.date} (as of {file.as_of:%Y-%m-%dT%H:%MZ})"
    if file.no_events:
        head += ": no events on this day"
    return "\n".join([head, *lines])


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


def kpi_period_table(service, first: date, last: date) -> str:
    """The KPIs over a whole period (every event from ``first`` to the end of ``last``)."""
    values = service.period_kpis(first, last)
    lines = [f"KPIs of {first} .. {last}:"]
    width = max(len(NAMES[k]) for k in Kpi)
    for kpi in Kpi:
        target = values[kpi].target or ""
        lines.append(f"  {kpi.value:5} {NAMES[kpi]:{width}}  {cell(kpi, values[kpi]):24} {target}")
    return "\n".join(lines)
