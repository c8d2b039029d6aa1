"""The demo on the embedded default: the whole system on the recorded sample, told as a story."""

from __future__ import annotations

import logging
import os
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from git import Repo

from flows._run_names import short_hour
from market_maker.base.timeutil import HOUR, floor_hour, last_closed_hour
from market_maker.config import Settings
from market_maker.decisions.states import ExitState
from market_maker.exchange import ReplayExchange
from market_maker.store.git_store import _is_local_path

CONSOLE_LOGGERS = ("", "prefect", "prefect.flow_runs", "prefect.task_runs", "market_maker")
WIDTH = 80  # the story fits a terminal of 80 columns
STEP = "   "  # what a step's lines are indented by, under its number


def say(text: str = "", indent: str = STEP, first: str | None = None) -> None:
    """Print ``text`` wrapped at WIDTH columns, its lines after ``indent`` (the first after
    ``first`` when given: a step's number)."""
    print("\n".join(wrap(text, indent, first)))


def wrap(text: str, indent: str = STEP, first: str | None = None, lines: int = 0) -> list[str]:
    """``text`` as lines of at most WIDTH columns (a word longer than a line, such as a long
    path, stays whole); with ``lines``, at most that many, the last ending in "..."."""
    wrapped = textwrap.wrap(
        text,
        WIDTH,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
        max_lines=lines or None,
        placeholder=" ...",
    )
    # A no-break space keeps a value with its unit ("54\xa0%"): a plain one on the page.
    return [line.replace("\xa0", " ") for line in wrapped] or [""]


def when(moment: datetime) -> str:
    """``08-01 02h``: an hour of the replay (every one is in 2023), as the lists show it."""
    return f"{moment:%m-%d %H}h"


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
    with path.open("a", encoding="utf-8", buffering=1) as log:
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


_AFTER_THE_STORY = ExitStack()


def logs_to_the_end(path: Path) -> None:
    """From now on every console log line goes to ``path``, to the process's exit: what
    Prefect logs as it ends (stopping a temporary server) is not the story's either."""
    _AFTER_THE_STORY.enter_context(logs_to(path))  # left open: the process ends next


def run_demo(settings: Settings) -> int:
    from flows.backfill import backfill
    from flows.hourly_collection import hourly_collection
    from flows.snapshot_analysis import snapshot_analysis
    from flows.validation import validate_snapshots
    from market_maker.store import GitDataStore

    if settings.exchange.name != "replay":
        print("the demo runs on the replay exchange: unset MARKET_MAKER_EXCHANGE__NAME")
        return 2
    # The shipped strategy recommends no grid (docs/strategy.md). To show a grid's whole
    # life the demo switches the setup on, in this process only, unless told otherwise.
    os.environ.setdefault(SETUP_SWITCH, "true")
    remote = prepare_remote(settings)
    symbol = settings.replay.symbol
    first, last, latest = demo_range(settings)
    log_file = settings.resolve(Path("var/demo.log"))
    ui = os.environ.get("PREFECT_API_URL", "").removesuffix("/api")
    print(f"market-maker demo: the hourly system replayed on recorded {symbol} data")
    say(f"recording: {settings.replay.data_file}", indent="  ")
    say(f"full logs: {_show(log_file, settings)}", indent="  ")
    if ui:
        say(f"every run is in the Prefect UI at {ui}", indent="  ")

    with logs_to(log_file):
        filled = backfill(symbol=symbol, start=first, end=last)
        collected = hourly_collection(symbols=[symbol], hour=None)
        checked = validate_snapshots(symbol=symbol, start=first, end=latest, fail_on_error=False)
    store = GitDataStore.from_settings(settings)
    print()
    say(
        f"1. Collected {filled.written + filled.skipped:,} hourly snapshots "
        f"{short_hour(first)} .. {short_hour(last)} from the recording ({filled.written:,} "
        f"written now, {len(filled.missing_at_source)} missing at the source), then the "
        f"latest hour {short_hour(latest)} as the schedule would "
        f"({'; '.join(collected.lines())}).",
        first="",
    )
    in_sync = store.unpushed_count() == 0
    say(
        f"Validation: {checked.files_checked:,} files, {len(checked.errors)} errors, "
        f"{len(checked.warnings)} warnings; pushed to "
        f"{_show(remote, settings) if remote else 'the remote'}"
        f"{'' if in_sync else ' (NOT in sync: see the log)'}."
    )
    for problem in checked.errors[:10]:
        print("\n".join(wrap(str(problem), STEP + "  ", lines=1)))

    with logs_to(log_file):
        analysed = snapshot_analysis(symbol=symbol, start=first, end=latest)
    print()
    say(f"2. Classified every hour: {_shares(analysed.verdicts)}.", first="")

    _lifecycle_replay(settings, store, symbol, latest, log_file)
    _kpis(settings, store, latest, log_file)

    print()
    print("Where to look next:")
    rows = [
        ("make serve", "the Prefect UI: every run, the schedules"),
        (f"git -C {_show(store.path, settings)} log", "every run's commit, named by the run"),
        (
            _show(store.path / "dashboard" / "index.html", settings),
            "the dashboard (open it in a browser)",
        ),
        (_show(log_file, settings), "the full logs of this demo"),
    ]
    width = max(len(a) for a, _ in rows)
    for a, b in rows:
        say(b, indent=" " * (width + 4), first=f"  {a:<{width}}  ")
    logs_to_the_end(log_file)
    return 0 if checked.ok else 1


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
        f"{name}\xa0{100 * counts[name] / total:.0f}\xa0%" for name in order if counts.get(name)
    )


REPLAY_START = datetime(2023, 7, 25, tzinfo=UTC)
SETUP_SWITCH = "MARKET_MAKER_LIFECYCLE__SETUP__ENABLED"
OPERATOR_DELAY = timedelta(minutes=10)  # inside the 15 minutes a decision under TREND holds


def _lifecycle_replay(
    settings: Settings, store, symbol: str, latest: datetime, log_file: Path
) -> None:
    """Replay the hourly pipeline from REPLAY_START with an operator who follows it: every
    CREATE_GRID approved, every MANDATORY_EXIT stopped, ten minutes after the decision."""
    from flows.demo_replay import demo_replay
    from market_maker.exit_strategy.store import ExitStateStore
    from market_maker.exit_strategy.timeline import read_timeline

    print()
    say(
        f"3. From {short_hour(REPLAY_START)} the hourly pipeline runs hour by hour, as scheduled, "
        f"with an operator who follows it {OPERATOR_DELAY.seconds // 60} minutes after each "
        "recommendation (approves a CREATE_GRID, stops a grid at MANDATORY_EXIT) ...",
        first="",
    )
    if os.environ.get(SETUP_SWITCH) == "true":
        say(
            "The shipped strategy recommends no grid: out of sample no placement paid after "
            "fees (docs/strategy.md). To show a grid's whole life, this replay switches the "
            f"setup on ({SETUP_SWITCH}=true)."
        )
    started = time.perf_counter()
    with logs_to(log_file):
        results, _ = demo_replay(
            symbol=symbol,
            start=REPLAY_START,
            end=latest,
            operator_delay_minutes=OPERATOR_DELAY.seconds // 60,
        )
    seconds = time.perf_counter() - started
    say(f"{len(results):,} hours in {seconds:.0f} s. The grids' lives (docs/lifecycle.md):")
    for line in lifecycle_lines(store.path, symbol, REPLAY_START, latest):
        print(line)
    timeline = read_timeline(ExitStateStore(store.path), symbol, REPLAY_START, latest)
    print()
    say(
        "4. Exit states while grids ran: "
        + ", ".join(f"{state}\xa0{n:,}\xa0h" for state, n in timeline.hours_in_state.items())
        + "; every change and its reasons are in exit_states/. The last escalations:",
        first="",
    )
    for line in _timeline_lines(timeline.transitions):
        print(line)
    print()
    say(
        "5. Alerts the operator's phone would have received (no Pushover keys in the demo: "
        "each was logged instead):",
        first="",
    )
    setups = _setup_alerts(store.path, symbol, REPLAY_START, latest)
    groups = _alert_groups(timeline.notified)
    if setups:
        groups.insert(0, ("CREATE_GRID (setup)", 0, len(setups), setups[0], setups[-1]))
    for state, priority, count, first, last in groups:
        span = when(first) if count == 1 else f"{when(first)} .. {when(last)}"
        print(f"{STEP}{count:4d} x {state:<23} priority {priority:>2}   {span}")


HANG = STEP + " " * 11  # under the text after an hour ("08-01 02h  ")


def lifecycle_lines(root: Path, symbol: str, start: datetime, end: datetime) -> list[str]:
    """Each grid's life from the records, as the story prints it: its setup, its approval
    and how it ended (the exit decision's reason when it was stopped), and when the restart
    gates had all passed after a stop."""
    from market_maker.decisions.store import DecisionStore
    from market_maker.grids.book import GridBook

    store = DecisionStore(root)
    book = GridBook.load(root, fee_rate=0.0)
    lines = []
    grids = sorted(
        (g for g in book.grids.values() if g.symbol == symbol and g.setup_decision),
        key=lambda g: g.history[0].at,
    )
    for grid in grids:
        lines += _setup_lines(store, grid)
        lines += _end_lines(root, store, grid, symbol, end)
    return lines


def _setup_lines(store, grid) -> list[str]:
    """The recommendation that placed ``grid``: a setup, or a probationary grid's promotion."""
    from market_maker.decisions.model import SetupDecision

    setup = store.read(store.find(grid.setup_decision or ""))
    if isinstance(setup, SetupDecision) and setup.grid is not None:
        text = (
            f"CREATE_GRID {setup.mode} {setup.grid.lower_price:,.2f}-"
            f"{setup.grid.upper_price:,.2f} x{setup.grid.levels} "
            f"({setup.verdict} {setup.confidence:.2f})"
        )
    elif setup.promotion is not None:  # a probationary grid's promotion
        text = (
            f"PROMOTED to a full grid {setup.promotion.lower_price:,.2f}-"
            f"{setup.promotion.upper_price:,.2f} x{setup.promotion.levels} "
            "(24 RANGE_OK hours)"
        )
    else:
        return []
    return wrap(text, HANG, first=f"{STEP}{when(setup.hour)}  ")


def _end_lines(root: Path, store, grid, symbol: str, end: datetime) -> list[str]:
    """When ``grid`` was approved and how it ended: still running, replaced by its
    promotion, or stopped at MANDATORY_EXIT (with the exit decision's first reason), and
    when the restart gates had all passed after that."""
    approved = f"approved {grid.history[0].at:%m-%d %H:%M}"
    stops = [e for e in grid.history if e.action == "disabled"]
    if not stops:
        return wrap(f"{approved}, still running at {when(end)}", HANG)
    stop = stops[0]
    reason = stop.reason or ""
    if reason.startswith("promoted"):
        return wrap(f"{approved}, replaced {stop.at:%m-%d %H:%M} by its promotion", HANG)
    lines = wrap(f"{approved}, stopped {stop.at:%m-%d %H:%M} at MANDATORY_EXIT", HANG)
    if "(dec-" in reason:
        decision = store.read(store.find(reason.rsplit("(", 1)[1].rstrip(")")))
        why = (decision.reasons[0] if decision.reasons else "").split(";")[0]
        lines += wrap(why.split(": ", 1)[-1], HANG, lines=1)  # its detail, not the name
    passed = _gates_passed(root, symbol, stop.at, end)
    if passed:
        from market_maker.regime.gate_records import GATES

        last = max(passed, key=lambda name: passed[name])
        text = (
            f"all restart gates passed by {when(passed[last])} ({last} last)"
            if len(passed) == len(GATES)
            else "restart gates passed: "
            + ", ".join(f"{name} {when(at)}" for name, at in passed.items())
        )
        lines += wrap(text, HANG)
    return lines


def _gates_passed(root: Path, symbol: str, stopped: datetime, end: datetime) -> dict[str, datetime]:
    """When each restart gate first passed after a stop, from the hours' metrics files."""
    from market_maker.base.identifiers import inside
    from market_maker.regime import files
    from market_maker.regime.gate_records import GATES
    from market_maker.regime.model import metrics_relpath

    passed: dict[str, datetime] = {}
    hour = stopped.replace(minute=0, second=0) + timedelta(hours=1)
    while hour <= end and len(passed) < len(GATES):
        path = inside(root, metrics_relpath(symbol, hour))
        gates = files.read(path).gate_evaluation if path.exists() else None
        if gates is None:
            break
        for g in GATES:
            record = gates.record(g)
            if record.status == "passed" and record.at is not None:
                passed.setdefault(g.value, record.at)
        hour += timedelta(hours=1)
    return passed


def _setup_alerts(root: Path, symbol: str, start: datetime, end: datetime) -> list[datetime]:
    """The hours of the CREATE_GRID recommendations (each one alert)."""
    from market_maker.base.identifiers import symbol_part
    from market_maker.decisions.model import DECISIONS_DIR, SetupDecision
    from market_maker.decisions.store import DecisionStore

    store = DecisionStore(root)
    out = []
    day = start.date()
    while day <= end.date():
        folder = root / DECISIONS_DIR / f"{day:%Y-%m-%d}"
        for path in sorted(folder.glob(f"dec-{symbol_part(symbol)}-[0-9]*[0-9].yaml")):
            if b"recommendation: CREATE_GRID" in path.read_bytes():
                d = store.read(path)
                if isinstance(d, SetupDecision):
                    out.append(d.hour)
        day += timedelta(days=1)
    return sorted(out)


def _timeline_lines(transitions, last: int = 4) -> list[str]:
    """The last ``last`` escalations, each its change and its first reason; the WARNING
    episodes before the first exit state, which eased back to NORMAL on their own, summed
    up in one entry with the conditions that raised them. State changes down are left out
    (exit_states/ has them all)."""
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
    entries = [_eased_back(earlier)] if any(_raised(t) for t in earlier) else []
    entries += [_escalation(t) for t in shown if _escalates(t)]
    return [line for entry in entries[-last:] for line in entry]


def _raised(t) -> bool:
    return str(t.to_state) == "WARNING"


def _escalates(t) -> bool:
    return ExitState(str(t.to_state)).rank > ExitState(str(t.from_state)).rank


def _eased_back(earlier) -> list[str]:
    """The WARNINGs that eased back to NORMAL, in one entry: how many, until when, and the
    conditions that raised them."""
    raised = [t for t in earlier if _raised(t)]
    why = Counter(t.reasons[0].split(":")[0] for t in raised if t.reasons)
    return wrap(
        f"{len(raised)} WARNINGs inside the range until {when(earlier[-1].timestamp)}, "
        "each back to NORMAL after its calm hours "
        f"({', '.join(f'{name} {n}' for name, n in why.most_common())})",
        HANG,
        first=f"{STEP}{when(raised[0].timestamp)}  ",
    )


def _escalation(t) -> list[str]:
    """A change up, and its first reason on one line."""
    reason = t.reasons[0] if t.reasons else ""
    more = f" (+{len(t.reasons) - 1} more)" if len(t.reasons) > 1 else ""
    head = f"{STEP}{when(t.timestamp)}  {t.from_state} -> {t.to_state}"
    return [head, *(wrap(f"{reason}{more}", HANG, lines=1) if reason else [])]


def _alert_groups(notified) -> list[tuple[str, int, int, datetime, datetime]]:
    """(state, priority, count, first hour, last hour) per state alerted, in order of severity."""
    from market_maker.alerts.message import PRIORITY
    from market_maker.decisions.states import ExitState

    groups: dict[str, list] = {}
    for d in notified:
        state = d.key
        group = groups.setdefault(state, [state, PRIORITY[ExitState(state)], 0, d.hour, d.hour])
        group[2] += 1
        group[4] = d.hour
    order = ["NORMAL", "WARNING", "LATEST_ACCEPTABLE_EXIT", "MANDATORY_EXIT"]
    return [tuple(groups[s]) for s in order if s in groups]


def _kpis(settings: Settings, store, latest: datetime, log_file: Path) -> None:
    """Score the replay: evaluation entries, a KPI file per day, the dashboard."""
    from flows.daily_kpi import daily_kpi
    from market_maker.context import RunContext
    from market_maker.kpis.daily_batch import KpiService
    from market_maker.kpis.tables import kpi_period_table

    last_day = (latest - timedelta(days=1)).date()
    with logs_to(log_file):
        result = daily_kpi(start=REPLAY_START.date(), end=last_day)
    print()
    say(
        f"6. Scored the replay as the nightly batch does: {len(result.days)} days, "
        f"{result.evaluations:,} new outcome entries beside the decisions, a KPI file a day, "
        "the dashboard.",
        first="",
    )
    service = KpiService.open(RunContext.open(settings))
    table = kpi_period_table(service, REPLAY_START.date(), last_day, width=WIDTH - len(STEP))
    for line in table.splitlines():
        print(f"{STEP}{line}")
    say(
        f"The dashboard shows them over the 7 and the 30 days ending each day (to {last_day}), "
        "so its figures differ from these of the whole replay."
    )
