"""The demo's replay: the hourly pipeline hour by hour with an operator who follows it.

Each hour runs exactly what the scheduled pipeline runs (``market_maker.pipeline.steps.run_hour``:
collection, analysis with the restart gates, exit evaluation, setup evaluation); then the
simulated operator approves a CREATE_GRID or stops the grid at MANDATORY_EXIT, ten minutes
after the decision was issued, through the same records a human's commands write. One
flow run (not one per hour) keeps the replay of a month to seconds; one commit per day.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Literal

from prefect import flow

from flows._common import (
    RequiredHour,
    SymbolParam,
    commit_message,
    data_repository_lock,
    logger,
    open_context,
)
from flows._run_names import run_name
from market_maker.base.timeutil import periods_between
from market_maker.decisions.states import ExitState
from market_maker.lifecycle.simulated_operator import OperatorAction, SimulatedOperator
from market_maker.pipeline.outcomes import HourResult
from market_maker.pipeline.steps import (
    exit_evaluator,
    hour_alerts,
    hour_services,
    load_book,
    run_hour,
    setup_evaluator,
)
from tasks.store import commit_task, push_task, sync_task


@flow(name="demo-replay", flow_run_name=run_name("demo-replay"))
def demo_replay(
    symbol: SymbolParam,
    start: RequiredHour,
    end: RequiredHour,
    operator_delay_minutes: int = 10,
    stop_at: Literal["LATEST_ACCEPTABLE_EXIT", "MANDATORY_EXIT"] = "MANDATORY_EXIT",
) -> tuple[list[HourResult], list[OperatorAction]]:
    """Replay ``start``..``end`` hour by hour with the simulated operator acting: it approves
    every CREATE_GRID and promotion and stops the grid at the first recommendation at or
    above ``stop_at``, ``operator_delay_minutes`` after each is issued."""
    log = logger()
    ctx = open_context([symbol])
    evaluator = exit_evaluator(ctx)
    alerts = hour_alerts(ctx.store.path, ctx.settings, evaluator)
    setup = setup_evaluator(ctx, symbol)
    operator = SimulatedOperator(
        ctx.store.path,
        ctx.settings.grids.fee_rate,
        timedelta(minutes=operator_delay_minutes),
        ExitState(stop_at),
    )
    results: list[HourResult] = []
    started = time.perf_counter()
    with data_repository_lock(ctx):
        sync_task(ctx)
        day: list[datetime] = []
        paths = []
        minutes = ctx.settings.snapshots.period_minutes
        for hour in periods_between(start, end, minutes):
            exchange = ctx.exchange
            if hasattr(exchange, "set_now"):  # the replay clock, as the scheduler would run
                exchange.set_now(hour + timedelta(minutes=minutes + 5))
            h = hour_services(ctx, book=load_book(ctx), exits=evaluator, alerts=alerts, setup=setup)
            result = run_hour(h, symbol, hour, collected_at=hour + timedelta(minutes=minutes + 5))
            results.append(result)
            paths += result.paths
            decision = result.setup.decision if result.setup else None
            if decision is None and result.exit is not None:
                decision = result.exit.decision
            paths += operator.act(decision)
            day.append(hour)
            if hour.hour == 23 or hour == end:
                detail = "\n".join(r.line() for r in results if r.hour in day)
                commit_task(ctx, commit_message("demo-replay", symbol, day, detail), paths)
                day, paths = [], []
        push_task(ctx)
    log.info("%d hours replayed in %.1f s", len(results), time.perf_counter() - started)
    return results, operator.actions
