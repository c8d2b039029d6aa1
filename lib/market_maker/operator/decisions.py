"""Operator commands on decisions: record what was done about a recommendation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from market_maker.base.errors import ParameterError
from market_maker.base.timeutil import format_utc
from market_maker.decisions.model import SetupDecision
from market_maker.decisions.store import DecisionStore
from market_maker.lifecycle.setup_evaluator import (
    grid_from_promotion,
    grid_from_setup,
    place_approved,
)
from market_maker.operator.grids import writing


def check_not_future(at: datetime, option: str = "--at") -> None:
    """An action is recorded when it was done: never at a time still to come."""
    now = datetime.now(UTC)
    if at > now:
        raise ParameterError(
            f"{option} {format_utc(at)} is in the future (now {format_utc(now)}): record an "
            "action when it has been done"
        )


def decision_act(decision_id: str, action: str, at: datetime, note: str | None) -> str:
    """Append an action entry to a decision: executed, declined or ignored, at ``at``.

    An action before the decision was issued, or in the future, is refused; one after it
    expired is recorded, marked late (the recommendation may no longer hold). The same
    action again is a no-op; another after an executed or declined one is refused.
    """
    check_not_future(at)
    created = None
    with writing("decision act") as ctx:
        store = DecisionStore(ctx.store.path)
        decision = store.read(store.find(decision_id))
        if same := store.check_action(decision_id, action):
            return (
                f"{decision_id}: already recorded as {action} at {format_utc(same.at)}; "
                "nothing written (the same action again changes nothing)"
            )
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
