"""The seven KPIs and the outcome of a decision on a small history, computed by hand.

One grid, levels 100, 101, 102, 103, 104 (spacing 1, 1 base at each level, fee 0.2 % a
fill), three running intervals ("lives"), 36 hours of closes and the exit state of every
hour it ran. Rules: signal horizon 4 h, advance warning 2 h, a break is any close outside
[100, 104].

Holdings values used below (base for the levels above the price, quote at or below it;
the lowest level only buys: below it, base for the four levels above it and its quote):
    hv(103.5) = 103.5 + 406 = 509.5      hv(100.5) = 4 x 100.5 + 100 = 502
    hv(102.5) = 2 x 102.5 + 303 = 508    hv(99.5)  = 4 x 99.5 + 100 = 498
    hv(101.5) = 3 x 101.5 + 201 = 505.5  hv(98.5) = 494,  hv(98.0) = 492
A completed pair L -> L+1 earns 1 - 0.002 x (2L + 1): 102 -> 103 earns 1 - 0.41 = 0.59.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from market_maker.base.timeutil import to_seconds
from market_maker.decisions.states import ExitState
from market_maker.grids.valuation import GridShape
from market_maker.kpis.compute import find_events, kpis
from market_maker.kpis.history import (
    ActionFact,
    DecisionFact,
    GridLife,
    HourlyPrices,
    Rules,
    StateHour,
    SymbolHistory,
)
from market_maker.kpis.model import Kpi, KpiEvent
from market_maker.kpis.outcomes import evaluate_outcome

T0 = datetime(2024, 3, 4, tzinfo=UTC)
N, W, L, M = (
    ExitState.NORMAL,
    ExitState.WARNING,
    ExitState.LATEST_ACCEPTABLE_EXIT,
    ExitState.MANDATORY_EXIT,
)
SHAPE = GridShape(lower=100.0, upper=104.0, levels=5, amount=1.0)
RULES = Rules(break_beyond_pct=0.0, signal_horizon_hours=4, advance_warning_hours=2.0,
              fee_rate=0.002)  # fmt: skip
GRID = "eth-grid-1"


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


# hour: (close, exit state; None: the grid was not running or not evaluated)
HOURS: dict[int, tuple[float, ExitState | None]] = {
    # life 1: runs from 00:00, stopped at 08:32 on the signal of hour 7
    0: (102.5, N),
    1: (101.5, W),
    2: (101.5, L),  # S1: enters L. Next 4 closes 102.5 103.5 102.5 101.5: inside -> false_exit
    3: (102.5, W),
    4: (103.5, N),
    5: (102.5, N),
    6: (101.5, W),
    7: (102.5, L),  # S2: enters L. Next 4: 101.5 100.5 99.5 98.5: 99.5 is out -> true_exit
    8: (101.5, M),  # (stopped at 08:32: hour 8 still ran, its evaluation is recorded)
    9: (100.5, None),
    10: (99.5, None),  # B1: first close out, within 4 h of a stop made in M -> still counted
    11: (98.5, None),
    12: (99.5, None),
    # life 2: runs from 13:00, stopped at 22:50 (hour 22 was not evaluated: stopped by then)
    13: (101.5, N),
    14: (102.5, N),
    15: (101.5, W),
    16: (100.5, L),  # S3: next 4: 100.5 99.5 98.5 98.0: out -> true_exit
    17: (100.5, W),  # eased below L
    18: (99.5, W),  # B2: S3 two hours before -> warned_late (2 is not more than 2)
    19: (98.5, M),  # S4: enters M, but its close is already out -> after_break, not judged
    20: (98.0, M),
    21: (98.5, L),
    22: (99.0, None),
    23: (101.5, None),
    # life 3: runs from 24:00 to the as-of time (36:00)
    24: (102.5, N),
    25: (101.5, N),
    26: (100.5, W),
    27: (99.5, W),  # B3: no L before it -> missed
    28: (98.5, W),
    29: (98.0, W),
    30: (98.5, W),
    31: (98.0, W),
    32: (100.5, N),
    33: (101.5, N),
    34: (101.5, L),  # S5: 34 + 4 + 1 = 39 > 36: its horizon is not over -> pending
    35: (101.5, L),
}
AS_OF = at(36)
LIVES = [
    GridLife(GRID, SHAPE, at(0), at(8) + timedelta(minutes=32)),
    GridLife(GRID, SHAPE, at(13), at(22) + timedelta(minutes=50)),
    GridLife(GRID, SHAPE, at(24), None),
]


def decision_id(hour: int) -> str:
    return f"dec-ETH-USDT-{at(hour + 1):%Y%m%d-%H}0200"


def history() -> SymbolHistory:
    hours = sorted(HOURS)
    closes = np.array([HOURS[h][0] for h in hours])
    prices = HourlyPrices(
        np.array([to_seconds(at(h)) for h in hours]), closes + 0.4, closes - 0.4, closes
    )
    states = [StateHour(at(h), GRID, s) for h, (_, s) in HOURS.items() if s is not None]
    # The hourly pipeline issues a STOP_GRID decision for every hour in L or M, at hour + 1h02.
    decisions = [
        DecisionFact(decision_id(h), GRID, at(h), at(h + 1) + timedelta(minutes=2), "STOP_GRID", s)
        for h, (_, s) in HOURS.items()
        if s in (L, M)
    ]
    actions = [
        # S2: stopped at 08:32 on the decision of hour 7 (issued 08:02): 30 min.
        ActionFact(decision_id(7), "executed", at(8) + timedelta(minutes=32)),
        # S3: declined at 17:12 (issued 17:02): 10 min.
        ActionFact(decision_id(16), "declined", at(17) + timedelta(minutes=12)),
        # S4's episode (hours 19, 20, 21): stopped at 22:50 on the decision of hour 21; the
        # response is timed from the episode's first decision (hour 19, issued 20:02): 2h48.
        ActionFact(decision_id(21), "executed", at(22) + timedelta(minutes=50)),
    ]
    return SymbolHistory("ETH-USDT", prices, LIVES, states, decisions, actions)


def events_of(kind: str, as_of: datetime = AS_OF) -> list[KpiEvent]:
    return [e for e in find_events(history(), as_of, RULES) if e.kind == kind]


# -- the events ------------------------------------------------------------------------------


def test_exit_signals_and_their_outcomes() -> None:
    signals = events_of("exit_signal")
    assert [(e.at, e.outcome, e.decision) for e in signals] == [
        (at(2), "false_exit", decision_id(2)),
        (at(7), "true_exit", decision_id(7)),
        (at(16), "true_exit", decision_id(16)),
        (at(19), "after_break", decision_id(19)),
        (at(34), "pending", decision_id(34)),
    ]
    # Hours 8, 20, 21, 35 are in L/M but continue a stretch: not new signals.


def test_breaks_their_warning_detection_and_cost() -> None:
    breaks = {e.at: e for e in events_of("break")}
    assert sorted(breaks) == [at(10), at(18), at(27)]  # one per life: the first close out

    # B1 (life 1, hour 10): the grid was stopped at 08:32 in M, so a break until 12:32 counts.
    # The L-or-above stretch running into it is 7-8: signal at 7, lead 3 h > 2 -> warned, no
    # cost. WARNING-or-above stretch into it: 6 (W), 7, 8 -> detected at 6: -4 h.
    b1 = breaks[at(10)]
    assert (b1.outcome, b1.hours, b1.detection_hours, b1.usd) == ("warned", 3.0, -4.0, 0.0)
    assert b1.decision == decision_id(7)

    # B2 (life 2, hour 18): hour 17 eased to W, so no L stretch runs into it; the latest
    # signal within 4 h before it is S3 at 16: lead 2 h, not more than 2 -> warned_late.
    # W-or-above stretch into it: 15..17 -> -3 h.
    # Cost: from the close before it (hour 17: 100.5) to the close a horizon later (hour 22)
    # or at the stop, whichever first: stopped at 22:50, the last close it lived through is
    # hour 21's (98.5): hv(98.5) - hv(100.5) = 494 - 502 = -8. Realized on 100.5, 99.5,
    # 98.5, 98.0, 98.5: the buy at 100 fills, nothing rises back through 101: 0. Lost 8.
    b2 = breaks[at(18)]
    assert (b2.outcome, b2.hours, b2.detection_hours) == ("warned_late", 2.0, -3.0)
    assert b2.decision == decision_id(16)
    assert b2.usd == 8.0

    # B3 (life 3, hour 27): no L-or-above state before it, no signal in 23..26 -> missed.
    # W stretch into it: 26 -> -1 h. Running: cost from hour 26 (100.5) to hour 31 (27 + 4,
    # 98.0): hv(98.0) - hv(100.5) = 492 - 502 = -10; realized 0 (never back above 100). 10.0.
    b3 = breaks[at(27)]
    assert (b3.outcome, b3.hours, b3.detection_hours, b3.usd) == ("missed", None, -1.0, 10.0)
    assert b3.decision is None


def test_grid_stops_profit_kept_and_peak() -> None:
    stops = events_of("grid_stop")
    # Life 1, stopped at 08:32: its closes are hours 0..7 (hour 8 closed after the stop).
    #   close  102.5 101.5  101.5  102.5  103.5        102.5  101.5  102.5
    #   held   0     -2.5   -2.5   0      +1.5         0      -2.5   0
    #   pairs                             102->103 0.59
    #   pnl    0     -2.5   -2.5   0      2.09         0.59   -1.91  0.59
    # (102 is bought at hour 1; 103 and 102 again at hours 5 and 6; the rise of hour 7 goes
    # through 102 only, which would sell a lot bought at 101: none.) Peak 2.09, kept 0.59.
    # Life 2, stopped at 22:50: hours 13..21.
    #   close  101.5  102.5  101.5  100.5  100.5  99.5  98.5  98.0   98.5
    #   pnl    0      +2.5   0      -3.5   -3.5   -7.5  -11.5 -13.5  -11.5
    # (only buys after the first hour: no pair). Peak 2.5, kept -11.5.
    assert [(e.at, e.outcome, e.usd, e.peak_usd) for e in stops] == [
        (LIVES[0].end, "profit_kept", 0.59, 2.09),
        (LIVES[1].end, "loss", -11.5, 2.5),
    ]
    # Life 3 still runs: no stop.


def test_responses_to_the_exit_signals() -> None:
    responses = events_of("response")
    assert [(e.at, e.outcome, e.decision) for e in responses] == [
        (at(2), "no_action", decision_id(2)),
        (at(7), "executed", decision_id(7)),
        (at(16), "declined", decision_id(16)),
        (at(19), "executed", decision_id(19)),  # the action on hour 21's decision counts
        (at(34), "no_action", decision_id(34)),
    ]
    assert [e.hours for e in responses] == pytest.approx([None, 0.5, 10 / 60, 2.8, None])


# -- the seven KPIs ------------------------------------------------------------------------


def test_the_seven_kpis_over_the_whole_history() -> None:
    values = kpis(find_events(history(), AS_OF, RULES), T0, AS_OF)

    # SLAR: breaks preceded by L or above / breaks = (B1 warned, B2 warned_late) / 3.
    slar = values[Kpi.SLAR]
    assert (slar.value, slar.numerator, slar.denominator) == (0.6667, 2, 3)

    # PRR: kept / peak over the two stopped lives = (0.59 - 11.5) / (2.09 + 2.5) = -10.91 / 4.59.
    prr = values[Kpi.PRR]
    assert (prr.value, prr.numerator, prr.denominator) == (-2.3769, -10.91, 2)

    # TTDR: median of (-4, -3, -1) hours = -3 (every break was seen by a WARNING ahead).
    ttdr = values[Kpi.TTDR]
    assert (ttdr.value, ttdr.unit, ttdr.denominator) == (-3.0, "hours", 3)

    # FER: judged signals S1 (false), S2, S3 (true): 1 / 3; S4 is after the break, S5 pending.
    fer = values[Kpi.FER]
    assert (fer.value, fer.numerator, fer.denominator, fer.pending) == (0.3333, 1, 3, 1)
    assert (fer.target, fer.met) == ("< 0.30", False)

    # ERT: median of (30, 10, 168) minutes = 30; S1 and S5 had no action.
    ert = values[Kpi.ERT]
    assert (ert.value, ert.unit, ert.denominator) == (30.0, "minutes", 3)
    assert ert.note.endswith("; 2 without one")

    # EAW: breaks warned more than 2 h ahead / breaks = B1 / 3 (B2's 2 h is not more than 2).
    eaw = values[Kpi.EAW]
    assert (eaw.value, eaw.numerator, eaw.denominator) == (0.3333, 1, 3)
    assert (eaw.target, eaw.met) == ("> 0.80", False)

    # MEC: B2 (warned_late) 8.0 + B3 (missed) 10.0; B1 was warned in time and costs nothing.
    mec = values[Kpi.MEC]
    assert (mec.value, mec.unit, mec.numerator, mec.denominator) == (18.0, "USD", 18.0, 2)


def test_the_seven_kpis_over_the_first_twelve_hours() -> None:
    """Only life 1's events happened in [00:00, 12:00): S1, S2, B1, its stop, two responses."""
    values = kpis(find_events(history(), AS_OF, RULES), T0, at(12))
    assert (values[Kpi.SLAR].value, values[Kpi.SLAR].denominator) == (1.0, 1)
    # PRR: 0.59 / 2.09 = 0.28229...
    assert (values[Kpi.PRR].value, values[Kpi.PRR].numerator) == (0.2823, 0.59)
    assert values[Kpi.TTDR].value == -4.0
    assert (values[Kpi.FER].value, values[Kpi.FER].denominator) == (0.5, 2)
    assert values[Kpi.FER].pending == 0
    assert (values[Kpi.ERT].value, values[Kpi.ERT].denominator) == (30.0, 1)
    assert (values[Kpi.EAW].value, values[Kpi.EAW].met) == (1.0, True)
    assert (values[Kpi.MEC].value, values[Kpi.MEC].denominator) == (0.0, 0)


def test_the_same_history_seen_earlier() -> None:
    """As of 10:00 the last closed hour is 9: S2's horizon (hours 8..11) is not over, hour 10
    (the break) has not closed. S2 is pending, no break yet, the stop of 08:32 is known."""
    events = find_events(history(), at(10), RULES)
    assert [(e.kind, e.at, e.outcome) for e in events] == [
        ("exit_signal", at(2), "false_exit"),
        ("response", at(2), "no_action"),
        ("exit_signal", at(7), "pending"),
        ("response", at(7), "executed"),
        ("grid_stop", LIVES[0].end, "profit_kept"),
    ]
    values = kpis(events, T0, at(10))
    assert (values[Kpi.FER].value, values[Kpi.FER].denominator) == (1.0, 1)  # S1: false
    assert values[Kpi.FER].pending == 1
    assert values[Kpi.SLAR].value is None and values[Kpi.SLAR].denominator == 0
    assert values[Kpi.EAW].met is None
    # As of 11:00 hour 10 (99.5) has closed: the break is known, S2 still pending (7 + 4 + 1).
    seen = {(e.kind, e.at): e.outcome for e in find_events(history(), at(11), RULES)}
    assert (seen[("break", at(10))], seen[("exit_signal", at(7))]) == ("warned", "pending")
    # As of 12:00 its horizon has closed too.
    seen = {(e.kind, e.at): e.outcome for e in find_events(history(), at(12), RULES)}
    assert seen[("exit_signal", at(7))] == "true_exit"


def test_an_empty_window_measures_nothing() -> None:
    values = kpis(find_events(history(), AS_OF, RULES), at(100), at(124))
    assert all(values[k].value is None for k in Kpi if k is not Kpi.MEC)
    assert (values[Kpi.MEC].value, values[Kpi.MEC].denominator) == (0.0, 0)
    assert all(v.denominator == 0 for v in values.values())


def test_a_grid_stopped_before_the_break_lost_nothing_in_it() -> None:
    """A signal at 02:00, the grid stopped at 03:10 on its decision, the range broken at 04:00
    (lead 2 h: warned_late). The grid held nothing once price left: MEC is 0, not the loss a
    grid still running would have made (hv(98.0) - hv(100.5) = -12)."""
    closes = {0: 102.5, 1: 102.5, 2: 101.5, 3: 100.5, 4: 99.5, 5: 98.5, 6: 98.0, 7: 98.0}
    states = {0: N, 1: N, 2: L}  # hour 3 ends after the stop: not evaluated
    hours = sorted(closes)
    c = np.array([closes[h] for h in hours])
    prices = HourlyPrices(np.array([to_seconds(at(h)) for h in hours]), c, c, c)
    stop = at(3) + timedelta(minutes=10)
    life = GridLife(GRID, SHAPE, at(0), stop)
    decision = DecisionFact(
        decision_id(2), GRID, at(2), at(3) + timedelta(minutes=2), "STOP_GRID", L
    )
    hist = SymbolHistory(
        "ETH-USDT",
        prices,
        [life],
        [StateHour(at(h), GRID, s) for h, s in states.items()],
        [decision],
        [ActionFact(decision.id, "executed", stop)],
    )
    events = find_events(hist, at(8), RULES)
    (brk,) = [e for e in events if e.kind == "break"]
    assert (brk.at, brk.outcome, brk.hours) == (at(4), "warned_late", 2.0)
    assert brk.usd == 0.0
    assert kpis(events, T0, at(8))[Kpi.MEC].value == 0.0


# -- the outcome of one decision ---------------------------------------------------------


def outcome(recommendation: str, hour: int, horizon: int, stop_price: float, action=None):
    return evaluate_outcome(
        recommendation=recommendation,
        hour=at(hour),
        issued_at=at(hour + 1) + timedelta(minutes=2),
        horizon_hours=horizon,
        shape=SHAPE,
        prices=history().prices,
        stop_price=stop_price,
        action=action,
        action_price=None if action is None else stop_price,
        fee_rate=RULES.fee_rate,
    )


def test_a_stop_before_the_break_was_right_and_executing_it_helped() -> None:
    # STOP_GRID at hour 7 (102.5), issued 08:02, 4 h horizon: up to 12:02, closes of hours
    # 7..11 = 102.5 101.5 100.5 99.5 98.5. 99.5 (hour 10) is out: right.
    # Kept: hv(98.5) - hv(102.5) = 494 - 508 = -14, realized 0 (only buys): -14.0.
    # Stopped at 101.8 (the price at 08:32): hv(101.8) - 508 = 3 x 101.8 + 201 - 508 = -1.6.
    executed = ActionFact(decision_id(7), "executed", at(8) + timedelta(minutes=32))
    e = outcome("STOP_GRID", 7, 4, 101.8, executed)
    assert e is not None
    assert (e.horizon, e.price, e.close_at_end, e.broke, e.break_at) == (
        "4h",
        102.5,
        98.5,
        True,
        at(10),
    )
    assert (e.usd_if_kept, e.usd_if_stopped) == (-14.0, -1.6)
    assert (e.usd_if_followed, e.usd_if_ignored) == (-1.6, -14.0)
    assert e.usd_if_followed > e.usd_if_ignored
    assert (e.recommendation_quality, e.quality_reason) == (
        "right",
        "the range broke at 2024-03-04 10:00Z",
    )
    # Executed at 101.8: -1.6, against -14.0 had it kept running: helped.
    assert (e.action, e.action_at, e.usd_as_acted, e.action_quality) == (
        "executed",
        at(8) + timedelta(minutes=32),
        -1.6,
        "helped",
    )
    # The worst low was 98.5 - 0.4 = 98.1: 4.4 below 102.5 (4.293 %), hv(98.1) = 492.4: 15.6.
    assert e.max_adverse_excursion.price == pytest.approx(98.1)
    assert (e.max_adverse_excursion.pct, e.max_adverse_excursion.usd) == (4.293, 15.6)


def test_the_same_stop_declined_hurt() -> None:
    declined = ActionFact(decision_id(7), "declined", at(8) + timedelta(minutes=10))
    e = outcome("STOP_GRID", 7, 4, 101.8, declined)
    # Declined: the grid ran on (-14.0), against -1.6 had it been stopped.
    assert (e.usd_as_acted, e.action_quality) == (-14.0, "hurt")


def test_a_hold_before_the_break_was_wrong() -> None:
    # HOLD at hour 5 (102.5), issued 06:02, 6 h horizon: closes of hours 5..11 =
    # 102.5 101.5 102.5 101.5 100.5 99.5 98.5; hour 10 is out: wrong.
    # Kept: 494 - 508 = -14 (102 bought at hour 6 is sold only at 103: never). Stopped at
    # 102.3 (06:32): 2 x 102.3 + 303 - 508 = -0.4.
    e = outcome("HOLD", 5, 6, 102.3)
    assert (e.broke, e.recommendation_quality) == (True, "wrong")
    assert (e.usd_if_followed, e.usd_if_ignored) == (-14.0, -0.4)
    assert (e.action, e.usd_as_acted, e.action_quality) == (None, None, "no_action")
    # The operator stopped the grid anyway at 06:32, declining the HOLD (`grid disable
    # --decision` on a HOLD records "declined"): -0.4 instead of -14.0, helped.
    stopped = ActionFact("dec-hold", "declined", at(6) + timedelta(minutes=32))
    e = outcome("HOLD", 5, 6, 102.3, stopped)
    assert (e.usd_as_acted, e.action_quality) == (-0.4, "helped")
    # Following the HOLD (executed) kept the grid running through the break: -14.0, hurt.
    followed = ActionFact("dec-hold", "executed", at(6) + timedelta(minutes=32))
    e = outcome("HOLD", 5, 6, 102.3, followed)
    assert (e.usd_as_acted, e.action_quality) == (-14.0, "hurt")


def test_a_stop_on_a_false_exit_was_wrong_and_executing_it_hurt() -> None:
    # STOP_GRID at hour 2 (S1, 101.5), 4 h: hours 2..6 = 101.5 102.5 103.5 102.5 101.5, inside.
    # Kept: back at 101.5, no pair completed (the rises sell lots never bought): 0.0.
    # Stopped at 101.2: 3 x 101.2 + 201 - 505.5 = -0.9.
    executed = ActionFact(decision_id(2), "executed", at(3) + timedelta(minutes=20))
    e = outcome("STOP_GRID", 2, 4, 101.2, executed)
    assert (e.broke, e.break_at, e.recommendation_quality) == (False, None, "wrong")
    assert e.quality_reason == "price stayed inside"
    assert (e.usd_if_kept, e.usd_if_stopped) == (0.0, -0.9)
    assert (e.usd_as_acted, e.action_quality) == (-0.9, "hurt")


def test_an_outcome_waits_for_every_hour_of_its_horizon_and_ignores_late_actions() -> None:
    # Hour 34 + 4 h from 35:02 ends at 39:02: hours 34..38 are needed, 36..38 are not recorded.
    assert outcome("STOP_GRID", 34, 4, 101.5) is None
    # An action after the horizon's end is not part of this outcome.
    late = ActionFact(decision_id(7), "executed", at(12) + timedelta(minutes=30))
    e = outcome("STOP_GRID", 7, 4, 101.8, late)
    assert (e.action, e.usd_as_acted, e.action_quality) == (None, None, "no_action")


def test_a_grid_restarted_inside_the_horizon_of_its_stop_counts_one_break() -> None:
    # Stopped at 03:30 in MANDATORY_EXIT (the old run watches 4 h more for its break), then
    # restarted at 05:00; the close out at 06:00 is the new run's break, not the old run's too.
    closes = [102.5, 101.5, 101.5, 100.5, 101.5, 101.5, 99.5, 99.0]
    prices = HourlyPrices(
        np.array([to_seconds(at(h)) for h in range(len(closes))], dtype=np.int64),
        np.array(closes) + 0.2,
        np.array(closes) - 0.2,
        np.array(closes),
    )
    lives = [
        GridLife(GRID, SHAPE, at(0), at(3.5)),
        GridLife(GRID, SHAPE, at(5), None),
    ]
    states = [
        StateHour(at(h), GRID, s) for h, s in ((0, N), (1, W), (2, L), (3, M), (5, W), (6, W))
    ]
    history = SymbolHistory("ETH-USDT", prices, lives, states)

    breaks = [e for e in find_events(history, at(8), RULES) if e.kind == "break"]

    assert [(b.at, b.outcome) for b in breaks] == [(at(6), "missed")]
