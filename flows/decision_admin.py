"""Operator commands on decisions: record what was done about a recommendation."""

from __future__ import annotations

from datetime import datetime, timedelta

from flows.grid_admin import writing
from market_maker.decisions.store import DecisionStore
from market_maker.timeutil import format_utc


def decision_act(decision_id: str, action: str, at: datetime, note: str | None) -> str:
    """Append an action entry to a decision: executed, declined or ignored, at ``at``.

    An action before the decision was issued is refused; one after it expired is recorded,
    marked late (the recommendation may no longer hold).
    """
    with writing("decision act") as ctx:
        grace = timedelta(minutes=ctx.settings.kpis.late_action_minutes)
        path, data = DecisionStore(ctx.store.path).act(
            decision_id, action, at, note=note, grace=grace
        )
        ctx.store.commit(
            f"decision act: {decision_id} {action} {format_utc(at)}\n\n{note or 'no note'}\n",
            [path],
        )
    result = ctx.store.push()
    late = " (late: the decision had expired)" if data.late else ""
    return f"{decision_id}: {action} at {format_utc(at)} recorded{late} ({result.detail})"
