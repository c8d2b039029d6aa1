"""Markdown renderings of analyses (for Prefect artifacts and the CLI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from market_maker.base.timeutil import format_utc
from market_maker.regime.model import VERDICTS, MetricRecord, MetricsFile

if TYPE_CHECKING:
    from market_maker.regime.stored_analysis import RangeSummary


def _value(m: MetricRecord) -> str:
    if m.value is None:
        return f"error: {m.error}"
    return f"{m.value:.4g}"


def metrics_markdown(record: MetricsFile) -> str:
    head = f"# {record.symbol} {format_utc(record.hour)}: "
    if record.verdict is None:
        head += f"refused, only {record.metrics_computable} of 6 metrics computable"
    else:
        head += f"{record.verdict}, confidence {record.confidence:.2f}"
    lines = [
        head,
        "",
        f"1h verdict {record.verdict_1h} (score {record.score}), 4h "
        f"{record.confirmation_4h.verdict}: {record.confirmation_4h.effect}. "
        f"Price {record.price:g}.",
        "",
        "| metric | 1h value | 1h vote | window | 4h value | 4h vote |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in record.metrics.items():
        m4 = record.confirmation_4h.metrics[name]
        lines.append(
            f"| {name} | {_value(m)} | {m.vote or '-'} | {m.window} | {_value(m4)} | "
            f"{m4.vote or '-'} |"
        )
    if record.penalties:
        lines += ["", "| penalty | amount | reason |", "|---|---|---|"]
        lines += [f"| {p.name} | {p.amount:.3f} | {p.reason} |" for p in record.penalties]
    if record.range:
        r = record.range
        lines += [
            "",
            f"Proposed range {r.lower:g} .. {r.upper:g} ({r.width_pct:.1f} %, "
            f"{r.inside_share:.0%} of closes inside over {r.window} h)",
        ]
    return "\n".join(lines)


def range_markdown(summary: RangeSummary) -> str:
    shares = summary.shares()
    lines = [
        f"# Regimes {summary.symbol}",
        "",
        *summary.lines()[:1],
        "",
        "| verdict | hours | share |",
        "|---|---|---|",
    ]
    for verdict in [*(str(v) for v in VERDICTS), "REFUSED"]:
        hours, share = summary.verdicts.get(verdict, 0), 100 * shares.get(verdict, 0)
        lines.append(f"| {verdict} | {hours} | {share:.1f} % |")
    if summary.invalid_reasons:
        lines += ["", "## Invalid snapshots (not analysed)", ""]
        lines += [f"- `{path}`: {why}" for path, why in summary.invalid_reasons]
    return "\n".join(lines)
