"""Markdown and text renderings of exit evaluations (artifacts, CLI, demo)."""

from __future__ import annotations

from market_maker.base.timeutil import format_utc
from market_maker.pipeline.outcomes import ExitOutcome


def outcome_markdown(outcomes: list[ExitOutcome]) -> str:
    lines = ["# Exit evaluation", ""]
    evaluated = [(o, o.evaluation) for o in outcomes if o.evaluation is not None]
    if not evaluated:
        return "\n".join(lines + [o.line() for o in outcomes])
    last, e = evaluated[-1]
    lines += [
        f"**{last.symbol}** grid `{last.grid_id}`: **{e.after}** "
        f"({last.decision.recommendation if last.decision else '-'}) at {format_utc(e.hour)}",
        "",
        "## What changed",
        "",
    ]
    changes = [ev.transition for _, ev in evaluated if ev.transition is not None]
    if not changes:
        lines.append("No transition.")
    for t in changes:
        if t is not None:
            lines.append(
                f"- {format_utc(t.timestamp)} {t.from_state} -> {t.to_state}: "
                + "; ".join(t.reasons)
            )
    lines += ["", "## What was sent", ""]
    sent = [o for o in outcomes if o.notification is not None]
    if not sent:
        lines.append("Nothing (" + (last.notify_reason or "no notification due") + ").")
    for o in sent:
        n = o.notification
        if n is None:
            continue
        channels = ", ".join(
            f"{d.channel}: {'ok' if d.ok else 'FAILED'} ({d.detail})" for d in o.deliveries
        )
        lines.append(f'- {format_utc(o.hour)} priority {n.priority} "{n.title}" via {channels}')
    return "\n".join(lines)
