"""When an exit state is worth a message: escalations at once, repeats only after the rate
limit, and a state that comes back after an ease within its rate limit is a repeat; how loud:
a WARNING that holds is repeated quietly."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_maker.alerts.policy import should_notify
from market_maker.config.models import RateLimits
from market_maker.decisions.states import ExitState
from market_maker.exit_strategy.model import NOTIFIED_STATES

T0 = datetime(2023, 8, 14, tzinfo=UTC)
LIMITS = RateLimits()
N, W, L, M = (
    ExitState.NORMAL,
    ExitState.WARNING,
    ExitState.LATEST_ACCEPTABLE_EXIT,
    ExitState.MANDATORY_EXIT,
)


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def never() -> dict[str, datetime | None]:
    return dict.fromkeys(NOTIFIED_STATES)


def notify(
    before: ExitState, after: ExitState, hour: int, last: dict[str, datetime | None]
) -> bool:
    send, why = should_notify(
        before=before, after=after, hour=at(hour), last_notification=last, limits=LIMITS
    )
    assert why  # every decision says why
    return send


def test_the_default_limits_are_four_two_and_one_hours() -> None:
    assert (LIMITS.WARNING, LIMITS.LATEST_ACCEPTABLE_EXIT, LIMITS.MANDATORY_EXIT) == (4, 2, 1)


@pytest.mark.parametrize(("state", "hours"), [(W, 4), (L, 2), (M, 1)])
def test_a_persisting_state_is_repeated_only_once_its_rate_limit_has_passed(
    state: ExitState, hours: int
) -> None:
    last = {**never(), state.value: at(0)}
    assert not notify(state, state, hours - 1, last)
    assert notify(state, state, hours, last)


@pytest.mark.parametrize("state", [W, L, M])
def test_a_state_never_notified_is_notified_even_without_an_escalation(state: ExitState) -> None:
    assert notify(state, state, 5, never())


@pytest.mark.parametrize(("before", "after"), [(N, W), (W, L), (L, M), (N, M), (W, M)])
def test_an_escalation_notifies_at_once_while_lower_states_were_alerted_just_before(
    before: ExitState, after: ExitState
) -> None:
    last = {**dict.fromkeys(NOTIFIED_STATES, at(0)), after.value: None}
    assert notify(before, after, 0, last)


@pytest.mark.parametrize(("state", "hours"), [(W, 4), (L, 2), (M, 1)])
def test_coming_back_within_the_rate_limit_after_an_ease_is_a_repeat_not_news(
    state: ExitState, hours: int
) -> None:
    last = {**never(), state.value: at(0)}
    assert not notify(N, state, hours - 1, last)  # eased to NORMAL, back within the limit
    assert notify(N, state, hours, last)


def test_a_grid_flapping_between_warning_and_normal_gets_one_warning_a_window() -> None:
    # WARNING -> NORMAL -> WARNING six times in four days, three hours apart at times.
    flaps = [(h, W if k % 2 == 0 else N) for k, h in enumerate(range(0, 96, 3))]
    sent = [(h, s) for h, s, ok in simulate(flaps) if ok and s == W]
    assert all(b - a >= 4 for (a, _), (b, _) in pairwise(sent))
    assert len(sent) <= 96 // 4 + 1


def test_a_warning_that_holds_is_repeated_quietly_and_a_break_is_loud() -> None:
    from market_maker.alerts.policy import priority
    from market_maker.config.models import NotificationSettings

    cfg = NotificationSettings()
    assert cfg.warning_repeat_priority == -1
    assert priority(N, W, cfg) == 0  # the first WARNING of an episode
    assert priority(W, W, cfg) == -1  # its repeats while it holds
    assert (priority(W, L, cfg), priority(L, M, cfg), priority(M, M, cfg)) == (1, 2, 2)


def test_easing_to_a_lower_state_waits_for_that_states_own_rate_limit() -> None:
    last = {**never(), "WARNING": at(0), "MANDATORY_EXIT": at(1)}
    assert not notify(L, W, 3, last)  # WARNING was announced 3 h ago
    assert notify(L, W, 4, last)


def test_easing_back_to_normal_notifies_once_and_staying_normal_never_does() -> None:
    last = dict.fromkeys(NOTIFIED_STATES, at(0))
    assert notify(W, N, 1, last)
    assert not any(notify(N, N, h, last) for h in range(2, 200))


def runs() -> st.SearchStrategy[list[tuple[int, ExitState]]]:
    """Evaluations at increasing hours (some hours missing): stretches of a random state."""
    stretches = st.tuples(
        st.sampled_from(list(ExitState)), st.integers(1, 12), st.sampled_from([1, 1, 1, 2, 3])
    )

    def to_hours(drawn: list[tuple[ExitState, int, int]]) -> list[tuple[int, ExitState]]:
        hour, out = 0, []
        for state, length, gap in drawn:
            for _ in range(length):
                hour += gap
                out.append((hour, state))
        return out

    return st.lists(stretches, min_size=1, max_size=20).map(to_hours)


def simulate(evaluations: list[tuple[int, ExitState]]) -> list[tuple[int, ExitState, bool]]:
    """Drive the policy as the evaluator does: remember the time of each notified state."""
    last, before, out = never(), N, []
    for hour, after in evaluations:
        send = notify(before, after, hour, last)
        if send and after.value in NOTIFIED_STATES:
            last[after.value] = at(hour)
        out.append((hour, after, send))
        before = after
    return out


@settings(max_examples=200, deadline=None)
@given(runs())
def test_a_persisting_state_never_notifies_more_than_its_limit_allows(
    evaluations: list[tuple[int, ExitState]],
) -> None:
    results = simulate(evaluations)
    previous = N
    i = 0
    while i < len(results):
        # One stretch of the same state: from results[i] to results[j - 1].
        state = results[i][1]
        j = i
        while j < len(results) and results[j][1] == state:
            j += 1
        escalations = 1 if state.rank > previous.rank else 0
        sent = [h for h, _, s in results[i:j] if s]
        if state == N:
            assert len(sent) == (1 if previous != N else 0)
        else:
            span = results[j - 1][0] - results[i][0] + 1
            limit = getattr(LIMITS, state.value)
            assert len(sent) <= math.ceil(span / limit) + escalations
            repeats = sent[1:] if escalations else sent
            assert all(b - a >= limit for a, b in pairwise(repeats))
        previous, i = state, j


@settings(max_examples=200, deadline=None)
@given(runs())
def test_an_escalation_notifies_unless_its_state_was_alerted_within_its_limit(
    evaluations: list[tuple[int, ExitState]],
) -> None:
    """Whatever the path (eases included): each state's alerts are at least its rate limit
    apart, and an escalation to a state not alerted within it notifies at once."""
    before, last = N, dict[ExitState, int]()
    for hour, after, sent in simulate(evaluations):
        limit = getattr(LIMITS, after.value) if after != N else 0
        fresh = after not in last or hour - last[after] >= limit
        if after.rank > before.rank:
            assert sent == fresh
        if sent and after != N and after in last:
            assert hour - last[after] >= limit
        if sent:
            last[after] = hour
        before = after
