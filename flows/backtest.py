"""The backtest flow: replay the decision logic over history and report, and the sweep."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Annotated, Any

from prefect import flow, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.runtime import task_run
from prefect.settings import get_current_settings
from prefect.task_runners import ProcessPoolTaskRunner
from pydantic import Field

from flows import _fan_out as fan_out
from flows._common import (
    data_repository_lock,
    flow_timeout,
    logger,
    open_context,
    with_run_trailer,
    workers_report_here,
)
from flows._hooks import FAILURE_HOOKS
from flows._run_names import run_name
from market_maker.backtest.page import write_report
from market_maker.backtest.parameters import BacktestParameters
from market_maker.backtest.results import BacktestReport
from market_maker.backtest.run_result import BacktestRun, SweepRun
from market_maker.backtest.runner import (
    LoadedData,
    load,
    load_cached,
    point_result,
    replay_worker,
)
from market_maker.backtest.runner import backtest as run_one
from market_maker.backtest.stored import StoredMinutes
from market_maker.backtest.sweep import (
    PointRun,
    SweepPoint,
    SweepResult,
    batches,
    rank,
    split_at,
    sweep_points,
)
from market_maker.base.errors import MarketMakerError
from market_maker.config import Settings
from market_maker.config.versions import code_version
from market_maker.context import RunContext
from tasks.store import commit_task, push_task, sync_task

SweepValues = Annotated[
    dict[str, list[Any]],
    Field(description="Parameter (or setting override by dotted path) -> the values to try."),
]
SplitHour = Annotated[
    datetime,
    Field(description="Walk-forward split: tuned on [start, split), ranked on [split, end)."),
]
PointSplit = Annotated[
    datetime | None,
    Field(
        description="Run as one point of a sweep: the figures on [start, split) and on "
        "[split, end), as a table artifact; no report is written. Empty: a backtest."
    ),
]
RankBy = Annotated[str, Field(description="pnl, pnl_vs_no_exit, or a KPI: FER, EAW, SLAR, MEC.")]
FanOut = Annotated[
    bool,
    Field(
        description="Each point a run of the backtest deployment on the work pool (a pod on "
        "Kubernetes), as many at once as its concurrency limit allows; off: the points run "
        "in processes of this run."
    ),
]
# Batches per worker process: enough that the batches end close together and the progress
# moves, few enough that orchestrating them costs little beside the points.
BATCHES_PER_WORKER = 4


def points_run_name() -> str:
    """A batch's task run named by its points, e.g. ``points 3, 11, 19 (+9)``."""
    points: list[SweepPoint] = task_run.parameters["points"]
    shown = ", ".join(str(p.index + 1) for p in points[:3])
    return f"points {shown}" + (f" (+{len(points) - 3})" if len(points) > 3 else "")


# The deployment a fanned-out sweep runs its points on (prefect.yaml), and the artifact a
# point publishes its figures in.
BACKTEST_DEPLOYMENT = "backtest/backtest"
POINT_ARTIFACT = "backtest-point"


class SweepPointsFailed(MarketMakerError):
    """Runs of a fanned-out sweep's points that did not complete, each with why."""


@task(name="preflight", cache_policy=NO_CACHE)
def preflight_task(
    params: BacktestParameters, settings: Settings, stored: StoredMinutes | None = None
) -> LoadedData:
    """Read the recording (or the stored snapshots' minutes) and check their health; a
    failing preflight stops the run."""
    return load(params, settings, stored)


def stored_minutes(ctx: RunContext, params: BacktestParameters) -> StoredMinutes | None:
    """Without a recording, the data repository's snapshots, first brought up to date with
    the remote (what other writers pushed)."""
    if params.data_file is not None:
        return None
    with data_repository_lock(ctx):
        sync_task(ctx)
    return StoredMinutes.of(ctx)


@task(name="replay", cache_policy=NO_CACHE)
def replay_task(
    params: BacktestParameters, settings: Settings, data: LoadedData, progress_id: Any = None
) -> tuple[BacktestReport, dict]:
    """Analyse every hour, replay the exits, simulate the grids, score them."""

    def say(share: float, text: str) -> None:
        if progress_id is not None:
            update_progress_artifact(progress_id, 100.0 * share)
        logger().info("%s", text)

    outcome = run_one(params, settings, data, code_version=code_version(), progress=say)
    return outcome.report, outcome.series()


@flow(
    name="backtest",
    flow_run_name=run_name("backtest"),
    description="Replay the decision logic over recorded candles; grid PnL, KPIs, baselines.",
    timeout_seconds=flow_timeout(3600),
    **FAILURE_HOOKS,
)
def backtest(parameters: BacktestParameters, split: PointSplit = None) -> BacktestRun | PointRun:
    """Replay the whole decision logic over a recording and write
    ``backtests/{name}/report.yaml`` and ``report.html`` in the data repository (one commit).
    With ``split``, one point of a fanned-out sweep: its figures on the training and the
    test period, as the table artifact ``backtest-point``.

    Args:
        parameters: What to replay, how grids are placed, how the operator acts, costs.
        split: Run as a sweep's point, split here into training and test periods.
    """
    log = logger()
    ctx = open_context([parameters.symbol])
    if split is not None:
        return _point(ctx, parameters, split)
    progress = create_progress_artifact(
        progress=0.0, key="backtest-progress", description=f"Backtest {parameters.symbol}"
    )
    data = preflight_task(parameters, ctx.settings, stored_minutes(ctx, parameters))
    report, series = replay_task(parameters, ctx.settings, data, progress)
    with data_repository_lock(ctx):
        sync_task(ctx)
        paths = write_report(ctx.store.path, report, series)
        # Always: it also commits what an interrupted run left (validated when the lock was taken).
        sha = commit_task(ctx, with_run_trailer(f"backtest: {report.name}"), paths)
        pushed = push_task(ctx)
    update_progress_artifact(progress, 100.0)
    result = BacktestRun.of(report, ctx.store.path, paths, sha, pushed.pushed)
    create_markdown_artifact(key="backtest", markdown=result.markdown(), description=report.name)
    create_table_artifact(key="backtest-table", table=result.table(), description=report.name)
    log.info("backtest %s: report in %s", report.name, result.directory)
    return result


def _point(ctx: RunContext, parameters: BacktestParameters, split: datetime) -> PointRun:
    train, test = split_at(parameters, split)
    point = SweepPoint(index=0, values={}, train=train, test=test)
    [result] = sweep_points_task([point], ctx.settings, stored_minutes(ctx, parameters))
    run = PointRun(train=result.train, test=result.test)
    create_table_artifact(
        key=POINT_ARTIFACT, table=run.rows(), description=f"split at {split:%Y-%m-%dT%HZ}"
    )
    return run


@task(name="backtest-points", task_run_name=points_run_name, cache_policy=NO_CACHE)
def sweep_points_task(
    points: list[SweepPoint], settings: Settings, stored: StoredMinutes | None = None
) -> list[SweepResult]:
    """A batch of a sweep's points, each on its training and its test period."""
    return [point_result(p, settings, stored) for p in points]


@flow(
    name="backtest-sweep",
    flow_run_name=run_name("backtest-sweep"),
    description="Backtests over a grid of parameter values, ranked on a later, unseen period.",
    timeout_seconds=flow_timeout(6 * 3600),
    task_runner=ProcessPoolTaskRunner(initializer=replay_worker),
    **FAILURE_HOOKS,
)
def backtest_sweep(
    base: BacktestParameters,
    values: SweepValues,
    split: SplitHour,
    rank_by: RankBy = "pnl",
    fan_out: FanOut = False,
) -> SweepRun:
    """Run every combination of ``values`` on the training period and on the later test
    period, rank the points by ``rank_by`` on the test period, write one table. With
    ``fan_out`` each point is a run of the backtest deployment, linked to this run."""
    log = logger()
    ctx = open_context([base.symbol])
    points = sweep_points(base, values, split)
    log.info(
        "sweep: %d point(s), train %s..%s, test %s..%s",
        len(points),
        base.start,
        split,
        split,
        base.end,
    )
    stored = stored_minutes(ctx, base)
    # Fail fast on bad data, before any worker starts.
    load_cached(points[0].train, ctx.settings, stored)
    load_cached(points[0].test, ctx.settings, stored)
    results = _fanned_out(points, split) if fan_out else _in_processes(points, ctx.settings, stored)
    ranked = rank(results, rank_by)
    result = SweepRun.of(len(points), ranked, rank_by)
    create_markdown_artifact(
        key="backtest-sweep", markdown=result.markdown(), description=f"{len(points)} points"
    )
    return result


def _in_processes(
    points: list[SweepPoint], settings: Settings, stored: StoredMinutes | None
) -> list[SweepResult]:
    """The points in batches on this run's worker processes, the progress shown as they end."""
    workers = get_current_settings().tasks.runner.process_pool_max_workers or os.cpu_count() or 1
    dealt = batches(points, BATCHES_PER_WORKER * workers)
    progress = create_progress_artifact(
        progress=0.0, key="backtest-sweep-progress", description=f"{len(points)} points"
    )
    with workers_report_here():
        futures = [sweep_points_task.submit(batch, settings, stored) for batch in dealt]
    results: list[SweepResult] = []
    for done in as_completed(futures):
        results.extend(done.result())
        update_progress_artifact(progress, 100.0 * len(results) / len(points))
    return sorted(results, key=lambda r: r.index)


def _fanned_out(points: list[SweepPoint], split: datetime) -> list[SweepResult]:
    """Each point a run of the backtest deployment; their figures, once all have ended."""
    progress = create_progress_artifact(
        progress=0.0, key="backtest-sweep-progress", description=f"{len(points)} points"
    )
    by_key = {f"point-{p.index + 1}": p for p in points}
    ids = fan_out.start_runs(
        BACKTEST_DEPLOYMENT,
        {
            key: {
                "parameters": p.whole.model_copy(update={"name": key}).model_dump(mode="json"),
                "split": split.isoformat(),
            }
            for key, p in by_key.items()
        },
    )
    logger().info("sweep: %d run(s) of %s started", len(ids), BACKTEST_DEPLOYMENT)

    def say(done: int, total: int) -> None:
        update_progress_artifact(progress, 100.0 * done / total)

    runs = fan_out.wait_for(ids, say)
    if failed := fan_out.failures(runs):
        raise SweepPointsFailed(
            f"{len(failed)} of {len(points)} point(s) failed: "
            + "; ".join(f"{key} ({by_key[key].values}): {why}" for key, why in failed.items())
        )
    return [
        PointRun.from_rows(fan_out.table(runs[key].id, POINT_ARTIFACT)).result(p)
        for key, p in by_key.items()
    ]
