"""Tasks around the Git data repository."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from market_maker.context import RunContext
from market_maker.store import PushResult
from tasks.retry import retry_transient


@task(name="sync-data-repository", cache_policy=NO_CACHE)
def sync_task(ctx: RunContext) -> bool:
    """Rebase onto the remote before writing; False when the remote is unreachable."""
    return ctx.store.sync()


@task(name="commit", cache_policy=NO_CACHE)
def commit_task(ctx: RunContext, message: str, paths: list[Path]) -> str | None:
    """Commit the validated files, with those an interrupted run left (validated when the lock
    was taken); None when nothing changed."""
    if ctx.store.pending:
        message += (
            f"\nAlso committed: {len(ctx.store.pending)} file(s) an interrupted run had written "
            "(validated).\n"
        )
    return ctx.store.commit(message, [*paths, ctx.store.ensure_gitignore()])


@task(
    name="push",
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
)
def push_task(ctx: RunContext) -> PushResult:
    """Push; a rejected push is rebased and retried, an unreachable remote waits for next run."""
    return ctx.store.push()
