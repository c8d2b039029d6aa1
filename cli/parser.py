"""The argument parser of ``market-maker``: one subcommand per command, with its options and
the function that runs it.

Every subcommand takes ``--config FILE`` and ``--debug``, before or after its name. The
commands are added group by group in the order ``--help`` lists them.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import NoReturn

from cli.backtest import (
    check_backtest,
    check_backtest_sweep,
    check_data_file,
    cmd_backtest,
    cmd_backtest_sweep,
    cmd_exit_signal_study,
    cmd_exit_study,
    cmd_strategy_study,
)
from cli.checks import check_data_repository
from cli.config import cmd_config
from cli.data import (
    check_backfill,
    check_collect,
    check_maintenance,
    check_validate,
    cmd_backfill,
    cmd_collect,
    cmd_maintenance,
    cmd_validate,
)
from cli.demo import DEMO_HELP, cmd_demo
from cli.kpi import cmd_dashboard, cmd_kpi
from cli.operator import check_decision, cmd_decision, cmd_grid
from cli.pipeline import (
    check_evaluate_exit,
    check_run_hourly,
    cmd_evaluate_exit,
    cmd_run_hourly,
    cmd_setup,
)
from cli.regime import check_analyze, cmd_analyze, cmd_regime_report, cmd_regimes
from cli.server import cmd_server
from market_maker.base.identifiers import check_decision_id, check_grid_id, check_symbol
from market_maker.base.timeutil import parse_utc

Command = Callable[[argparse.Namespace], int]
# Adds a subcommand: its name, the function that runs it, its help; returns its parser.
Add = Callable[[str, Command, str], argparse.ArgumentParser]


def _hour_or_minute(text: str) -> datetime:
    try:
        return parse_utc(text).replace(microsecond=0)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _hour(text: str) -> datetime:
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _checked(check: Callable[[str], str], name: str) -> Callable[[str], str]:
    """An argparse type from an identifier check: a bad value is a usage error naming it."""

    def convert(text: str) -> str:
        try:
            return check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name
    return convert


_symbol = _checked(check_symbol, "symbol")
_grid_id = _checked(check_grid_id, "grid id")
_decision_id = _checked(check_decision_id, "decision id")


def _common_options(default: object) -> argparse.ArgumentParser:
    # The subcommands' copies default to SUPPRESS, so `market-maker --config F cmd` and
    # `market-maker cmd --config F` both work (the later one wins).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="FILE",
        default=default,
        help="YAML file merged over config/default.yaml (also: $MARKET_MAKER_CONFIG)",
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="show tracebacks of failures (normally one line)",
    )
    return common


def _demo_command(add: Add) -> None:
    p = add("demo", cmd_demo, "The whole system on the recorded sample, told as a story.")
    p.description = DEMO_HELP
    p.formatter_class = argparse.RawDescriptionHelpFormatter


def _data_commands(add: Add) -> None:
    p = add("collect", cmd_collect, "Collect one hour's snapshot (default: the last closed hour).")
    p.set_defaults(check=check_collect)
    p.add_argument(
        "--symbol", action="append", required=True, type=_symbol, help="repeat for several"
    )
    p.add_argument("--hour", type=_hour, help="UTC hour, e.g. 2023-08-31T22:00:00Z")

    p = add("backfill", cmd_backfill, "Write missing or invalid snapshots for a range of hours.")
    p.set_defaults(check=check_backfill)
    p.add_argument("--symbol", required=True, type=_symbol)
    p.add_argument("--start", type=_hour, required=True, help="first hour (UTC, ISO 8601)")
    p.add_argument("--end", type=_hour, required=True, help="last hour, inclusive")
    p.add_argument("--chunk-hours", type=int, help="hours per fetch and commit")

    p = add("validate", cmd_validate, "Validate stored snapshots; non-zero exit on any error.")
    p.set_defaults(check=check_validate)
    p.add_argument("--symbol", required=True, type=_symbol)
    p.add_argument("--start", type=_hour, help="first hour (default: first stored)")
    p.add_argument("--end", type=_hour, help="last hour (default: last stored)")

    p = add(
        "maintenance",
        cmd_maintenance,
        "Check and compact the data repository, rebuild derived data, report sizes.",
    )
    p.set_defaults(check=check_maintenance)
    p.add_argument(
        "--pack-after-months",
        type=int,
        metavar="N",
        help="pack months that ended more than N months ago (default: the configuration)",
    )
    p.add_argument(
        "--unpack",
        action="append",
        metavar="SYMBOL:YYYY-MM",
        help="write a packed month back as loose files (repeatable)",
    )
    p.add_argument("--no-gc", action="store_true", help="skip git gc")


def _regime_commands(add: Add) -> None:
    p = add("analyze", cmd_analyze, "Classify the regime of stored snapshots, write metrics files.")
    p.set_defaults(check=check_analyze)
    p.add_argument("--symbol", required=True, type=_symbol)
    p.add_argument("--hour", type=_hour, help="one hour (default: the last closed hour)")
    p.add_argument("--start", type=_hour, help="first hour of a range (one file per hour)")
    p.add_argument("--end", type=_hour, help="last hour of the range, inclusive")
    p.add_argument("--recompute", action="store_true", help="replace files that differ")

    p = add("regimes", cmd_regimes, "Query the regime index (periods, transitions, confidence).")
    p.set_defaults(check=check_data_repository)
    p.add_argument("--symbol", required=True, type=_symbol)
    p.add_argument("--start", type=_hour)
    p.add_argument("--end", type=_hour)
    p.add_argument("--verdict", choices=["RANGE_OK", "RANGE_WEAK", "TRANSITION", "TREND"])
    p.add_argument("--transitions", action="store_true", help="list verdict changes")
    p.add_argument("--at", type=_hour, help="the verdict at one hour")
    p.add_argument("--confidence", action="store_true", help="confidence distribution")
    p.add_argument("--format", choices=["table", "json"], default="table")


def _pipeline_commands(add: Add) -> None:
    p = add(
        "setup",
        cmd_setup,
        "The setup evaluation of an hour with no grid running: CREATE_GRID or why not.",
    )
    p.set_defaults(check=check_data_repository)
    p.add_argument("--symbol", required=True, type=_symbol)
    p.add_argument("--hour", type=_hour, help="UTC hour (default: the latest analysed)")

    p = add("evaluate-exit", cmd_evaluate_exit, "Evaluate the running grid's exit state.")
    p.set_defaults(check=check_evaluate_exit)
    p.add_argument("--symbol", required=True, type=_symbol)
    p.add_argument("--hour", type=_hour, help="UTC hour (default: the last closed hour)")

    p = add(
        "run-hourly",
        cmd_run_hourly,
        "The hourly pipeline: collect, analyse, evaluate exits (a range replays hour by hour).",
    )
    p.set_defaults(check=check_run_hourly)
    p.add_argument(
        "--symbol", action="append", required=True, type=_symbol, help="repeat for several"
    )
    p.add_argument("--hour", type=_hour)
    p.add_argument("--start", type=_hour, help="first hour of a replay")
    p.add_argument("--end", type=_hour, help="last hour of a replay, inclusive")


def _grid_command(add: Add) -> None:
    p = add("grid", cmd_grid, "Operator grid state: add a grid, enable or disable it, list.")
    p.set_defaults(check=check_data_repository)
    grid_sub = p.add_subparsers(dest="grid_action", required=True, metavar="ACTION")
    g = grid_sub.add_parser("add", help="validate FILE and add it as grids/{id}.yaml")
    g.add_argument("file")
    for action in ("enable", "disable"):
        g = grid_sub.add_parser(action, help=f"{action} a grid (appends to its history)")
        g.add_argument("--id", required=True, type=_grid_id)
        g.add_argument("--at", type=_hour_or_minute, help="when (UTC, default now)")
        g.add_argument("--reason", help="why, recorded in the history")
        g.add_argument(
            "--decision", type=_decision_id, help="decision id this acts on (recorded beside it)"
        )
    g = grid_sub.add_parser("list", help="grids and whether they run")
    g.add_argument("--at", type=_hour)


def _study_commands(add: Add) -> None:
    p = add(
        "regime-report",
        cmd_regime_report,
        "Verdict shares per month over a recording of 1-minute candles (for calibration).",
    )
    p.set_defaults(check=check_data_file)
    p.add_argument("--data-file", required=True, help="CSV(.gz): timestamp_ms,open,high,low,...")
    p.add_argument("--symbol", default="ETH-USDT", type=_symbol)
    p.add_argument("--start", type=_hour)
    p.add_argument("--end", type=_hour)

    p = add(
        "exit-study",
        cmd_exit_study,
        "Replay grids placed in RANGE_OK hours over a recording: warnings, exits, breaks.",
    )
    p.set_defaults(check=check_data_file)
    p.add_argument("--data-file", required=True)
    p.add_argument("--start", type=_hour)
    p.add_argument("--end", type=_hour)
    p.add_argument("--width-pct", type=float, default=8.0, help="grid width around the price")
    p.add_argument("--levels", type=int, default=20)
    p.add_argument("--max-days", type=int, default=14, help="a grid runs at most this long")
    p.add_argument("--horizon-hours", type=int, default=24, help="break / false-exit horizon")

    p = add(
        "exit-signal-study",
        cmd_exit_signal_study,
        "Why exit signals are false or late, and the walk-forward tuning of the break-risk "
        "model (2022 <-> 2023, grids of ±4 and ±8 percent).",
    )
    p.set_defaults(check=check_data_file)
    p.add_argument("--data-file", required=True, help="the 2022-2023 1-minute recording")
    p.add_argument("--out", default="exit-signal-study.md", help="markdown page to write")

    p = add(
        "strategy-study",
        cmd_strategy_study,
        "Choose the setup and exit policy walk-forward across symbols by money: every "
        "candidate through the live lifecycle on one half, every cell of the other reported "
        "(config/strategy_study.yaml; docs/strategy.md).",
    )
    p.add_argument("--data-dir", help="the recordings' folder (default: ../shared/data)")
    p.add_argument("--study", default="config/strategy_study.yaml", help="the study's file")
    p.add_argument("--out", default="strategy-study.md", help="markdown page to write")
    p.add_argument("--processes", type=int, default=2, help="worker processes (1: in place)")


def _kpi_command(add: Add) -> None:
    p = add("kpi", cmd_kpi, "The KPIs of a day (and of the 7 and 30 days ending with it).")
    p.set_defaults(check=check_data_repository)
    p.add_argument("--date", type=_day, help="the day, YYYY-MM-DD (UTC)")
    p.add_argument("--start", type=_day, help="first day of a range")
    p.add_argument("--end", type=_day, help="last day of the range, inclusive")
    p.add_argument("--format", choices=["table", "json"], default="table")


def _backtest_options(p: argparse.ArgumentParser) -> None:
    """The parameters of a backtest, shared by backtest and backtest-sweep."""
    p.add_argument(
        "--data-file",
        help="CSV(.gz) of 1-minute candles (default: the snapshots in the data repository)",
    )
    p.add_argument("--symbol", type=_symbol, help="the symbol the recording holds")
    p.add_argument("--start", type=_hour, required=True, help="first hour, UTC")
    p.add_argument("--end", type=_hour, required=True, help="end hour (exclusive), UTC")
    p.add_argument("--placement", choices=["protocol", "system"])
    p.add_argument("--half-width-pct", type=float, help="protocol grids: ± this %% (4)")
    p.add_argument("--levels", type=int, help="grid levels, bounds included (20)")
    p.add_argument("--spacing", choices=["arithmetic", "geometric"])
    p.add_argument("--cadence-hours", type=int, help="protocol: a grid this often (168)")
    p.add_argument("--act-on", choices=["LATEST_ACCEPTABLE_EXIT", "MANDATORY_EXIT"])
    p.add_argument("--delay-minutes", type=int, help="operator delay (15)")
    p.add_argument("--fee-rate", type=float, help="maker fee per fill (0.001)")
    p.add_argument("--exit-fee-rate", type=float, help="taker fee at a stop (0.001)")
    p.add_argument("--capital", type=float, help="quote per grid (10000)")
    p.add_argument("--stop-loss-pct", type=float, help="stop-loss below the lower bound")
    p.add_argument("--adx-threshold", type=float, help="ADX baseline threshold (25)")
    p.add_argument("--allow-gaps", action="store_true", help="run despite data gaps")
    p.add_argument("--name", help="report folder backtests/NAME (default: derived)")
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="setting override, repeatable"
    )


def _backtest_commands(add: Add) -> None:
    p = add("backtest", cmd_backtest, "Replay the decision logic over a recording: PnL, KPIs.")
    p.set_defaults(check=check_backtest)
    _backtest_options(p)

    p = add(
        "backtest-sweep",
        cmd_backtest_sweep,
        "Backtests over a grid of values, ranked walk-forward on a later period.",
    )
    p.set_defaults(check=check_backtest_sweep)
    _backtest_options(p)
    p.add_argument(
        "--vary", action="append", required=True, metavar="KEY=V1,V2",
        help="a parameter or setting and the values to try; repeatable",
    )  # fmt: skip
    p.add_argument("--split", type=_hour, required=True, help="train/test split hour")
    p.add_argument("--rank-by", default="pnl", help="pnl, pnl_vs_no_exit, FER, EAW...")
    p.add_argument(
        "--fan-out",
        action="store_true",
        help="each point a run of the backtest deployment on the work pool (make worker)",
    )


def _dashboard_command(add: Add) -> None:
    p = add("dashboard", cmd_dashboard, "Write the dashboard page (price, regimes, exits, KPIs).")
    p.set_defaults(check=check_data_repository)
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write index.html in")
    p.add_argument("--date", type=_day, help="last day shown (default: yesterday)")


def _decision_command(add: Add) -> None:
    p = add("decision", cmd_decision, "Record what was done about a recommendation.")
    p.set_defaults(check=check_decision)
    decision_sub = p.add_subparsers(dest="decision_action", required=True, metavar="ACTION")
    d = decision_sub.add_parser("act", help="append an action entry to a decision")
    d.add_argument("--id", required=True, type=_decision_id, help="the decision id")
    d.add_argument("--action", required=True, choices=["executed", "declined", "ignored"])
    d.add_argument("--at", type=_hour_or_minute, help="when (UTC ISO 8601, default now)")
    d.add_argument("--note", help="free text, recorded with the action")


def _server_command(add: Add) -> None:
    p = add(
        "server",
        cmd_server,
        "The local Prefect server the commands use (started on first use, then reused).",
    )
    p.add_argument("action", choices=["start", "stop", "status"])


def _config_command(add: Add) -> None:
    p = add("config", cmd_config, "Show the configuration in force and its config_version.")
    p.add_argument("action", choices=["show"])
    p.add_argument("--canonical", action="store_true", help="the exact text that is hashed")


# In the order --help lists the commands.
COMMAND_GROUPS: tuple[Callable[[Add], None], ...] = (
    _demo_command,
    _data_commands,
    _regime_commands,
    _pipeline_commands,
    _grid_command,
    _study_commands,
    _kpi_command,
    _backtest_commands,
    _dashboard_command,
    _decision_command,
    _server_command,
    _config_command,
)


# argparse's message for a value not among an argument's choices.
_INVALID_CHOICE = re.compile(r"argument (\S+): invalid choice: (.+?) \(choose from (.*)\)$")


class _Parser(argparse.ArgumentParser):
    """argparse's parser; a mistyped command or choice is answered with the closest one."""

    def error(self, message: str) -> NoReturn:
        found = _INVALID_CHOICE.match(message)
        if found is None:
            super().error(message)
        argument, value = found[1], found[2].strip("'\"")
        choices = [c.strip().strip("'\"") for c in found[3].split(",")]
        close = difflib.get_close_matches(value, choices, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        if argument == "COMMAND":  # one line: the usage would only repeat it
            self.exit(
                2, f"{self.prog}: no command {value!r}{hint} ({self.prog} --help lists them)\n"
            )
        super().error(f"{message}{hint}")


def build_parser() -> argparse.ArgumentParser:
    common = _common_options(argparse.SUPPRESS)
    parser = _Parser(
        prog="market-maker",
        description="Decision support for spot grid trading: snapshots, regimes, exit alerts.",
        parents=[_common_options(None)],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Command, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, parents=[common])
        p.set_defaults(func=func)
        return p

    for add_group in COMMAND_GROUPS:
        add_group(add)
    return parser
