"""Glue every flow shares: settings at the edge, the hour to work on, the repository lock."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

from prefect import get_client
from prefect.concurrency.sync import concurrency
from prefect.logging import get_run_logger
from prefect.runtime import deployment, flow_run
from pydantic import AfterValidator, Field

from market_maker.config import load_settings
from market_maker.config.models import SYMBOL_PATTERN
from market_maker.context import RunContext
from market_maker.exchange import Exchange
from market_maker.timeutil import format_utc, is_hour, last_closed_hour, utc

# The Prefect global concurrency limit that serialises writers of the data repository.
DATA_REPOSITORY_LIMIT = "data-repository"


def _on_the_hour(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    value = utc(value)
    if not is_hour(value):
        raise ValueError(f"{value.isoformat()} is not on the hour (use e.g. 2024-08-05T10:00:00Z)")
    return value


SymbolParam = Annotated[
    str, Field(pattern=SYMBOL_PATTERN, description="Symbol as the exchange names it: ETH-USDT")
]
HourParam = Annotated[
    datetime | None,
    AfterValidator(_on_the_hour),
    Field(description="UTC hour to work on; empty for the last closed hour (scheduled time)."),
]
RequiredHour = Annotated[
    datetime,
    AfterValidator(_on_the_hour),
    Field(description="UTC hour, e.g. 2023-07-01T00:00:00Z"),
]


def open_context() -> RunContext:
    """Load the settings in force and open the data repository (the flow's edge)."""
    settings = load_settings()
    configure_logging(settings.logging.format, settings.logging.level)
    return RunContext.open(settings)


def configure_logging(fmt: str, level: str = "INFO") -> None:
    """JSON lines on every console handler when ``logging.format`` is json (for Loki & co)."""
    logging.getLogger("market_maker").setLevel(level)
    if fmt != "json":
        return
    from prefect.logging.formatters import JsonFormatter

    formatter = JsonFormatter("default", "", "%")
    for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs", "market_maker"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setFormatter(formatter)


def flow_run_url() -> str | None:
    """This run's page in the Prefect UI, for links in messages."""
    return flow_run.get_flow_run_ui_url()


def resolve_hour(hour: datetime | None, exchange: Exchange) -> datetime:
    """The hour a run works on.

    Explicit when given; for a scheduled (deployment) run, the hour before
    the run's scheduled start, so a rerun of an old run redoes the same hour;
    otherwise the last hour closed at the exchange's clock.
    """
    if hour is not None:
        return utc(hour)
    if deployment.get_id() is not None:
        scheduled = flow_run.get_scheduled_start_time()
        if scheduled is not None:
            return last_closed_hour(utc(scheduled))
    return last_closed_hour(exchange.now())


def collected_at(exchange: Exchange) -> datetime:
    """Now, and never before the source's clock (a replay's hour must look closed)."""
    return max(datetime.now(UTC), exchange.now()).replace(microsecond=0)


@contextlib.contextmanager
def data_repository_lock(ctx: RunContext) -> Iterator[None]:
    """Serialise writers: a Prefect global concurrency slot across pods, a file lock on the disk."""
    ensure_concurrency_limit(DATA_REPOSITORY_LIMIT)
    timeout = ctx.settings.data_repository.lock_timeout_seconds
    with concurrency(DATA_REPOSITORY_LIMIT, occupy=1, timeout_seconds=timeout), ctx.store.locked():
        yield


_known_limits: set[str] = set()


def ensure_concurrency_limit(name: str, limit: int = 1) -> None:
    """Create the global concurrency limit on first use, so a fresh server enforces it too."""
    if name in _known_limits:
        return
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=limit)
                )
    _known_limits.add(name)


def commit_message(flow: str, symbol: str, hours: list[datetime], detail: str) -> str:
    """First line names the flow, symbol and hour(s); the body says what changed."""
    if not hours:
        span = "(no hours)"
    elif len(hours) == 1:
        span = format_utc(hours[0])
    else:
        span = f"{format_utc(min(hours))}..{format_utc(max(hours))}"
    return f"{flow}: {symbol} {span}\n\n{detail}\n"


def logger():
    return get_run_logger()


def log_duration(
    log: logging.Logger | logging.LoggerAdapter, what: str, seconds: float, settings
) -> None:
    """Evaluation time in the logs: WARNING above 1 minute, ERROR above 5 (configurable)."""
    cfg = settings.exit_strategy
    level = (
        logging.ERROR
        if seconds > cfg.duration_error_seconds
        else logging.WARNING
        if seconds > cfg.duration_warning_seconds
        else logging.INFO
    )
    log.log(level, "%s took %.2f s", what, seconds)
