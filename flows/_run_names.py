"""Flow run names that say what a run does: ``hourly-pipeline ETH-USDT 2024-08-05T10Z``.

Prefect calls a flow's ``flow_run_name`` callable inside the run, where
``prefect.runtime`` knows the parameters and, for a scheduled run, its scheduled start. The
same name is shown in the UI, in failure alerts and in the data repository's commits.
With a collection period under an hour (``snapshots.period_minutes``) a period is shown by
its start with the minutes: ``hourly-pipeline ETH-USDT 2024-08-05T10:15Z``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any

from market_maker.base.timeutil import last_closed_period, parse_utc, utc


def short_hour(value: datetime, period_minutes: int = 60) -> str:
    """``2024-08-05T10Z``: an hour as short as it can be said unambiguously; a period under
    an hour always with its minutes, ``2024-08-05T10:00Z``."""
    value = utc(value)
    if period_minutes != 60 or value.minute or value.second:
        return value.strftime("%Y-%m-%dT%H:%MZ")
    return value.strftime("%Y-%m-%dT%HZ")


def span(start: datetime, end: datetime, period_minutes: int = 60) -> str:
    """``2023-07-01..2023-07-31`` for whole days, else hour (period) to hour."""
    start, end = utc(start), utc(end)
    if start == end:
        return short_hour(start, period_minutes)
    if start.hour == end.hour == 0 and start.minute == end.minute == 0:
        return f"{start.date()}..{end.date()}"
    return f"{short_hour(start, period_minutes)}..{short_hour(end, period_minutes)}"


def _as_hour(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return utc(value)
    try:
        return parse_utc(str(value))
    except ValueError:
        return None


def _as_day(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


def _symbols(value: Any) -> str:
    if value is None or value == []:
        return "all symbols"
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable):
        return ",".join(str(s) for s in value)
    return str(value)


def _backtest(flow: str, p: dict[str, Any]) -> str:
    base = p.get("parameters") or p.get("base") or {}
    if not isinstance(base, dict):
        base = base.model_dump() if hasattr(base, "model_dump") else {}
    start, end = _as_hour(base.get("start")), _as_hour(base.get("end"))
    where = span(start, end - timedelta(hours=1)) if start and end and end > start else ""
    if flow == "backtest-sweep":
        varied = len(p.get("values") or {})
        extra = f" {varied} parameter(s) varied" if varied else ""
    else:
        extra = f" {base['name']}" if base.get("name") else ""
        if split := _as_hour(p.get("split")):  # a point of a fanned-out sweep
            extra += f" split {short_hour(split)}"
    return f"{flow} {base.get('symbol') or 'ETH-USDT'} {where}{extra}".strip()


def _days(flow: str, p: dict[str, Any], scheduled: datetime | None) -> str:
    day, start, end = _as_day(p.get("day")), _as_day(p.get("start")), _as_day(p.get("end"))
    if start and end:
        return f"{flow} {start}..{end}"
    if day:
        return f"{flow} {day}"
    if scheduled is not None:
        return f"{flow} {(utc(scheduled) - timedelta(days=1)).date()}"
    return f"{flow} yesterday"


def _hours(flow: str, p: dict[str, Any], scheduled: datetime | None, minutes: int) -> str:
    hour, start, end = _as_hour(p.get("hour")), _as_hour(p.get("start")), _as_hour(p.get("end"))
    if start and end:
        return span(start, end, minutes)
    if hour:
        return short_hour(hour, minutes)
    if start or end:
        first = short_hour(start, minutes) if start else ""
        return f"{first}..{short_hour(end, minutes) if end else ''}"
    if flow == "validate-snapshots":
        return "all hours"
    if scheduled is not None:
        return short_hour(last_closed_period(utc(scheduled), minutes), minutes)
    return "last closed hour" if minutes == 60 else "last closed period"


def describe(
    flow: str,
    parameters: dict[str, Any],
    scheduled: datetime | None = None,
    period_minutes: int = 60,
) -> str:
    """The name of a run of ``flow`` with ``parameters`` (pure, for tests and callers);
    ``period_minutes``: the collection period, whose start a scheduled run works on."""
    if flow in ("backtest", "backtest-sweep"):
        return _backtest(flow, parameters)
    if flow == "daily-kpi":
        return _days(flow, parameters, scheduled)
    who = parameters.get("group") or _symbols(parameters.get("symbols", parameters.get("symbol")))
    return f"{flow} {who} {_hours(flow, parameters, scheduled, period_minutes)}"


def configured_period() -> int:
    """The collection period of the settings in force (raises as loading them does)."""
    from market_maker.config import load_settings

    return load_settings().snapshots.period_minutes


# Flows named by days or backtest spans: their names do not depend on the period.
PERIODLESS = ("backtest", "backtest-sweep", "daily-kpi")


def run_name(flow: str) -> Callable[[], str]:
    """A ``flow_run_name`` callable for ``flow``; never fails a run over its name."""

    def name() -> str:
        from prefect.runtime import deployment, flow_run

        try:
            scheduled = flow_run.get_scheduled_start_time() if deployment.get_id() else None
            minutes = 60 if flow in PERIODLESS else configured_period()
            return describe(flow, dict(flow_run.get_parameters() or {}), scheduled, minutes)
        except Exception:  # a name is cosmetic: fall back to the flow's name
            return flow

    name.__name__ = f"{flow.replace('-', '_')}_run_name"
    return name
