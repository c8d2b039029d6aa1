"""What a run of the hourly pipeline returns: typed, with a markdown rendering for its
artifact. Read by the CLI and the tests by attribute, never by key."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from market_maker.base.errors import RunFailed
from market_maker.base.timeutil import format_utc
from market_maker.base.types import FrozenModel, UtcDatetime
from market_maker.pipeline.exit_report import outcome_markdown
from market_maker.pipeline.outcomes import ExitOutcome, HourResult
from market_maker.pipeline.steps import STEPS as STEP_LIST
from market_maker.pipeline.steps import StepName

# A step of the hourly chain, or a replayed day (its steps run as plain calls).
Step = StepName | Literal["replay"]
STEPS: tuple[StepName, ...] = tuple(s.name for s in STEP_LIST)


class StepRun(FrozenModel):
    """One step of one symbol and hour, as its task run ended."""

    symbol: str
    hour: UtcDatetime
    step: Step
    state: str = Field(
        description="Completed, Cached, Failed, or Skipped (an earlier step failed)."
    )
    seconds: float = 0.0
    detail: str = ""


class TransitionLine(FrozenModel):
    symbol: str
    hour: UtcDatetime
    from_state: str
    to_state: str
    reasons: list[str]


class NotificationLine(FrozenModel):
    symbol: str
    hour: UtcDatetime
    priority: int
    title: str
    message: str
    deliveries: list[str]


class PipelineResult(FrozenModel):
    """A cycle (one hour, every symbol) or a replay of a range of hours."""

    hours: list[UtcDatetime] = Field(description="The hours run (first and last beyond 48).")
    symbols: list[str]
    lines: dict[str, list[str]] = Field(description="Per symbol, one line per hour.")
    steps: list[StepRun] = Field(default_factory=list)
    transitions: list[TransitionLine] = Field(default_factory=list)
    notifications: list[NotificationLine] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict, description="symbol -> why.")
    commits: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    symbol_seconds: dict[str, float] = Field(
        default_factory=dict, description="Per symbol, the time its steps took."
    )
    exit_markdown: str = Field("", exclude=True)

    @classmethod
    def build(
        cls,
        hours: list[datetime],
        symbols: list[str],
        results: dict[str, list[HourResult]],
        *,
        steps: list[StepRun] | None = None,
        failed: dict[str, str] | None = None,
        commits: list[str] | None = None,
        seconds: float = 0.0,
    ) -> PipelineResult:
        outcomes = [r.exit for s in symbols for r in results.get(s, []) if r.exit is not None]
        return cls(
            hours=hours if len(hours) <= 48 else [hours[0], hours[-1]],
            symbols=symbols,
            lines={s: [r.line() for r in results.get(s, [])] for s in symbols},
            steps=steps or [],
            transitions=[t for o in outcomes if (t := _transition(o)) is not None],
            notifications=[_notification(o) for o in outcomes if o.notification is not None],
            failed=failed or {},
            commits=commits or [],
            seconds=round(seconds, 3),
            symbol_seconds={
                s: round(sum(r.seconds for r in results.get(s, [])), 3) for s in symbols
            },
            exit_markdown=outcome_markdown(outcomes),
        )

    @property
    def ok(self) -> bool:
        return not self.failed

    def markdown(self) -> str:
        """The run's artifact: the steps per symbol, what changed and what was sent."""
        span = (
            format_utc(self.hours[0])
            if len(self.hours) == 1
            else f"{format_utc(self.hours[0])}..{format_utc(self.hours[-1])}"
        )
        out = [f"# Hourly pipeline {span}", ""]
        if self.steps:
            out += ["| symbol | hour | " + " | ".join(STEPS) + " | seconds |", "|---" * 8 + "|"]
            keys = sorted({(s.symbol, s.hour) for s in self.steps}, key=lambda k: (k[1], k[0]))
            for symbol, hour in keys:
                runs = {s.step: s for s in self.steps if (s.symbol, s.hour) == (symbol, hour)}
                cells = [runs[s].state if s in runs else "-" for s in STEPS]
                total = sum(r.seconds for r in runs.values())
                out.append(
                    f"| {symbol} | {format_utc(hour)} | " + " | ".join(cells) + f" | {total:.2f} |"
                )
            out.append("")
        if self.exit_markdown:
            out += [self.exit_markdown, ""]
        if self.failed:
            out += ["## Failed symbols", ""]
            out += [f"- {s}: {why}" for s, why in self.failed.items()]
        return "\n".join(out).rstrip() + "\n"


def _transition(o: ExitOutcome) -> TransitionLine | None:
    e = o.evaluation
    if e is None or e.transition is None:
        return None
    return TransitionLine(
        symbol=o.symbol,
        hour=o.hour,
        from_state=str(e.before),
        to_state=str(e.after),
        reasons=e.transition.reasons,
    )


def _notification(o: ExitOutcome) -> NotificationLine:
    n = o.notification
    assert n is not None
    return NotificationLine(
        symbol=o.symbol,
        hour=o.hour,
        priority=n.priority,
        title=n.title,
        message=n.message,
        deliveries=[f"{d.channel}: {d.detail}" for d in o.deliveries],
    )


class PipelineFailed(RunFailed):
    """Some symbol failed a step; ``result`` still says what every symbol did."""

    def __init__(self, result: PipelineResult):
        super().__init__(
            "pipeline failed for " + "; ".join(f"{s}: {why}" for s, why in result.failed.items())
        )
        self.result = result
