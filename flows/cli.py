"""The ``market-maker`` command line: each command runs its flow in-process.

Flows run against the Prefect server in ``PREFECT_API_URL`` when it is set, else against
the local server on 127.0.0.1:4200, started in the background by the first command that
needs it and reused (``MARKET_MAKER_PREFECT_SERVER=ephemeral``: Prefect's temporary server
per command). See local_prefect/server.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from market_maker import redaction
from market_maker.config.settings import SECRET_FIELDS, env_var_for
from market_maker.errors import ConfigurationError, MarketMakerError, ParameterError
from market_maker.identifiers import check_decision_id, check_grid_id, check_symbol
from market_maker.timeutil import format_utc, parse_utc

if TYPE_CHECKING:
    from market_maker.pipeline_result import PipelineResult

CONFIG_FILE_ENV = "MARKET_MAKER_CONFIG"


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


class _NoTraceback(logging.Filter):
    """On the console a failure is its message: the traceback goes to Prefect's run logs (and
    to the console with --debug)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            record.exc_info, record.exc_text = None, None
        return True


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


def _prepare_environment(args: argparse.Namespace) -> None:
    """Settings that must be in place before Prefect is imported."""
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
    if started:
        print(
            f"market-maker: started a local Prefect server, UI at {local_server.ui_url(url)}; "
            "it keeps running for the next commands (`market-maker server stop` stops it)",
            file=sys.stderr,
        )
    os.environ["PREFECT_API_URL"] = url


def _settings():
    from market_maker.config import load_settings

    return load_settings()


def cmd_demo(args: argparse.Namespace) -> int:
    from demo.story import run_demo

    return run_demo(_settings())


def cmd_collect(args: argparse.Namespace) -> int:
    from flows.hourly_collection import hourly_collection

    result = hourly_collection(symbols=args.symbol, hour=args.hour)
    for line in result.lines():
        print(line)
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from flows.backfill import backfill

    result = backfill(
        symbol=args.symbol, start=args.start, end=args.end, chunk_hours=args.chunk_hours
    )
    print(
        f"{result.symbol} {format_utc(result.start)}..{format_utc(result.end)}: "
        f"{result.written} written, {result.skipped} already valid, "
        f"{len(result.missing_at_source)} missing at the source, "
        f"{result.not_closed} not closed yet"
    )
    for missing in result.missing_at_source:
        print(f"  missing at the source: {format_utc(missing.hour)}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from flows.validation import validate_snapshots

    if (args.start is None) != (args.end is None):
        print("validate: give both --start and --end, or neither", file=sys.stderr)
        return 2
    result = validate_snapshots(
        symbol=args.symbol, start=args.start, end=args.end, fail_on_error=False
    )
    for problem in result.errors + result.warnings:
        print(problem)
    print(
        f"{result.symbol}: {result.files_checked} file(s) checked, "
        f"{len(result.errors)} error(s), {len(result.warnings)} warning(s)"
    )
    return 0 if result.ok else 1


def cmd_maintenance(args: argparse.Namespace) -> int:
    from flows.maintenance import maintenance

    report = maintenance(
        pack_after_months=args.pack_after_months, unpack=args.unpack or None, gc=not args.no_gc
    )
    for line in report.lines():
        print(line)
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from flows.snapshot_analysis import snapshot_analysis

    if (args.start is None) != (args.end is None) or (args.hour and args.start):
        print("analyze: give --hour, or --start and --end, or nothing", file=sys.stderr)
        return 2
    result = snapshot_analysis(
        symbol=args.symbol, hour=args.hour, start=args.start, end=args.end, recompute=args.recompute
    )
    for line in result.summary:
        print(line)
    print(
        f"metrics files: {result.written} written, {result.unchanged} unchanged, "
        f"{result.kept} kept (differ; --recompute replaces them)"
    )
    return 0


def cmd_regimes(args: argparse.Namespace) -> int:
    from market_maker.operator.regimes import query_regimes

    output = query_regimes(
        symbol=args.symbol,
        start=args.start,
        end=args.end,
        verdict=args.verdict,
        transitions=args.transitions,
        at=args.at,
        confidence=args.confidence,
        output=args.format,
    )
    print(output)
    return 0


def cmd_regime_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from market_maker.exchange.replay import load_recorded_minutes
    from market_maker.regime.model import VERDICTS
    from market_maker.regime.service import analyze_series, monthly_shares
    from market_maker.timeutil import floor_hour, from_seconds

    minutes = load_recorded_minutes(Path(args.data_file))
    start = args.start or floor_hour(from_seconds(int(minutes.t[0])))
    end = args.end or floor_hour(from_seconds(int(minutes.t[-1])))
    batch = analyze_series(args.symbol, minutes, start, end, _settings().regime)
    columns = [*(str(v) for v in VERDICTS), "REFUSED"]
    print("| month | " + " | ".join(columns) + " | TREND+TRANSITION |")
    print("|---" * (len(columns) + 2) + "|")
    for month, shares in monthly_shares(batch).items():
        cells = [f"{100 * shares.get(c, 0):.0f} %" for c in columns]
        trendish = 100 * (shares.get("TREND", 0) + shares.get("TRANSITION", 0))
        print(f"| {month} | " + " | ".join(cells) + f" | {trendish:.0f} % |")
    return 0


def cmd_evaluate_exit(args: argparse.Namespace) -> int:
    from flows.exit_evaluation import exit_evaluation

    result = exit_evaluation(symbol=args.symbol, hour=args.hour)
    print(result.line)
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    from market_maker.context import RunContext
    from market_maker.lifecycle.balance import balance_of
    from market_maker.lifecycle.report import latest_analysed_hour, setup_lines

    settings = _settings()
    settings.require_symbols([args.symbol])
    ctx = RunContext.open(settings)
    root = ctx.store.path
    hour = args.hour or latest_analysed_hour(root, args.symbol, settings.snapshots.period_minutes)
    balance = balance_of(settings, ctx.exchange, args.symbol.split("-")[1])
    for line in setup_lines(root, settings, args.symbol, hour, balance):
        print(line)
    return 0


def cmd_run_hourly(args: argparse.Namespace) -> int:
    from flows.hourly_pipeline import hourly_pipeline

    result = hourly_pipeline(symbols=args.symbol, hour=args.hour, start=args.start, end=args.end)
    print_pipeline(result, verbose=args.start is None)
    return 0


def print_pipeline(result: PipelineResult, *, verbose: bool) -> None:
    if verbose:
        for symbol, lines in result.lines.items():
            for line in lines:
                print(f"{symbol} {line}")
    print("exit-state timeline:" if result.transitions else "exit-state timeline: no change")
    for t in result.transitions:
        print(f"  {format_utc(t.hour)} {t.symbol} {t.from_state} -> {t.to_state}: {t.reasons[0]}")
    print(f"notifications: {len(result.notifications)}")
    for n in result.notifications:
        print(f"  {format_utc(n.hour)} priority {n.priority:>2} {n.title}")


def cmd_grid(args: argparse.Namespace) -> int:
    from pathlib import Path

    from market_maker.operator import grids

    if args.grid_action == "add":
        print(grids.grid_add(Path(args.file)))
    elif args.grid_action == "list":
        print(grids.grid_list(args.at or datetime.now(UTC)))
    else:
        print(
            grids.grid_set(
                args.id,
                enabled=args.grid_action == "enable",
                at=args.at or datetime.now(UTC).replace(microsecond=0),
                reason=args.reason,
                decision=args.decision,
            )
        )
    return 0


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _day_range(args: argparse.Namespace, command: str) -> list[date] | None:
    """The days of --date, or of --start..--end; None (after saying why) when inconsistent."""
    if args.date is not None and (args.start or args.end):
        print(f"market-maker {command}: give --date, or --start and --end", file=sys.stderr)
        return None
    if args.date is not None:
        return [args.date]
    if args.start is None or args.end is None:
        print(f"market-maker {command}: give --date, or --start and --end", file=sys.stderr)
        return None
    if args.end < args.start:
        print(
            f"market-maker {command}: --end {args.end} is before --start {args.start}",
            file=sys.stderr,
        )
        return None
    return [args.start + timedelta(days=i) for i in range((args.end - args.start).days + 1)]


def cmd_kpi(args: argparse.Namespace) -> int:
    """The KPI table of each day, computed from the records (nothing is written)."""
    from market_maker.context import RunContext
    from market_maker.kpis.report import kpi_table
    from market_maker.kpis.service import KpiService

    days = _day_range(args, "kpi")
    if days is None:
        return 2
    ctx = RunContext.open(_settings())
    service = KpiService.open(ctx)
    files = [service.kpi_file(day) for day in days]
    if args.format == "json":
        print(json.dumps([f.model_dump(mode="json") for f in files], indent=2))
    else:
        print("\n\n".join(kpi_table(f) for f in files))
    return 0


def _backtest_values(args: argparse.Namespace) -> dict:
    """The backtest parameters given on the command line (unset ones keep their defaults)."""
    import yaml

    fields = (
        "data_file", "symbol", "start", "end", "placement", "half_width_pct", "levels",
        "spacing", "cadence_hours", "max_life_hours", "act_on", "delay_minutes", "fee_rate",
        "exit_fee_rate", "capital", "stop_loss_pct", "adx_threshold", "name",
    )  # fmt: skip
    values = {f: getattr(args, f) for f in fields if getattr(args, f, None) is not None}
    if args.allow_gaps:
        values["allow_gaps"] = True
    overrides = {}
    for item in args.set or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ParameterError(f"--set {item!r}: expected KEY=VALUE")
        overrides[key] = yaml.safe_load(raw)
    if overrides:
        values["overrides"] = overrides
    return values


def cmd_backtest(args: argparse.Namespace) -> int:
    """Replay the decision logic over a recording; print the figures and the report's path."""
    from flows.backtest import backtest
    from market_maker.backtest.page import read_report
    from market_maker.backtest.parameters import parse_parameters
    from market_maker.backtest.report import report_lines

    params = parse_parameters(_backtest_values(args))
    result = backtest(parameters=params)
    report = read_report(result.report)
    print("\n".join(report_lines(report)))
    print(f"report: {result.report}")
    print(f"page  : {result.page}")
    return 0


def cmd_backtest_sweep(args: argparse.Namespace) -> int:
    """Backtests over every combination of --vary values, ranked on the test period."""
    import yaml

    from flows.backtest import backtest_sweep
    from market_maker.backtest.parameters import parse_parameters

    base = parse_parameters(_backtest_values(args))
    values = {}
    for item in args.vary:
        key, sep, raw = item.partition("=")
        if not sep or not raw:
            raise ParameterError(f"--vary {item!r}: expected KEY=V1,V2,...")
        values[key] = [yaml.safe_load(v) for v in raw.split(",")]
    result = backtest_sweep(base=base, values=values, split=args.split, rank_by=args.rank_by)
    print(result.table, end="")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from pathlib import Path

    from market_maker.context import RunContext
    from market_maker.dashboard.render import write_dashboard

    ctx = RunContext.open(_settings())
    day = args.date or (ctx.exchange.now() - timedelta(days=1)).date()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_dashboard(ctx, day, out_dir=out)
    print(out / "index.html")
    return 0


def cmd_decision(args: argparse.Namespace) -> int:
    from market_maker.operator.decisions import decision_act

    at = args.at or datetime.now(UTC).replace(microsecond=0)
    print(decision_act(args.id, args.action, at, args.note))
    return 0


def cmd_exit_study(args: argparse.Namespace) -> int:
    from pathlib import Path

    from market_maker.exchange.replay import load_recorded_minutes
    from market_maker.exit_strategy.study import run_study
    from market_maker.timeutil import floor_hour, from_seconds

    minutes = load_recorded_minutes(Path(args.data_file))
    start = args.start or floor_hour(from_seconds(int(minutes.t[0])))
    end = args.end or floor_hour(from_seconds(int(minutes.t[-1])))
    result = run_study(
        minutes,
        _settings(),
        start,
        end,
        width_pct=args.width_pct,
        levels=args.levels,
        max_days=args.max_days,
        horizon_hours=args.horizon_hours,
    )
    for key, value in result.summary().items():
        shown = f"{value:.3f}" if isinstance(value, float) else value
        print(f"{key:34s} {shown}")
    return 0


def cmd_exit_signal_study(args: argparse.Namespace) -> int:
    import os
    import tempfile
    from pathlib import Path

    from market_maker.backtest.exit_study_report import render

    out = Path(args.out)
    if not out.parent.is_dir():  # checked before the ten minutes of runs, not after
        raise ParameterError(f"--out: folder {out.parent} does not exist")
    page, directions = render(args.data_file, _settings(), print)
    for d in directions:
        print(f"tuned on {d.train}, reported on {d.test}: chosen {d.chosen}")
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(page + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0


def cmd_server(args: argparse.Namespace) -> int:
    from local_prefect import server as local_server

    if args.action == "start":
        url, started = local_server.ensure()
        what = "started" if started else "already running:"
        print(f"{what} Prefect server, UI at {local_server.ui_url(url)}")
    elif args.action == "stop":
        print(local_server.stop())
    else:
        print(local_server.status())
    return 0


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


DEMO_HELP = """\
The whole system on the embedded default, offline, in a few minutes: the recorded
ETH-USDT sample (data/sample/), a local Git data repository (var/data-repo) pushing to a
local bare remote (var/data-remote.git), and the local Prefect server (started once,
UI at http://127.0.0.1:4200).

It tells the story as it goes, a screen or so in all; the full logs go to var/demo.log.

  1. collects: backfills the hourly snapshots of July and August 2023 from the recording,
     collects the latest hour as the schedule would, validates every file, pushes;
  2. analyses: classifies every hour (RANGE_OK, RANGE_WEAK, TRANSITION, TREND) and
     prints the shares;
  3. replays the hourly pipeline from 25 July hour by hour, with an operator who follows
     it ten minutes after each recommendation: a setup recommendation (CREATE_GRID) is
     approved (`decision act --action executed` writes the grid file), the grid lives
     through its exit states, it is stopped at MANDATORY_EXIT, the restart gates pass
     one by one, and the next setup comes; it prints each grid's life;
  4. prints the exit-state hours and the last escalations with their reasons;
  5. prints the alerts the operator's phone would have received, grouped by kind, with
     their priority (no Pushover keys here: each is logged instead of sent);
  6. scores the replay as the nightly KPI batch does and writes the dashboard;
  7. says where to look next.

Running it again is safe: nothing is written or sent twice."""


def build_parser() -> argparse.ArgumentParser:
    def common_options(default: object) -> argparse.ArgumentParser:
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

    common = common_options(argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="market-maker",
        description="Decision support for spot grid trading: snapshots, regimes, exit alerts.",
        parents=[common_options(None)],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str):
        p = sub.add_parser(name, help=help_, description=help_, parents=[common])
        p.set_defaults(func=func)
        return p

    p = add("demo", cmd_demo, "The whole system on the recorded sample, told as a story.")
    p.description = DEMO_HELP
    p.formatter_class = argparse.RawDescriptionHelpFormatter

    p = add("collect", cmd_collect, "Collect one hour's snapshot (default: the last closed hour).")
    p.add_argument(
        "--symbol", action="append", required=True, type=_symbol, help="repeat for several"
    )
    p.add_argument("--hour", type=_hour, help="UTC hour, e.g. 2023-08-31T22:00:00Z")

    p = add("backfill", cmd_backfill, "Write missing or invalid snapshots for a range of hours.")
    p.add_argument("--symbol", required=True, type=_symbol)
    p.add_argument("--start", type=_hour, required=True, help="first hour (UTC, ISO 8601)")
    p.add_argument("--end", type=_hour, required=True, help="last hour, inclusive")
    p.add_argument("--chunk-hours", type=int, help="hours per fetch and commit")

    p = add("validate", cmd_validate, "Validate stored snapshots; non-zero exit on any error.")
    p.add_argument("--symbol", required=True, type=_symbol)
    p.add_argument("--start", type=_hour, help="first hour (default: first stored)")
    p.add_argument("--end", type=_hour, help="last hour (default: last stored)")

    p = add(
        "maintenance",
        cmd_maintenance,
        "Check and compact the data repository, rebuild derived data, report sizes.",
    )
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

    p = add("analyze", cmd_analyze, "Classify the regime of stored snapshots, write metrics files.")
    p.add_argument("--symbol", required=True, type=_symbol)
    p.add_argument("--hour", type=_hour, help="one hour (default: the last closed hour)")
    p.add_argument("--start", type=_hour, help="first hour of a range (one file per hour)")
    p.add_argument("--end", type=_hour, help="last hour of the range, inclusive")
    p.add_argument("--recompute", action="store_true", help="replace files that differ")

    p = add("regimes", cmd_regimes, "Query the regime index (periods, transitions, confidence).")
    p.add_argument("--symbol", required=True, type=_symbol)
    p.add_argument("--start", type=_hour)
    p.add_argument("--end", type=_hour)
    p.add_argument("--verdict", choices=["RANGE_OK", "RANGE_WEAK", "TRANSITION", "TREND"])
    p.add_argument("--transitions", action="store_true", help="list verdict changes")
    p.add_argument("--at", type=_hour, help="the verdict at one hour")
    p.add_argument("--confidence", action="store_true", help="confidence distribution")
    p.add_argument("--format", choices=["table", "json"], default="table")

    p = add(
        "setup",
        cmd_setup,
        "The setup evaluation of an hour with no grid running: CREATE_GRID or why not.",
    )
    p.add_argument("--symbol", required=True, type=_symbol)
    p.add_argument("--hour", type=_hour, help="UTC hour (default: the latest analysed)")

    p = add("evaluate-exit", cmd_evaluate_exit, "Evaluate the running grid's exit state.")
    p.add_argument("--symbol", required=True, type=_symbol)
    p.add_argument("--hour", type=_hour, help="UTC hour (default: the last closed hour)")

    p = add(
        "run-hourly",
        cmd_run_hourly,
        "The hourly pipeline: collect, analyse, evaluate exits (a range replays hour by hour).",
    )
    p.add_argument(
        "--symbol", action="append", required=True, type=_symbol, help="repeat for several"
    )
    p.add_argument("--hour", type=_hour)
    p.add_argument("--start", type=_hour, help="first hour of a replay")
    p.add_argument("--end", type=_hour, help="last hour of a replay, inclusive")

    p = add("grid", cmd_grid, "Operator grid state: add a grid, enable or disable it, list.")
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

    p = add(
        "regime-report",
        cmd_regime_report,
        "Verdict shares per month over a recording of 1-minute candles (for calibration).",
    )
    p.add_argument("--data-file", required=True, help="CSV(.gz): timestamp_ms,open,high,low,...")
    p.add_argument("--symbol", default="ETH-USDT", type=_symbol)
    p.add_argument("--start", type=_hour)
    p.add_argument("--end", type=_hour)

    p = add(
        "exit-study",
        cmd_exit_study,
        "Replay grids placed in RANGE_OK hours over a recording: warnings, exits, breaks.",
    )
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
    p.add_argument("--data-file", required=True, help="the 2022-2023 1-minute recording")
    p.add_argument("--out", default="exit-signal-study.md", help="markdown page to write")

    p = add("kpi", cmd_kpi, "The KPIs of a day (and of the 7 and 30 days ending with it).")
    p.add_argument("--date", type=_day, help="the day, YYYY-MM-DD (UTC)")
    p.add_argument("--start", type=_day, help="first day of a range")
    p.add_argument("--end", type=_day, help="last day of the range, inclusive")
    p.add_argument("--format", choices=["table", "json"], default="table")

    for name, func, help_ in (
        ("backtest", cmd_backtest, "Replay the decision logic over a recording: PnL, KPIs."),
        (
            "backtest-sweep",
            cmd_backtest_sweep,
            "Backtests over a grid of values, ranked walk-forward on a later period.",
        ),
    ):
        p = add(name, func, help_)
        p.add_argument("--data-file", help="CSV(.gz) of 1-minute candles (default: replay data)")
        p.add_argument("--symbol", type=_symbol, help="the symbol the recording holds")
        p.add_argument("--start", type=_hour, required=True, help="first hour, UTC")
        p.add_argument("--end", type=_hour, required=True, help="end hour (exclusive), UTC")
        p.add_argument("--placement", choices=["protocol", "system"])
        p.add_argument("--half-width-pct", type=float, help="protocol grids: ± this %% (4)")
        p.add_argument("--levels", type=int, help="grid levels, bounds included (20)")
        p.add_argument("--spacing", choices=["arithmetic", "geometric"])
        p.add_argument("--cadence-hours", type=int, help="protocol: a grid this often (168)")
        p.add_argument("--max-life-hours", type=int, help="system: longest grid life (336)")
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
        if name == "backtest-sweep":
            p.add_argument(
                "--vary", action="append", required=True, metavar="KEY=V1,V2",
                help="a parameter or setting and the values to try; repeatable",
            )  # fmt: skip
            p.add_argument("--split", type=_hour, required=True, help="train/test split hour")
            p.add_argument("--rank-by", default="pnl", help="pnl, pnl_vs_no_exit, FER, EAW...")

    p = add("dashboard", cmd_dashboard, "Write the dashboard page (price, regimes, exits, KPIs).")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write index.html in")
    p.add_argument("--date", type=_day, help="last day shown (default: yesterday)")

    p = add("decision", cmd_decision, "Record what was done about a recommendation.")
    decision_sub = p.add_subparsers(dest="decision_action", required=True, metavar="ACTION")
    d = decision_sub.add_parser("act", help="append an action entry to a decision")
    d.add_argument("--id", required=True, type=_decision_id, help="the decision id")
    d.add_argument("--action", required=True, choices=["executed", "declined", "ignored"])
    d.add_argument("--at", type=_hour_or_minute, help="when (UTC ISO 8601, default now)")
    d.add_argument("--note", help="free text, recorded with the action")

    p = add(
        "server",
        cmd_server,
        "The local Prefect server the commands use (started on first use, then reused).",
    )
    p.add_argument("action", choices=["start", "stop", "status"])

    p = add("config", cmd_config, "Show the configuration in force and its config_version.")
    p.add_argument("action", choices=["show"])
    p.add_argument("--canonical", action="store_true", help="the exact text that is hashed")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _prepare_environment(args)
    try:
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
        return 2 if isinstance(exc, ConfigurationError) else 1


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
