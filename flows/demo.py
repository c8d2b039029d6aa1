"""The demo on the embedded default: the whole system on the recorded sample, told as a story."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from git import Repo

from flows.run_names import short_hour
from market_maker.config import Settings
from market_maker.exchange import ReplayExchange
from market_maker.store.git_store import _is_local_path
from market_maker.timeutil import HOUR, floor_hour, format_utc, last_closed_hour

CONSOLE_LOGGERS = ("", "prefect", "prefect.flow_runs", "prefect.task_runs", "market_maker")


def prepare_remote(settings: Settings) -> Path | None:
    """Create the local bare remote the embedded default pushes to, if it is missing."""
    remote = settings.data_repository.remote_url
    if not remote or not _is_local_path(remote):
        return None
    path = settings.resolve(Path(remote))
    if not path.exists():
        Repo.init(path, bare=True, initial_branch=settings.data_repository.branch)
    return path


def demo_range(settings: Settings) -> tuple[datetime, datetime, datetime]:
    """(first, last) hours to backfill and the latest hour to collect live.

    The backfill starts on the first day whose snapshots have full 4h
    windows, and stops one hour short of the replay clock's last closed
    hour, which the hourly collection then takes as the "live" hour.
    """
    exchange = ReplayExchange(settings.resolve(settings.replay.data_file), settings.replay.symbol)
    if settings.replay.now is not None:
        exchange.set_now(settings.replay.now)
    lead_in = settings.snapshots.window_4h * 4 * HOUR
    first = floor_hour(exchange.first + lead_in)
    if first.hour:
        first = first.replace(hour=0) + timedelta(days=1)
    latest = last_closed_hour(exchange.now())
    return first, latest - HOUR, latest


@contextmanager
def logs_to(path: Path) -> Iterator[None]:
    """Every console log line (Prefect's and the library's) goes to ``path`` meanwhile."""
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()
    path.parent.mkdir(parents=True, exist_ok=True)
    handlers = {
        id(h): h
        for name in CONSOLE_LOGGERS
        for h in logging.getLogger(name).handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    }.values()
    with path.open("a", encoding="utf-8") as log:
        log.write(f"\n=== market-maker demo, {datetime.now(UTC):%Y-%m-%d %H:%M:%S}Z ===\n")
        saved = [(h, h.stream, getattr(h, "console", None)) for h in handlers]
        for handler, _, console in saved:
            handler.stream = log
            if console is not None:  # Prefect's handler prints through rich
                console.file = log
        logging.captureWarnings(True)
        try:
            yield
        finally:
            logging.captureWarnings(False)
            for handler, stream, console in saved:
                handler.stream = stream
                if console is not None:
                    console.file = stream


def run_demo(settings: Settings) -> int:
    from flows.backfill import backfill
    from flows.hourly_collection import hourly_collection
    from flows.snapshot_analysis import snapshot_analysis
    from flows.validation import validate_snapshots
    from market_maker.store import GitDataStore

    if settings.exchange.name != "replay":
        print("the demo runs on the replay exchange: unset MARKET_MAKER_EXCHANGE__NAME")
        return 2
    remote = prepare_remote(settings)
    symbol = settings.replay.symbol
    first, last, latest = demo_range(settings)
    log_file = settings.resolve(Path("var/demo.log"))
    ui = os.environ.get("PREFECT_API_URL", "").removesuffix("/api")
    print(f"market-maker demo: the hourly system replayed on recorded {symbol} data")
    print(f"  ({settings.replay.data_file}); full logs: {_show(log_file, settings)}")
    if ui:
        print(f"  every run is in the Prefect UI at {ui}")

    with logs_to(log_file):
        filled = backfill(symbol=symbol, start=first, end=last)
        collected = hourly_collection(symbols=[symbol], hour=None)
        checked = validate_snapshots(symbol=symbol, start=first, end=latest, fail_on_error=False)
    store = GitDataStore.from_settings(settings)
    print()
    print(
        f"1. Collected {filled['written'] + filled['skipped']:,} hourly snapshots "
        f"{short_hour(first)} .. {short_hour(last)} from the recording ({filled['written']:,} "
        f"written now, {len(filled['missing_at_source'])} missing at the source), then the "
        f"latest hour {short_hour(latest)} as the schedule would "
        f"({'; '.join(collected['outcomes'])})."
    )
    in_sync = store.unpushed_count() == 0
    print(
        f"   Validation: {checked['files_checked']:,} files, {len(checked['errors'])} errors, "
        f"{len(checked['warnings'])} warnings; pushed to "
        f"{_show(remote, settings) if remote else 'the remote'}"
        f"{'' if in_sync else ' (NOT in sync: see the log)'}."
    )
    for problem in checked["errors"][:10]:
        print(f"     {problem}")

    with logs_to(log_file):
        analysed = snapshot_analysis(symbol=symbol, start=first, end=latest)
    print()
    print(f"2. Classified every hour: {_shares(analysed['verdicts'])}.")

    _grid_replay(settings, store, symbol, latest, log_file)
    _kpis(settings, store, latest, log_file)

    print()
    print("Where to look next:")
    rows = [
        ("make serve", "the Prefect UI with every run of this demo, and the schedules"),
        (f"git -C {_show(store.path, settings)} log", "every run's commit, named by the run"),
        (
            _show(store.path / "dashboard" / "index.html", settings),
            "the dashboard: price, regimes, exits, KPIs (open it in a browser)",
        ),
        (_show(log_file, settings), "the full logs of this demo"),
    ]
    width = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"  {a:<{width}}  {b}")
    return 0 if checked["ok"] else 1


def _show(path: Path, settings: Settings) -> str:
    """A path as the user typed the commands: relative to the project when inside it."""
    try:
        return str(Path(path).resolve().relative_to(settings.resolve(Path(".")).resolve()))
    except ValueError:
        return str(path)


def _shares(verdicts: list[str]) -> str:
    counts = Counter(verdicts)
    total = len(verdicts) or 1
    order = ["RANGE_OK", "RANGE_WEAK", "TRANSITION", "TREND", "REFUSED"]
    return ", ".join(
        f"{name} {100 * counts[name] / total:.0f} %" for name in order if counts.get(name)
    )


DEMO_GRID = {
    "schema_version": "1.0",
    "id": "demo-eth-grid",
    "symbol": "ETH-USDT",
    # Late July to mid August 2023 ranged between about 1,790 and 1,880.
    "lower_price": 1780.0,
    "upper_price": 1900.0,
    "levels": 13,
    "amount_per_grid": 0.05,
    "profit_per_grid": 0.004,
}
DEMO_GRID_START = datetime(2023, 7, 25, tzinfo=UTC)
# From here the demo replays hour by hour, so the operator can stop the grid the moment the
# system says it must (the sample breaks down on 2023-08-17).
WATCH_FROM = datetime(2023, 8, 16, 23, tzinfo=UTC)
WATCH_HOURS = 48
OPERATOR_DELAY = timedelta(minutes=10)  # inside the 15 minutes a decision under TREND holds


def _grid_replay(settings: Settings, store, symbol: str, latest: datetime, log_file: Path) -> None:
    """Place a grid in a ranging stretch, replay the hourly pipeline over it, stop the grid
    when the system says MANDATORY_EXIT (the operator acting on the decision), replay on."""
    import tempfile

    import yaml

    from flows.grid_admin import grid_add, grid_set
    from flows.hourly_pipeline import hourly_pipeline
    from market_maker.decisions.model import decision_id
    from market_maker.exit_strategy.store import ExitStateStore
    from market_maker.exit_strategy.timeline import read_timeline
    from market_maker.grids.book import GridBook, grid_path

    grid = {**DEMO_GRID, "symbol": symbol, "history": [{"enabled": format_utc(DEMO_GRID_START)}]}
    print()
    print(
        f"3. Placed grid {grid['id']}: {grid['lower_price']:,.0f}-{grid['upper_price']:,.0f}, "
        f"{grid['levels']} levels, {grid['amount_per_grid']:g} {symbol.split('-')[0]} a level, "
        f"from {short_hour(DEMO_GRID_START)} in the late-July range; replaying the hourly "
        f"pipeline over it hour by hour to {short_hour(latest)} ..."
    )
    stopped = issued = None
    with logs_to(log_file):
        if not grid_path(store.path, grid["id"]).exists():
            with tempfile.TemporaryDirectory() as tmp:
                source = Path(tmp) / f"{grid['id']}.yaml"
                source.write_text(yaml.safe_dump(grid, sort_keys=False))
                grid_add(source)
        seconds = hourly_pipeline(symbols=[symbol], start=DEMO_GRID_START, end=WATCH_FROM)[
            "seconds"
        ]
        states = ExitStateStore(store.path)
        hour = WATCH_FROM
        while stopped is None and hour < min(WATCH_FROM + WATCH_HOURS * HOUR, latest):
            hour += HOUR
            seconds += hourly_pipeline(symbols=[symbol], hour=hour)["seconds"]
            day = states.day(symbol, hour.date())
            now = [e for e in (day.latest() if day else []) if e.hour == hour]
            if now and str(now[0].state) == "MANDATORY_EXIT":
                issued = hour + HOUR
                stopped = issued + OPERATOR_DELAY
                book = GridBook.load(store.path, fee_rate=settings.grids.fee_rate)
                if book.grids[grid["id"]].running_at(stopped):  # a rerun finds it done already
                    grid_set(
                        grid["id"],
                        enabled=False,
                        at=stopped,
                        reason="STOP_GRID after MANDATORY_EXIT",
                        decision=decision_id(symbol, issued),
                    )
            states = ExitStateStore(store.path)  # read the day again next hour
        if hour < latest:
            seconds += hourly_pipeline(symbols=[symbol], start=hour + HOUR, end=latest)["seconds"]
    timeline = read_timeline(ExitStateStore(store.path), symbol, DEMO_GRID_START, latest)
    hours = sum(timeline.hours_in_state.values())
    print(
        f"   {hours:,} hours evaluated in {seconds:.0f} s: "
        + ", ".join(f"{state} {n:,} h" for state, n in timeline.hours_in_state.items())
        + "."
    )
    print()
    print("4. The exit state of the grid, and why it changed:")
    for line in _timeline_lines(timeline.transitions):
        print(f"   {line}")
    print()
    print(
        "5. Alerts the operator's phone would have received (no Pushover keys in the demo: "
        "each was logged instead):"
    )
    for state, priority, count, first, last in _alert_groups(timeline.notified):
        when = short_hour(first) if count == 1 else f"{short_hour(first)} .. {short_hour(last)}"
        print(f"   {count:4d} x {state:<23} priority {priority:>2}   {when}")
    if stopped is not None and issued is not None:
        print()
        print(
            f"6. The operator stopped the grid at {format_utc(stopped)[11:16]} UTC on "
            f"{stopped.date()}, {OPERATOR_DELAY.seconds // 60} minutes after the decision "
            f"{decision_id(symbol, issued)} said MANDATORY_EXIT (`market-maker grid disable "
            "--decision ...` records the action beside the decision); the alerts stopped with "
            "the grid."
        )


def _timeline_lines(transitions) -> list[str]:
    """The escalations in full; the WARNING episodes before them, which eased back to NORMAL
    on their own, summed up in one line with the conditions that raised them."""
    first_exit = next(
        (i for i, t in enumerate(transitions) if str(t.to_state) not in ("NORMAL", "WARNING")),
        len(transitions),
    )
    # Keep the WARNING the escalation grew from.
    cut = (
        first_exit - 1
        if first_exit and str(transitions[first_exit - 1].to_state) == "WARNING"
        else first_exit
    )
    earlier, shown = transitions[:cut], transitions[cut:]
    lines = []
    raised = [t for t in earlier if str(t.to_state) == "WARNING"]
    if raised:
        why = Counter(t.reasons[0].split(":")[0] for t in raised if t.reasons)
        lines.append(
            f"{short_hour(raised[0].timestamp)} .. {short_hour(earlier[-1].timestamp)}  "
            f"{len(raised)} WARNINGs inside the range, each back to NORMAL after its calm hours "
            f"({', '.join(f'{name} {n}' for name, n in why.most_common())})"
        )
    for t in shown:
        reason = t.reasons[0] if t.reasons else ""
        more = f" (+{len(t.reasons) - 1} more)" if len(t.reasons) > 1 else ""
        lines.append(f"{short_hour(t.timestamp)}  {t.from_state} -> {t.to_state}: {reason}{more}")
    return lines


def _alert_groups(notified) -> list[tuple[str, int, int, datetime, datetime]]:
    """(state, priority, count, first hour, last hour) per state alerted, in order of severity."""
    from market_maker.notifications.message import PRIORITY

    groups: dict[str, list] = {}
    for e in notified:
        state = str(e.notified)
        group = groups.setdefault(state, [state, PRIORITY[e.notified], 0, e.hour, e.hour])
        group[2] += 1
        group[4] = e.hour
    order = ["NORMAL", "WARNING", "LATEST_ACCEPTABLE_EXIT", "MANDATORY_EXIT"]
    return [tuple(groups[s]) for s in order if s in groups]


def _kpis(settings: Settings, store, latest: datetime, log_file: Path) -> None:
    """Score the replay: evaluation entries, a KPI file per day, the dashboard."""
    from flows.daily_kpi import daily_kpi
    from market_maker.context import RunContext
    from market_maker.kpis.report import kpi_period_table
    from market_maker.kpis.service import KpiService

    last_day = (latest - timedelta(days=1)).date()
    with logs_to(log_file):
        result = daily_kpi(start=DEMO_GRID_START.date(), end=last_day)
    print()
    print(
        f"7. Scored the replay as the nightly batch does: {len(result['days'])} days, "
        f"{result['evaluations']:,} new outcome entries beside the decisions, a KPI file a day, "
        "the dashboard."
    )
    service = KpiService.open(RunContext.open(settings))
    for line in kpi_period_table(service, DEMO_GRID_START.date(), last_day).splitlines():
        print(f"   {line}")
