"""The ``market-maker`` command line: each command runs its flow in-process.

Flows run against the Prefect server in ``PREFECT_API_URL`` when it is set,
and in Prefect's ephemeral mode otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime

from market_maker.errors import MarketMakerError
from market_maker.timeutil import parse_utc

CONFIG_FILE_ENV = "MARKET_MAKER_CONFIG"


def _hour(text: str) -> datetime:
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _prepare_environment(args: argparse.Namespace) -> None:
    """Settings that must be in place before Prefect is imported."""
    if getattr(args, "config", None):
        os.environ[CONFIG_FILE_ENV] = args.config
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "market_maker")


def _settings():
    from market_maker.config import load_settings

    return load_settings()


def cmd_demo(args: argparse.Namespace) -> int:
    from flows.demo import run_demo

    return run_demo(_settings())


def cmd_collect(args: argparse.Namespace) -> int:
    from flows.hourly_collection import hourly_collection

    result = hourly_collection(symbols=args.symbol, hour=args.hour)
    for line in result["outcomes"]:
        print(line)
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from flows.backfill import backfill

    result = backfill(
        symbol=args.symbol, start=args.start, end=args.end, chunk_hours=args.chunk_hours
    )
    print(
        f"{result['symbol']} {result['start']}..{result['end']}: {result['written']} written, "
        f"{result['skipped']} already valid, {len(result['missing_at_source'])} missing at the "
        f"source, {result['not_closed']} not closed yet"
    )
    for hour in result["missing_at_source"]:
        print(f"  missing at the source: {hour}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from flows.validation import validate_snapshots

    if (args.start is None) != (args.end is None):
        print("validate: give both --start and --end, or neither", file=sys.stderr)
        return 2
    result = validate_snapshots(symbol=args.symbol, start=args.start, end=args.end)
    for line in result["errors"] + result["warnings"]:
        print(line)
    print(
        f"{result['symbol']}: {result['files_checked']} file(s) checked, "
        f"{len(result['errors'])} error(s), {len(result['warnings'])} warning(s)"
    )
    return 0 if result["ok"] else 1


def cmd_config(args: argparse.Namespace) -> int:
    import yaml

    from market_maker.config.settings import canonical_text

    settings = _settings()
    if args.canonical:
        sys.stdout.write(canonical_text(settings))
        return 0
    print(yaml.safe_dump(settings.public_dict(), sort_keys=False), end="")
    print(f"# config_version: {settings.config_version}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="FILE",
        help="YAML file merged over config/default.yaml (also: $MARKET_MAKER_CONFIG)",
    )
    parser = argparse.ArgumentParser(
        prog="market-maker",
        description="Decision support for spot grid trading: snapshots, regimes, exit alerts.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str):
        p = sub.add_parser(name, help=help_, description=help_, parents=[common])
        p.set_defaults(func=func)
        return p

    add("demo", cmd_demo, "Backfill the recorded sample, collect the latest hour, validate.")

    p = add("collect", cmd_collect, "Collect one hour's snapshot (default: the last closed hour).")
    p.add_argument("--symbol", action="append", required=True, help="repeat for several symbols")
    p.add_argument("--hour", type=_hour, help="UTC hour, e.g. 2023-08-31T22:00:00Z")

    p = add("backfill", cmd_backfill, "Write missing or invalid snapshots for a range of hours.")
    p.add_argument("--symbol", required=True)
    p.add_argument("--start", type=_hour, required=True, help="first hour (UTC, ISO 8601)")
    p.add_argument("--end", type=_hour, required=True, help="last hour, inclusive")
    p.add_argument("--chunk-hours", type=int, help="hours per fetch and commit")

    p = add("validate", cmd_validate, "Validate stored snapshots; non-zero exit on any error.")
    p.add_argument("--symbol", required=True)
    p.add_argument("--start", type=_hour, help="first hour (default: first stored)")
    p.add_argument("--end", type=_hour, help="last hour (default: last stored)")

    p = add("config", cmd_config, "Show the configuration in force and its config_version.")
    p.add_argument("action", choices=["show"])
    p.add_argument("--canonical", action="store_true", help="the exact text that is hashed")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _prepare_environment(args)
    try:
        return args.func(args)
    except MarketMakerError as exc:
        print(f"market-maker {args.command}: {exc}", file=sys.stderr)
        return 2 if _is_config_error(exc) else 1


def _is_config_error(exc: Exception) -> bool:
    from market_maker.errors import ConfigurationError

    return isinstance(exc, ConfigurationError)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
