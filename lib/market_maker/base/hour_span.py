"""The hours a run works on: the one parameter type behind every flow's hour and range.

Flows take ``hour`` or ``start`` and ``end`` (each a UTC period start, checked by the
parameter's type); :class:`HourSpan` checks how they combine and that they start periods
of the configured collection period, once, with errors that name the parameter. An "hour"
is a collection period: an hour unless ``snapshots.period_minutes`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import model_validator

from market_maker.base.errors import ParameterError
from market_maker.base.timeutil import format_utc, is_period_start, periods_between
from market_maker.base.types import FrozenModel, PeriodMinutes, UtcPeriodStart


class HourSpan(FrozenModel):
    """``start``..``end``, inclusive; ``single`` when the run was asked for one period."""

    start: UtcPeriodStart
    end: UtcPeriodStart
    single: bool = False
    period_minutes: PeriodMinutes = 60

    @model_validator(mode="after")
    def _ordered(self) -> HourSpan:
        if self.end < self.start:
            raise ValueError(f"end {format_utc(self.end)} is before start {format_utc(self.start)}")
        return self

    @classmethod
    def between(cls, start: datetime, end: datetime, period_minutes: int = 60) -> HourSpan:
        """A range both ends of which were given; an inverted one is a ParameterError."""
        _aligned("start", start, period_minutes)
        _aligned("end", end, period_minutes)
        if end < start:
            raise ParameterError(f"end {format_utc(end)} is before start {format_utc(start)}")
        return cls(start=start, end=end, period_minutes=period_minutes)

    @classmethod
    def at(cls, hour: datetime, period_minutes: int = 60) -> HourSpan:
        _aligned("hour", hour, period_minutes)
        return cls(start=hour, end=hour, single=True, period_minutes=period_minutes)

    @classmethod
    def of(
        cls,
        hour: datetime | None,
        start: datetime | None,
        end: datetime | None,
        *,
        default: Callable[[], datetime],
        period_minutes: int = 60,
    ) -> HourSpan:
        """``hour``, or ``start`` and ``end``, or neither (then ``default()``, one period)."""
        if hour is not None and (start is not None or end is not None):
            raise ParameterError("give hour, or start and end, not both")
        if (start is None) != (end is None):
            missing = "end" if end is None else "start"
            raise ParameterError(f"{missing} is missing: a range needs both start and end")
        if start is not None and end is not None:
            return cls.between(start, end, period_minutes)
        return cls.at(hour if hour is not None else default(), period_minutes)

    @classmethod
    def optional(
        cls, start: datetime | None, end: datetime | None, period_minutes: int = 60
    ) -> HourSpan | None:
        """A range whose ends each default to 'no bound' (None when neither is given)."""
        if start is not None and end is not None:
            return cls.between(start, end, period_minutes)
        return None

    def hours(self) -> list[datetime]:
        """Every period start of the span, in order."""
        return list(periods_between(self.start, self.end, self.period_minutes))

    def label(self) -> str:
        if self.start == self.end:
            return format_utc(self.start)
        return f"{format_utc(self.start)}..{format_utc(self.end)}"


def _aligned(name: str, value: datetime, period_minutes: int) -> None:
    if not is_period_start(value, period_minutes):
        what = (
            "on the hour"
            if period_minutes == 60
            else f"the start of a {period_minutes}-minute period"
        )
        raise ParameterError(
            f"{name} {format_utc(value)} is not {what} (snapshots.period_minutes: {period_minutes})"
        )
