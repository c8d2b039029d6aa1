"""Replays over recordings: backtest, backtest-sweep, exit-study, exit-signal-study,
strategy-study."""

from __future__ import annotations

import argparse

from cli.checks import existing_file, settings_for
from market_maker.base.errors import ParameterError
from market_maker.config import load_settings


def _backtest_values(args: argparse.Namespace) -> dict:
    """The backtest parameters given on the command line (unset ones keep their defaults)."""
    import yaml

    fields = (
        "data_file", "symbol", "start", "end", "placement", "half_width_pct", "levels",
        "spacing", "cadence_hours", "act_on", "delay_minutes", "fee_rate",
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


def check_backtest(args: argparse.Namespace) -> None:
    """The parameters, the symbol, and the recording's span over the period and its warm-up."""
    from market_maker.backtest.parameters import parse_parameters
    from market_maker.backtest.runner import check_period

    params = parse_parameters(_backtest_values(args))
    settings = settings_for([params.symbol])
    check_period(params, settings)


def check_backtest_sweep(args: argparse.Namespace) -> None:
    """As a backtest's, and every point of the sweep from its values and split."""
    from market_maker.backtest.parameters import parse_parameters
    from market_maker.backtest.sweep import sweep_points

    check_backtest(args)
    sweep_points(parse_parameters(_backtest_values(args)), _vary_values(args), args.split)


def check_data_file(args: argparse.Namespace) -> None:
    existing_file("--data-file", args.data_file)


def cmd_backtest(args: argparse.Namespace) -> int:
    """Replay the decision logic over a recording; print the figures and the report's path."""
    from flows.backtest import backtest
    from market_maker.backtest.page import read_report
    from market_maker.backtest.parameters import parse_parameters
    from market_maker.backtest.summary import report_lines

    params = parse_parameters(_backtest_values(args))
    result = backtest(parameters=params)
    report = read_report(result.report)
    print("\n".join(report_lines(report)))
    print(f"report: {result.report}")
    print(f"page  : {result.page}")
    return 0


def cmd_backtest_sweep(args: argparse.Namespace) -> int:
    """Backtests over every combination of --vary values, ranked on the test period."""
    from flows.backtest import backtest_sweep
    from market_maker.backtest.parameters import parse_parameters

    base = parse_parameters(_backtest_values(args))
    values = _vary_values(args)
    result = backtest_sweep(
        base=base, values=values, split=args.split, rank_by=args.rank_by, fan_out=args.fan_out
    )
    print(result.table, end="")
    return 0


def _vary_values(args: argparse.Namespace) -> dict[str, list]:
    """--vary KEY=V1,V2 ... as {KEY: [V1, V2]}."""
    import yaml

    values = {}
    for item in args.vary:
        key, sep, raw = item.partition("=")
        if not sep or not raw:
            raise ParameterError(f"--vary {item!r}: expected KEY=V1,V2,...")
        values[key] = [yaml.safe_load(v) for v in raw.split(",")]
    return values


def cmd_exit_study(args: argparse.Namespace) -> int:
    from pathlib import Path

    from market_maker.base.timeutil import floor_hour, from_seconds
    from market_maker.exchange.replay import load_recorded_minutes
    from market_maker.exit_strategy.signals_and_breaks import run_study

    minutes = load_recorded_minutes(Path(args.data_file))
    start = args.start or floor_hour(from_seconds(int(minutes.t[0])))
    end = args.end or floor_hour(from_seconds(int(minutes.t[-1])))
    result = run_study(
        minutes,
        load_settings(),
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

    from market_maker.backtest.exit_signals_page import render

    out = Path(args.out)
    if not out.parent.is_dir():  # checked before the ten minutes of runs, not after
        raise ParameterError(f"--out: folder {out.parent} does not exist")
    page, directions = render(args.data_file, load_settings(), print)
    for d in directions:
        print(f"tuned on {d.train}, reported on {d.test}: chosen {d.chosen}")
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(page + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0


def cmd_strategy_study(args: argparse.Namespace) -> int:
    import os
    import tempfile
    import time
    from concurrent.futures import ProcessPoolExecutor
    from pathlib import Path

    from market_maker.backtest.runner import replay_worker
    from market_maker.backtest.walk_forward import (
        choose,
        load_study,
        search,
        settings_before_study,
    )
    from market_maker.backtest.walk_forward_detail import final_choice, split_reports
    from market_maker.backtest.walk_forward_page import policy_text, render

    settings = load_settings()
    study_file = Path(args.study)
    if not study_file.is_file():
        raise ParameterError(f"--study: {study_file} does not exist")
    data_dir = Path(args.data_dir or os.environ.get("MARKET_MAKER_SHARED_DATA", "../shared/data"))
    if not data_dir.is_dir():
        raise ParameterError(f"--data-dir: folder {data_dir} does not exist")
    out = Path(args.out)
    if not out.parent.is_dir():  # checked before the minutes of runs, not after
        raise ParameterError(f"--out: folder {out.parent} does not exist")
    if args.processes < 1:
        raise ParameterError("--processes: at least 1")
    study = load_study(study_file)
    started = time.perf_counter()
    with ProcessPoolExecutor(args.processes, initializer=replay_worker) as pool:

        def mapper(fn, jobs):
            return list(pool.map(fn, jobs)) if args.processes > 1 else [fn(j) for j in jobs]

        print(f"searching {len(study.candidates())} candidates on both halves ...")
        results = search(study, settings, data_dir, mapper)
        print(f"  {time.perf_counter() - started:.0f} s; reporting each split out of sample ...")
        reports = split_reports(study, settings, data_dir, results, mapper)
    final, ranking = final_choice(study, results)
    seconds = time.perf_counter() - started
    before = settings_before_study(study)
    reference = {
        half.name: next(
            c
            for c in choose(study, results, [x.label for x in half.cells])[1]
            if c.overrides == before
        )
        for half in study.halves
    }
    page = render(study, reports, final, ranking, seconds, reference)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(page)
    os.replace(tmp, out)
    for r in reports:
        for label, p in (("chosen", r.chosen), ("best placing grids", r.trade_off)):
            if p is None:
                continue
            t = p.targets
            print(
                f"tuned on {r.tuned_on}, {label}: {policy_text(p.choice.overrides)}; out of "
                f"sample PnL {t['pnl']:,.0f}, cells beating every baseline "
                f"{t['cells_beating_every_baseline']}"
            )
    print(f"shipped: {policy_text(final.overrides)} (J {final.j:,.0f} over both halves)")
    print(f"wrote {out} in {seconds / 60:.1f} min")
    return 0
