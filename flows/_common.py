"""Glue every flow shares: settings at the edge, the hour to work on, the repository lock."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from prefect.logging import get_run_logger
from prefect.runtime import deployment, flow_run
from pydantic import AfterValidator, Field

from flows._lock import DATA_REPOSITORY_LIMIT, data_repository_lock, ensure_concurrency_limit
from market_maker.base import redaction
from market_maker.base.errors import ConfigurationError, MarketMakerError
from market_maker.base.hour_span import HourSpan
from market_maker.base.timeutil import (
    PERIOD_MINUTES,
    format_utc,
    is_period_start,
    last_closed_period,
    utc,
)
from market_maker.config import load_settings
from market_maker.config.models import SYMBOL_PATTERN
from market_maker.config.settings import SECRET_FIELDS, env_var_for
from market_maker.context import RunContext
from market_maker.exchange import Exchange

FINEST_PERIOD = min(PERIOD_MINUTES)


def _starts_a_period(value: datetime | None) -> datetime | None:
    """A period start of some allowed collection period; which one the run's configuration
    asks for is checked once, by :class:`HourSpan`."""
    if value is None:
        return None
    value = utc(value)
    if not is_period_start(value, FINEST_PERIOD):
        raise ValueError(
            f"{format_utc(value)} does not start a collection period "
            "(use e.g. 2024-08-05T10:00:00Z)"
        )
    return value


SymbolParam = Annotated[
    str, Field(pattern=SYMBOL_PATTERN, description="Symbol as the exchange names it: ETH-USDT")
]
HourParam = Annotated[
    datetime | None,
    AfterValidator(_starts_a_period),
    Field(description="UTC hour to work on; empty for the last closed hour (scheduled time)."),
]
RequiredHour = Annotated[
    datetime,
    AfterValidator(_starts_a_period),
    Field(description="UTC hour, e.g. 2023-07-01T00:00:00Z"),
]


FLOW_TIMEOUT_ENV = "MARKET_MAKER_FLOW_TIMEOUT_SECONDS"

# Every process that loads a flow (a Kubernetes job, `make serve`, the CLI) masks the secret
# values of its environment in every log record, Prefect's and libraries' included.
redaction.register_environment(env_var_for(field) for field in SECRET_FIELDS)
redaction.install_log_redaction()


def flow_timeout(default: float) -> float:
    """A flow's time limit: the deployment's (``MARKET_MAKER_FLOW_TIMEOUT_SECONDS`` in its job
    variables, see prefect.yaml), else ``default``. A run past it fails and releases its lock.
    """
    raw = os.environ.get(FLOW_TIMEOUT_ENV)
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ConfigurationError(
            f"environment variable {FLOW_TIMEOUT_ENV} must be a number of seconds, not {raw!r}"
        ) from None


def open_context(symbols: list[str] | None = None) -> RunContext:
    """Load the settings in force and open the data repository (the flow's edge).

    ``symbols`` asked for must be configured: a typo is an error, not an empty success.
    """
    settings = load_settings()
    configure_logging(settings.logging.format, settings.logging.level)
    settings.require_symbols(symbols or [])
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


def resolve_hour(hour: datetime | None, exchange: Exchange, period_minutes: int = 60) -> datetime:
    """The hour (collection period) a run works on.

    Explicit when given (it must start a period); for a scheduled (deployment) run, the
    period before the run's scheduled start, so a rerun of an old run redoes the same one;
    otherwise the last period closed at the exchange's clock.
    """
    if hour is not None:
        return HourSpan.at(utc(hour), period_minutes).start
    if deployment.get_id() is not None:
        scheduled = flow_run.get_scheduled_start_time()
        if scheduled is not None:
            return last_closed_period(utc(scheduled), period_minutes)
    return last_closed_period(exchange.now(), period_minutes)


def hours_of(
    ctx: RunContext, hour: datetime | None, start: datetime | None, end: datetime | None
) -> HourSpan:
    """The run's hour, or range, in the configured collection period; by default the period
    :func:`resolve_hour` gives."""
    minutes = ctx.settings.snapshots.period_minutes
    return HourSpan.of(
        hour,
        start,
        end,
        default=lambda: resolve_hour(None, ctx.exchange, minutes),
        period_minutes=minutes,
    )


def collected_at(exchange: Exchange) -> datetime:
    """Now, and never before the source's clock (a replay's hour must look closed)."""
    return max(datetime.now(UTC), exchange.now()).replace(microsecond=0)


def commit_message(flow: str, symbol: str, hours: list[datetime], detail: str) -> str:
    """First line names the flow, symbol and hour(s); the body says what changed, and a
    ``Flow-Run:`` trailer names the run (as the Prefect UI shows it) and its id."""
    if not hours:
        span = "(no hours)"
    elif len(hours) == 1:
        span = format_utc(hours[0])
    else:
        span = f"{format_utc(min(hours))}..{format_utc(max(hours))}"
    return with_run_trailer(f"{flow}: {symbol} {span}\n\n{detail}")


def with_run_trailer(message: str) -> str:
    """``message`` with a ``Flow-Run:`` trailer naming this run (as the Prefect UI shows it)
    and its id, so every commit of a run leads back to it; unchanged outside a flow run."""
    run = flow_run.get_name()
    trailer = f"\n\nFlow-Run: {run} ({flow_run.get_id()})" if run else ""
    return f"{message.rstrip()}{trailer}\n"


def failure_reason(state: Any) -> str:
    """Why a task run failed, in one line: its exception's message (secrets masked)."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception as error:  # the result itself could not be read
        exc = error
    if isinstance(exc, BaseException):
        text = " ".join(str(exc).split()) or type(exc).__name__
        if not isinstance(exc, MarketMakerError):
            text = f"{type(exc).__name__}: {text}"
    else:
        text = str(state.message or state.name)
    return redaction.redact(text)


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


__all__ = [
    "DATA_REPOSITORY_LIMIT",
    "data_repository_lock",
    "ensure_concurrency_limit",
]


@contextmanager
def workers_report_here() -> Iterator[None]:
    """Worker processes started inside report to this run's Prefect server.

    Without ``PREFECT_API_URL`` (Prefect's ephemeral mode) this run talks to a temporary
    server of its process; a process pool's worker would start a temporary server of its own,
    seconds of CPU each, and record its task runs there, out of this run's sight. The process
    pool hands its workers this process's environment as it is at the first task submitted.
    """
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL

    server = SubprocessASGIServer()
    if PREFECT_API_URL.value() or not server.running or "PREFECT_API_URL" in os.environ:
        yield
        return
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        yield
    finally:
        os.environ.pop("PREFECT_API_URL", None)
