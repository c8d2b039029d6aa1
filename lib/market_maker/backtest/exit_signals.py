"""Why exit signals are false or late: every judged exit signal and every range break of a
backtest, described by what the engine saw.

Each false or true exit signal and each warned, late or missed break is one row: the
conditions that fired (at the signal, or in the hours before the break), the regime path
of the hours before, the distance from price to the threatened bound in units of recent
volatility, the hour of day and the 4h verdict. :func:`tables` counts the rows by each of
those; the study page in docs/exit-strategy.md is made from them.

The volatility unit is the one the exit engine reads (:mod:`market_maker.exit_strategy.break_risk`):
the standard deviation of the last 20 hourly closes, a quarter of the Bollinger bandwidth.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from market_maker.alerts.policy import priority, should_notify
from market_maker.backtest.run import BacktestRun
from market_maker.base.timeutil import HOUR
from market_maker.config.models import NotificationSettings
from market_maker.decisions.states import ExitState
from market_maker.exit_strategy.break_risk import threat
from market_maker.exit_strategy.engine import Evaluation

PATH_HOURS = 6  # regime path: the verdicts of the hours before an event
CONTEXT_HOURS = 3  # conditions counted before a break: the last hours it ran through
PRIORITY = {
    ExitState.NORMAL: -1,
    ExitState.WARNING: 0,
    ExitState.LATEST_ACCEPTABLE_EXIT: 1,
    ExitState.MANDATORY_EXIT: 2,
}


@dataclass(frozen=True)
class SignalCase:
    """One judged exit signal (the first LATEST_ACCEPTABLE_EXIT-or-above of a stretch)."""

    hour: datetime
    grid_id: str
    outcome: str  # false_exit | true_exit
    state: str
    conditions: tuple[str, ...]  # conditions met in the signal's evaluation
    driver: str  # the condition of the highest state that made the signal
    path: str  # the 1h-final verdicts of the hours before, oldest first, repeats merged
    distance: float | None  # to the nearer bound, in volatility units
    toward: float | None  # normalized slope toward that bound
    hour_of_day: int
    verdict_4h: str


@dataclass(frozen=True)
class BreakCase:
    """One range break, with what the hours before it looked like."""

    at: datetime
    grid_id: str
    outcome: str  # warned | warned_late | missed
    lead: float | None  # hours from the exit signal to the break
    highest_state: str  # highest state in the 24 h before the break
    conditions: tuple[str, ...]  # conditions met in any of the last CONTEXT_HOURS evaluations
    path: str
    distance_before: float | None  # distance to the broken bound CONTEXT_HOURS before
    hours_within_one: int | None  # hours the price spent within 1 unit of the bound before
    hour_of_day: int
    verdict_4h: str


@dataclass
class Study:
    signals: list[SignalCase]
    breaks: list[BreakCase]
    alerts: Counter[int]  # alerts by priority
    weeks: float

    def alerts_per_week(self) -> dict[int, float]:
        return {p: round(self.alerts.get(p, 0) / self.weeks, 2) for p in sorted(PRIORITY.values())}


def study(run: BacktestRun, notifications: NotificationSettings | None = None) -> Study:
    """Classify the system policy's judged exit signals and its breaks in ``run``."""
    feed = run.feed
    tracks = {t.grid.id: t for t in run.tracks}
    by_hour = {
        gid: {e.hour: e for e in t.evaluations} for gid, t in tracks.items()
    }  # grid -> hour -> evaluation
    signals, breaks = [], []
    for event in run.variants["system"].events:
        if event.kind == "exit_signal" and event.outcome in ("false_exit", "true_exit"):
            e = by_hour[event.grid_id][event.at]
            o = feed.observation(feed.index(e.hour), tracks[event.grid_id].grid)
            t = threat(o)
            signals.append(
                SignalCase(
                    hour=event.at,
                    grid_id=event.grid_id,
                    outcome=event.outcome,
                    state=str(e.after),
                    conditions=tuple(c.name for c in e.conditions_met),
                    driver=_driver(e),
                    path=_path(run, e.hour),
                    distance=None if t is None else round(t.distance, 2),
                    toward=None if t is None else round(t.toward, 2),
                    hour_of_day=event.at.hour,
                    verdict_4h=str(o.verdict_4h),
                )
            )
        elif event.kind == "break":
            track = tracks[event.grid_id]
            evals = by_hour[event.grid_id]
            before = [evals[h] for h in _hours_before(event.at, 24) if h in evals]
            recent = [evals[h] for h in _hours_before(event.at, CONTEXT_HOURS) if h in evals]
            highest = max((e.after for e in before), key=lambda s: s.rank, default=None)
            broken_low = feed.price(feed.index(event.at)) < track.grid.lower_price
            breaks.append(
                BreakCase(
                    at=event.at,
                    grid_id=event.grid_id,
                    outcome=event.outcome,
                    lead=event.hours,
                    highest_state=str(highest) if highest else "not evaluated",
                    conditions=tuple(sorted({c.name for e in recent for c in e.conditions_met})),
                    path=_path(run, event.at),
                    distance_before=_distance_to(
                        run, track.grid, event.at - CONTEXT_HOURS * HOUR, broken_low
                    ),
                    hours_within_one=_hours_within(run, track.grid, event.at, broken_low, 1.0),
                    hour_of_day=event.at.hour,
                    verdict_4h=str(
                        feed.observation(feed.index(event.at - HOUR), track.grid).verdict_4h
                    ),
                )
            )
    alerts = count_alerts(run, notifications or NotificationSettings())
    weeks = (run.params.end - run.params.start) / timedelta(weeks=1)
    return Study(signals, breaks, alerts, weeks)


def count_alerts(run: BacktestRun, settings: NotificationSettings) -> Counter[int]:
    """Alerts the operator would receive, by Pushover priority, under the live rate limits
    (emergencies counted each time they are due: the receipts' cycle is not replayed)."""
    out: Counter[int] = Counter()
    for track in run.tracks:
        last: dict[str, datetime | None] = {}
        for e in track.evaluations:
            send, _ = should_notify(
                before=e.before,
                after=e.after,
                hour=e.hour,
                last_notification=last,
                limits=settings.rate_limit_hours,
            )
            if send:
                out[priority(e.before, e.after, settings)] += 1
                last[e.after.value] = e.hour
    return out


def _driver(e: Evaluation) -> str:
    for group in (e.mandatory_conditions, e.latest_conditions, e.warning_conditions):
        met = [c.name for c in group if c.met]
        if met:
            return "+".join(met)
    return "none"


def _hours_before(at: datetime, n: int) -> list[datetime]:
    return [at - k * HOUR for k in range(1, n + 1)]


def _path(run: BacktestRun, at: datetime) -> str:
    feed = run.feed
    names = []
    for h in reversed(_hours_before(at, PATH_HOURS)):
        try:
            v = feed.verdict(feed.index(h))
        except KeyError:
            continue
        name = v or "REFUSED"
        if not names or names[-1] != name:
            names.append(name)
    return ">".join(names)


def _distance_to(run: BacktestRun, grid, hour: datetime, low: bool) -> float | None:
    feed = run.feed
    try:
        o = feed.observation(feed.index(hour), grid)
    except KeyError:
        return None
    t = threat(o, side="lower" if low else "upper")
    return None if t is None else round(t.distance, 2)


def _hours_within(run: BacktestRun, grid, at: datetime, low: bool, units: float) -> int | None:
    """Hours in a row before the break with price within ``units`` of the broken bound."""
    count = 0
    for h in _hours_before(at, 48):
        d = _distance_to(run, grid, h, low)
        if d is None or d > units:
            break
        count += 1
    return count


# -- tables ------------------------------------------------------------------------------


def _bucket_distance(d: float | None) -> str:
    if d is None:
        return "n/a"
    for hi, name in ((0.5, "< 0.5"), (1, "0.5-1"), (2, "1-2"), (4, "2-4")):
        if d < hi:
            return name
    return ">= 4"


def _bucket_lead(lead: float | None) -> str:
    if lead is None:
        return "no signal"
    for hi, name in ((1, "1 h"), (2, "2 h"), (6, "3-6 h"), (24, "7-24 h")):
        if lead <= hi:
            return name
    return "> 24 h"


def _bucket_hour(h: int) -> str:
    return f"{h // 6 * 6:02d}-{h // 6 * 6 + 5:02d} UTC"


def _count(
    rows: Iterable, key: Callable, outcomes: tuple[str, ...], outcome: Callable
) -> list[list[str]]:
    table: dict[str, Counter] = {}
    for r in rows:
        keys = key(r)
        for k in keys if isinstance(keys, tuple) else (keys,):
            table.setdefault(k, Counter())[outcome(r)] += 1
    out = []
    for k, c in sorted(table.items(), key=lambda kv: -sum(kv[1].values())):
        total = sum(c.values())
        out.append([k, *(str(c[o]) for o in outcomes), str(total), f"{c[outcomes[0]] / total:.0%}"])
    return out


SIGNAL_KEYS: dict[str, Callable[[SignalCase], object]] = {
    "condition that made the signal": lambda s: s.driver,
    "conditions met at the signal (each)": lambda s: s.conditions,
    "regime path, 6 h before": lambda s: s.path,
    "distance to the nearer bound (volatility units)": lambda s: _bucket_distance(s.distance),
    "hour of day": lambda s: _bucket_hour(s.hour_of_day),
    "4h verdict": lambda s: s.verdict_4h,
}
BREAK_KEYS: dict[str, Callable[[BreakCase], object]] = {
    "highest state in the 24 h before": lambda b: b.highest_state,
    "conditions met in the 3 h before (each)": lambda b: b.conditions or ("grid already stopped",),
    "regime path, 6 h before": lambda b: b.path,
    "distance to the broken bound 3 h before (volatility units)": lambda b: _bucket_distance(
        b.distance_before
    ),
    "hours within 1 unit of the bound before the break": lambda b: (
        "0" if not b.hours_within_one else "1-2" if b.hours_within_one <= 2 else ">= 3"
    ),
    "hour of day": lambda b: _bucket_hour(b.hour_of_day),
    "4h verdict": lambda b: b.verdict_4h,
    "lead of the exit signal": lambda b: _bucket_lead(b.lead),
}


def tables(studies: list[Study]) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Markdown-ready tables: (header, rows) per classification, pooled over ``studies``."""
    signals = [s for st in studies for s in st.signals]
    breaks = [b for st in studies for b in st.breaks]
    out = {}
    for title, key in SIGNAL_KEYS.items():
        out[f"exit signals by {title}"] = (
            [title, "false", "true", "all", "false share"],
            _count(signals, key, ("false_exit", "true_exit"), lambda s: s.outcome),
        )
    for title, key in BREAK_KEYS.items():
        out[f"breaks by {title}"] = (
            [title, "missed", "late", "warned", "all", "missed share"],
            _count(breaks, key, ("missed", "warned_late", "warned"), lambda b: b.outcome),
        )
    return out


def markdown(header: list[str], rows: list[list[str]], limit: int = 12) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows[:limit]]
    return "\n".join(lines)
