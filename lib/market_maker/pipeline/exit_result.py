"""What an exit-evaluation run returns: the grid's exit state for the hour, typed, with the
markdown of the run's artifact. Read by the CLI and the tests by attribute, never by key."""

from __future__ import annotations

from pydantic import Field

from market_maker.base.types import FrozenModel, UtcDatetime
from market_maker.decisions.states import ExitState
from market_maker.pipeline.exit_report import outcome_markdown
from market_maker.pipeline.outcomes import ExitOutcome


class ExitEvaluationResult(FrozenModel):
    """One symbol's hour: the exit state it ended in, the commit of its records."""

    symbol: str
    hour: UtcDatetime
    line: str = Field(description="The evaluation in a line, as the console shows it.")
    state: ExitState | None = Field(None, description="None: the hour was not evaluated.")
    commit: str | None = None
    pushed: bool = False
    markdown_text: str = Field("", exclude=True)

    @classmethod
    def of(cls, outcome: ExitOutcome, commit: str | None, pushed: bool) -> ExitEvaluationResult:
        return cls(
            symbol=outcome.symbol,
            hour=outcome.hour,
            line=outcome.line(),
            state=outcome.evaluation.after if outcome.evaluation else None,
            commit=commit,
            pushed=pushed,
            markdown_text=outcome_markdown([outcome]),
        )

    def markdown(self) -> str:
        """The run's artifact: the evaluation, what changed and what was sent."""
        return self.markdown_text
