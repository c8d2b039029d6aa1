"""Operator commands on decisions: record what was done about a recommendation."""

from __future__ import annotations

from datetime import datetime, timedelta

from market_maker.base.timeutil import format_utc
from market_maker.decisions.model import SetupDecision
from market_maker.decisions.store import DecisionStore
from market_maker.lifecycle.setup_evaluator import (
    grid_from_promotion,
    grid_from_setup,
    place_approved,
)
from market_maker.operator.grids import writing


def decision_act(decision_id: str, action: str, at: datetime, note: str | None) -> str:
    """Append an action entry to a decision: executed, declined or ignored, at ``at``.

    An action before the decision was issued is refused; one after it expired is recorded,
    marked late (the recommendation may no longer hold).
    """
    created = None
    with writing("decision act") as ctx:
        store = DecisionStore(ctx.store.path)
        decision = store.read(store.find(decision_id))
        if action == "executed":
            # Approving a setup or a promotion places its grid: checked before anything is
            # written (an expired one is refused), then written with the action.
            if isinstance(decision, SetupDecision):
                grid_from_setup(decision, at)
            elif decision.promotion is not None:
                grid_from_promotion(decision, at)
        grace = timedelta(minutes=ctx.settings.kpis.late_action_minutes)
        path, data = store.act(decision_id, action, at, note=note, grace=grace)
        paths = [path]
        if action == "executed":
            placed, created = place_approved(
                ctx.store.path, decision, at, ctx.settings.grids.fee_rate
            )
            paths += placed
        ctx.store.commit(
            f"decision act: {decision_id} {action} {format_utc(at)}\n\n{note or 'no note'}\n",
            paths,
        )
    result = ctx.store.push()
    late = " (late: the decision had expired)" if data.late else ""
    made = f"; grid {created} created from it, running from {format_utc(at)}" if created else ""
    return f"{decision_id}: {action} at {format_utc(at)} recorded{late}{made} ({result.detail})"
