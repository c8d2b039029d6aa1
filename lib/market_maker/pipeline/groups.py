"""Symbol groups: many symbols split into runs of the hourly pipeline that run side by side.

``pipeline.group_size`` splits ``symbols``, in their order, into groups of at most that
many: ``group-1``, ``group-2``, ... The scheduled run starts one run per group on the work
pool (each a pod on Kubernetes) and completes when they all have. Each group works in its
own working copy of the data repository under its own concurrency limit, so the groups do
not wait for each other; they write disjoint files and push to the one remote (a push that
races another group's is rebased and pushed again).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from market_maker.base.errors import ConfigurationError, RunFailed
from market_maker.base.types import FrozenModel, UtcHour
from market_maker.config import Settings

GROUP_PATTERN = r"^group-[0-9]{1,4}$"


def symbol_groups(settings: Settings) -> dict[str, list[str]]:
    """The configured groups and their symbols; empty when every symbol runs in one run."""
    size, symbols = settings.pipeline.group_size, list(settings.symbols)
    if not size or len(symbols) <= size:
        return {}
    chunks = [symbols[i : i + size] for i in range(0, len(symbols), size)]
    return {f"group-{n}": chunk for n, chunk in enumerate(chunks, 1)}


def group_settings(settings: Settings, group: str) -> tuple[Settings, list[str]]:
    """The settings a group's run works with (its working copy, its concurrency limit) and
    its symbols."""
    groups = symbol_groups(settings)
    if group not in groups:
        known = ", ".join(groups) or "none: pipeline.group_size splits no symbols"
        raise ConfigurationError(f"group {group} is not configured (groups: {known})")
    repo = settings.data_repository
    base = settings.pipeline.group_base_path or Path(f"{repo.base_path}-groups")
    copy = repo.model_copy(
        update={"base_path": base / group, "concurrency_limit": f"{repo.concurrency_limit}-{group}"}
    )
    return settings.model_copy(update={"data_repository": copy}), groups[group]


class GroupRuns(FrozenModel):
    """What the runs of an hour's groups ended as."""

    hour: UtcHour
    groups: dict[str, list[str]]
    runs: dict[str, str]  # group -> its run's name and final state
    failed: dict[str, str]

    @classmethod
    def of(
        cls, hour: datetime, groups: dict[str, list[str]], runs: dict[str, str], failed: dict
    ) -> GroupRuns:
        return cls(hour=hour, groups=groups, runs=runs, failed=failed)

    def markdown(self) -> str:
        lines = [
            f"Hour {self.hour:%Y-%m-%d %H:%M}Z in {len(self.groups)} group(s).",
            "",
            "| group | symbols | run |",
            "|---|---|---|",
        ]
        for group, symbols in self.groups.items():
            lines.append(f"| {group} | {', '.join(symbols)} | {self.runs.get(group, '-')} |")
        return "\n".join(lines) + "\n"


class GroupsFailed(RunFailed):
    """Some group's run did not complete; ``result`` says what every group's run did."""

    def __init__(self, result: GroupRuns):
        super().__init__(
            "pipeline failed for " + "; ".join(f"{g}: {why}" for g, why in result.failed.items())
        )
        self.result = result

    def __reduce__(self):  # a failed run's result is pickled by Prefect: keep it readable
        return (type(self), (self.result,))
