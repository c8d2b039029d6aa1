"""Tasks of the exit evaluation and the hourly pipeline."""

from __future__ import annotations

from datetime import datetime, timedelta

from prefect import task
from prefect.cache_policies import NO_CACHE

from market_maker.context import RunContext
from market_maker.exit_strategy.service import ExitEvaluator, ExitOutcome
from market_maker.grids.book import GridBook
from market_maker.identifiers import inside
from market_maker.lifecycle.balance import balance_of
from market_maker.lifecycle.service import SetupEvaluator
from market_maker.notifications.notifier import Notifier
from market_maker.pipeline import HourResult, run_hour
from market_maker.regime import files
from market_maker.regime.model import metrics_relpath
from tasks.retry import retry_transient


@task(name="evaluate-exit", cache_policy=NO_CACHE)
def evaluate_exit_task(
    ctx: RunContext,
    evaluator: ExitEvaluator,
    book: GridBook,
    symbol: str,
    hour: datetime,
    run_url: str | None,
) -> ExitOutcome:
    """Evaluate the exit state from the hour's stored metrics file."""
    metrics = files.read(inside(ctx.store.path, metrics_relpath(symbol, hour)))
    return evaluator.evaluate(metrics, book, code_version=ctx.code_version, run_url=run_url)


@task(
    name="pipeline-hours",
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
    tags=["exchange"],
)
def pipeline_hours_task(
    ctx: RunContext,
    evaluator: ExitEvaluator,
    book: GridBook,
    symbol: str,
    hours: list[datetime],
    collected_at: datetime | None,
    run_url: str | None,
) -> list[HourResult]:
    """Collection, analysis and exit evaluation for each hour, in order.

    ``collected_at`` None: a replay, each hour collected as the scheduler would have (the
    replay clock is moved to five minutes past the hour's close).
    """
    results = []
    balance = balance_of(ctx.settings, ctx.exchange, symbol.split("-")[1])
    setup = SetupEvaluator(
        ctx.store.path, ctx.settings, Notifier(ctx.settings.notifications), balance
    )
    for hour in hours:
        stamp = collected_at
        if stamp is None:
            stamp = _replay_clock(ctx, hour)
        results.append(
            run_hour(
                ctx,
                symbol,
                hour,
                book=book,
                evaluator=evaluator,
                collected_at=stamp,
                run_url=run_url,
                setup=setup,
            )
        )
    return results


def _replay_clock(ctx: RunContext, hour: datetime) -> datetime:
    moment = hour + timedelta(hours=1, minutes=5)
    exchange = ctx.exchange
    if hasattr(exchange, "set_now"):
        exchange.set_now(moment)
    return moment
