"""The notification payload, priorities by exit state, and message templates."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from market_maker.decisions.model import ProposedGrid
from market_maker.decisions.states import ExitState, Recommendation
from market_maker.grids.position import PositionRisk

MAX_MESSAGE = 1024
MAX_TITLE = 250

PRIORITY = {
    ExitState.NORMAL: -1,
    ExitState.WARNING: 0,
    ExitState.LATEST_ACCEPTABLE_EXIT: 1,
    ExitState.MANDATORY_EXIT: 2,
}


class Notification(BaseModel):
    """What every channel receives; Pushover gets it as a form, the webhook as JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(description="exit_state, analysis_refused, flow_failure, daily_digest")
    title: str = Field(max_length=MAX_TITLE)
    message: str = Field(min_length=1, max_length=MAX_MESSAGE)
    priority: int = Field(ge=-2, le=2)
    timestamp: int = Field(description="Unix seconds shown as the message's time.")
    url: str | None = None
    url_title: str | None = None
    symbol: str | None = None
    state: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    # A PNG for Pushover (a multipart attachment); the log and the webhook go without it.
    attachment: bytes | None = Field(None, exclude=True, repr=False)


def trim(text: str, limit: int = MAX_MESSAGE) -> str:
    """Shorten to ``limit`` characters at a word boundary, marking the cut with an ellipsis."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + "…"


def _fmt(value: float) -> str:
    return f"{value:,.2f}"


def where_in_grid(price: float, lower: float, upper: float, *, short: bool = False) -> str:
    """Where the price is, in words: how far outside a bound, or where inside the grid.

    ``7.4 % below the grid's lower bound 1,780.00``; ``inside the grid, low: 13 % of the way
    up from the lower bound 1,780.00`` (``short``: ``low in the grid, 13 % of the way up``).
    """
    if price < lower:
        return f"{(lower - price) / lower * 100:.1f} % below the grid's lower bound {_fmt(lower)}"
    if price > upper:
        return f"{(price - upper) / upper * 100:.1f} % above the grid's upper bound {_fmt(upper)}"
    share = (price - lower) / (upper - lower)
    part = "low" if share < 1 / 3 else ("high" if share > 2 / 3 else "in the middle")
    if short:
        place = "in the middle of the grid" if part == "in the middle" else f"{part} in the grid"
        return f"{place}, {share * 100:.0f} % of the way up"
    way = f"{share * 100:.0f} % of the way up from the lower bound {_fmt(lower)}"
    return f"inside the grid, {part}: {way}"


# How exit conditions describe the price's place ("price 1796.01 at 13% of the grid [1780,
# 1900]", "price at -109% of the grid"): a share that reads as nonsense outside the grid.
_SHARE_WITH_BOUNDS = re.compile(r"price -?[\d.,]+ at -?\d+% of the grid \[[^\]]*\]")
_SHARE = re.compile(r"price at -?\d+% of the grid")


def plain_reason(reason: str, price: float, lower: float, upper: float) -> str:
    """A condition's reason with the price's place in the grid said in words (the alert's
    first line gives the price)."""
    words = f"price {where_in_grid(price, lower, upper, short=True)}"
    return _SHARE.sub(words, _SHARE_WITH_BOUNDS.sub(words, reason))


def exit_notification(
    *,
    symbol: str,
    grid_id: str,
    hour: datetime,
    state: ExitState,
    previous: ExitState,
    recommendation: Recommendation,
    price: float,
    lower: float,
    upper: float,
    verdict: str | None,
    confidence: float | None,
    reasons: list[str],
    decision_id: str,
    expires_at: datetime | None,
    url: str | None,
    position: PositionRisk | None = None,
    promotion: ProposedGrid | None = None,
    missed: str | None = None,
    undelivered_since: datetime | None = None,
    reminder: str | None = None,
    priority: int | None = None,
) -> Notification:
    """The exit alert. ``reminder`` (why it is only a reminder, e.g. who acknowledged the
    emergency) and ``priority`` turn it into the slower, quieter repeat of an acknowledged one.
    """
    change = (
        ("escalated from " if state.rank > previous.rank else "eased from ") + str(previous)
        if state != previous
        else "still"
    )
    action = {
        Recommendation.STOP_GRID: (
            "STOP THE GRID NOW" if state == ExitState.MANDATORY_EXIT else "Stop the grid"
        ),
        Recommendation.WATCH: "Watch the grid",
        Recommendation.HOLD: "Hold: the grid may keep running",
    }[recommendation]
    regime = (
        f"{verdict} (confidence {confidence:.2f})"
        if verdict and confidence is not None
        else ("regime unknown (analysis refused)")
    )
    lines = [f"{action}. {symbol} {_fmt(price)}, {where_in_grid(price, lower, upper)}."]
    if missed:
        lines.insert(0, f"{missed}.")
    if reminder:
        lines.append(f"Reminder: {reminder}.")
    lines.append(f"Regime {regime}.")
    if reasons:
        lines.append("Why: " + "; ".join(plain_reason(r, price, lower, upper) for r in reasons))
    if position is not None:
        lines.append(position_line(symbol, position))
    if promotion is not None:
        lines.append(
            f"Promotion ready: a full grid {_fmt(promotion.lower_price)}-"
            f"{_fmt(promotion.upper_price)} x{promotion.levels} can replace this probationary "
            f"one (market-maker decision act --id {decision_id} --action executed)."
        )
    deadline = f"act before {expires_at:%H:%M} UTC" if expires_at else "no deadline"
    lines.append(f"Hour {hour:%Y-%m-%d %H:%M} UTC, decision {decision_id}, {deadline}.")
    if undelivered_since is not None:
        lines.append(
            f"Sent late: the alert for {undelivered_since:%Y-%m-%d %H:%M} UTC could not be "
            "delivered."
        )
    title = f"{symbol} {grid_id}: {state.value.replace('_', ' ')} ({change})"
    if reminder:
        title = f"{symbol} {grid_id}: {state.value.replace('_', ' ')} (reminder)"
    return Notification(
        kind="exit_state",
        title=trim(title, MAX_TITLE),
        message=trim("\n".join(lines)),
        priority=PRIORITY[state] if priority is None else priority,
        timestamp=int(hour.timestamp()),
        url=url,
        url_title="Flow run in Prefect" if url else None,
        symbol=symbol,
        state=state.value,
        context={"grid_id": grid_id, "decision_id": decision_id, "recommendation": recommendation},
    )


def position_line(symbol: str, p: PositionRisk) -> str:
    """What the grid holds and what reaching its stop would cost, in the quote currency."""
    base, quote = symbol.split("-")
    if not p.base_held:
        held = f"Position: no {base} held"
    else:
        held = (
            f"Position: {p.base_held:g} {base} at {_fmt(p.average_entry or 0)} on average, "
            f"unrealised {p.unrealized_pnl:+,.2f} {quote}"
        )
    line = (
        f"{held}; at the lower bound {_fmt(p.stop_price)}: {p.base_at_stop:g} {base}, "
        f"{p.loss_at_stop:+,.2f} {quote}."
    )
    if p.mismatch:
        line += f" Exchange check: {p.mismatch}."
    return line


def failure_notification(
    *,
    flow_name: str,
    run_name: str,
    state_name: str,
    error: str,
    url: str | None,
    consecutive_failures: int,
    when: datetime,
) -> Notification:
    urgent = consecutive_failures >= 3
    streak = f" ({consecutive_failures} failed runs in a row)" if consecutive_failures > 1 else ""
    return Notification(
        kind="flow_failure",
        title=trim(f"market-maker: {flow_name} {state_name.lower()}{streak}", MAX_TITLE),
        message=trim(f"Run {run_name} of {flow_name} ended {state_name}: {error or 'no message'}"),
        priority=2 if urgent else 1,
        timestamp=int(when.timestamp()),
        url=url,
        url_title="Flow run in Prefect" if url else None,
        state=state_name,
        context={"flow": flow_name, "run": run_name, "consecutive_failures": consecutive_failures},
    )


def refusal_notification(
    *,
    symbol: str,
    grid_id: str,
    hour: datetime,
    computable: int,
    errors: list[str],
    url: str | None,
) -> Notification:
    """The regime analysis refused (too few metrics): the exit logic is running half blind."""
    lines = [
        f"The regime analysis of {symbol} refused at {hour:%Y-%m-%d %H:%M} UTC: only "
        f"{computable} of 6 metrics could be computed, so no regime verdict. Grid {grid_id} is "
        "evaluated on price alone until the data is complete again.",
    ]
    if errors:
        lines.append("Why: " + "; ".join(errors))
    return Notification(
        kind="analysis_refused",
        title=trim(f"{symbol} {grid_id}: regime analysis refused", MAX_TITLE),
        message=trim("\n".join(lines)),
        priority=PRIORITY[ExitState.WARNING],
        timestamp=int(hour.timestamp()),
        url=url,
        url_title="Flow run in Prefect" if url else None,
        symbol=symbol,
        state="ANALYSIS_REFUSED",
        context={"grid_id": grid_id, "computable": computable},
    )
