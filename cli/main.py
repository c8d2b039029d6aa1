"""The ``market-maker`` entry point: parse, point Prefect at its server, run the command.

A failure is one line, ``market-maker <command>: what is wrong``, with exit code 2 for
configuration and usage errors and 1 otherwise; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence

from cli.parser import build_parser
from market_maker.base import redaction
from market_maker.base.errors import ConfigurationError, MarketMakerError, ParameterError
from market_maker.config.settings import SECRET_FIELDS, env_var_for

CONFIG_FILE_ENV = "MARKET_MAKER_CONFIG"


class _NoTraceback(logging.Filter):
    """On the console a failure is its message: the traceback goes to Prefect's run logs (and
    to the console with --debug)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            record.exc_info, record.exc_text = None, None
        return True


# Prefect's own lines about a failure (the exception, the final state, the hooks it runs) and
# the failure hook's: on the console the command's one line says it all; the run's logs in
# the UI keep them (and --debug shows them).
_FAILURE_ECHOES = (
    "Encountered exception during execution",
    "Task run failed with ",
    "Validation of flow parameters failed",
    "Crash detected!",
    "Running hook ",
    "Hook ",
)
_FAILED_STATE = re.compile(r"Finished in state (Failed|Crashed|TimedOut)\b")


class _NoFailureEchoes(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("market_maker.hooks"):
            return False
        if record.name not in ("prefect.flow_runs", "prefect.task_runs"):
            return True
        message = record.getMessage()
        if message.startswith("Task run failed with ") and record.levelno < logging.ERROR:
            return True  # a retry to come: progress, not the failure
        return not (message.startswith(_FAILURE_ECHOES) or _FAILED_STATE.match(message))


def _quiet_tracebacks() -> None:
    # `import prefect` alone does not configure logging (Prefect imports lazily): set its
    # handlers up now, so the filter goes on them, not on handlers that do not exist yet.
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()
    # Prefect's note that it is still flushing events at exit is not the user's business.
    logging.getLogger("EventsWorker").setLevel(logging.ERROR)
    for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs", "market_maker"):
        for handler in logging.getLogger(name).handlers:
            if type(handler).__name__ != "APILogHandler" and isinstance(
                handler, logging.StreamHandler
            ):
                handler.addFilter(_NoTraceback())
                handler.addFilter(_NoFailureEchoes())


def _prepare_environment(args: argparse.Namespace) -> None:
    """Settings that must be in place before Prefect is imported."""
    from local_prefect.server import use_home

    use_home()  # PREFECT_HOME, else the checkout's var/prefect: the local server's home
    redaction.register_environment(env_var_for(field) for field in SECRET_FIELDS)
    redaction.install_log_redaction()
    if getattr(args, "config", None):
        os.environ[CONFIG_FILE_ENV] = args.config
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "market_maker")
    # Library logs outside a flow run (grid commands) stay on the console only.
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")


# Commands that run flows: they talk to a Prefect server (see local_prefect/server.py).
FLOW_COMMANDS = frozenset(
    {
        "demo",
        "collect",
        "backfill",
        "validate",
        "analyze",
        "evaluate-exit",
        "run-hourly",
        "backtest",
        "backtest-sweep",
        "maintenance",
    }
)


def _choose_prefect_server(command: str) -> None:
    """Point Prefect at the local server (reused, or started once in the background) before
    Prefect is imported; ``PREFECT_API_URL`` from the environment always wins."""
    if command not in FLOW_COMMANDS or os.environ.get("PREFECT_API_URL"):
        return
    from local_prefect import server as local_server

    if local_server.mode() == "ephemeral":
        return
    try:
        url, started = local_server.ensure()
    except (OSError, RuntimeError) as exc:
        print(
            f"market-maker {command}: no local Prefect server ({_one_line(exc)}); "
            "this run uses a temporary one",
            file=sys.stderr,
        )
        return
    if started:  # on two lines of 80 columns at most, as the demo's story
        print(
            f"market-maker: started a local Prefect server, UI at {local_server.ui_url(url)};\n"
            "  it keeps running for the next commands (`market-maker server stop` stops it)",
            file=sys.stderr,
        )
    os.environ["PREFECT_API_URL"] = url


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _prepare_environment(args)
    try:
        # What the command can check is checked before a server starts or a flow run exists.
        if check := getattr(args, "check", None):
            check(args)
        _choose_prefect_server(args.command)
        if not args.debug:
            _quiet_tracebacks()
        return args.func(args)
    except BrokenPipeError:  # output piped into head and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"market-maker {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"market-maker {args.command}: {_one_line(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigurationError | ParameterError) else 1


def _one_line(exc: BaseException) -> str:
    """The failure as one line, secrets masked; unexpected errors name their type."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if type(exc).__name__ == "ParameterTypeError":  # Prefect's, for a parameter's type
        return redaction.redact(_invalid_parameters(str(exc)))
    if not isinstance(exc, MarketMakerError):
        text = f"{type(exc).__name__}: {text} (run with --debug for the traceback)"
    return redaction.redact(text)


def _invalid_parameters(text: str) -> str:
    """Prefect's "Flow run received invalid parameters: - hour: Value error, ..." as
    "invalid parameter hour: ..."."""
    items = [
        line.strip()[2:].replace("Value error, ", "")
        for line in text.splitlines()
        if line.strip().startswith("- ")
    ]
    return "invalid parameter " + "; ".join(items) if items else " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
