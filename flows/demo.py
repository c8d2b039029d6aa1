"""The demo on the embedded default: backfill the recorded sample, collect, validate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from git import Repo

from market_maker.config import Settings
from market_maker.exchange import ReplayExchange
from market_maker.store.git_store import _is_local_path
from market_maker.timeutil import HOUR, floor_hour, format_utc, last_closed_hour


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
    print(f"market-maker demo: {symbol} from {settings.replay.data_file}")
    print(
        f"  backfilling {format_utc(first)} .. {format_utc(last)}, "
        f"then collecting {format_utc(latest)}"
    )

    filled = backfill(symbol=symbol, start=first, end=last)
    collected = hourly_collection(symbols=[symbol], hour=None)
    checked = validate_snapshots(symbol=symbol, start=first, end=latest, fail_on_error=False)
    analysed = snapshot_analysis(symbol=symbol, start=first, end=latest)

    store = GitDataStore.from_settings(settings)
    files = sorted((store.path / "snapshots" / symbol).glob("*/*/*/*.json"))
    commits = int(store.repo.git.rev_list("--count", "HEAD")) if store.head() else 0
    print()
    print("Done.")
    print(f"  data repository : {store.path}")
    print(
        f"  remote          : {remote or settings.data_repository.remote_url} "
        f"({'in sync' if store.unpushed_count() == 0 else f'{store.unpushed_count()} unpushed'})"
    )
    print(f"  snapshots       : {len(files)} files under snapshots/{symbol}/, {commits} commits")
    print(
        f"  backfill        : {filled['written']} written, {filled['skipped']} already valid, "
        f"{len(filled['missing_at_source'])} missing at the source"
    )
    print(f"  latest hour     : {collected['hour']} -> {'; '.join(collected['outcomes'])}")
    print(
        f"  validation      : {checked['files_checked']} files, {len(checked['errors'])} errors, "
        f"{len(checked['warnings'])} warnings"
    )
    for problem in checked["errors"][:20]:
        print(f"    {problem}")
    print(
        f"  metrics files   : {analysed['written']} written, {analysed['unchanged']} unchanged, "
        f"{analysed['kept']} kept (made by another code version) under metrics/{symbol}/"
    )
    print("  regimes         :")
    for line in analysed["summary"][1:]:
        print(f"  {line}")
    _grid_replay(settings, store, symbol, latest)
    _kpis(settings, store, latest)
    print(f"  config_version  : {settings.config_version}")
    return 0 if checked["ok"] else 1


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


def _grid_replay(settings: Settings, store, symbol: str, latest: datetime) -> None:
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
    if not grid_path(store.path, grid["id"]).exists():
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / f"{grid['id']}.yaml"
            source.write_text(yaml.safe_dump(grid, sort_keys=False))
            grid_add(source)
    print()
    print(
        f"Grid {grid['id']}: {grid['lower_price']:g}-{grid['upper_price']:g}, "
        f"{grid['levels']} levels, from {format_utc(DEMO_GRID_START)}; replaying the hourly "
        f"pipeline to {format_utc(latest)} ..."
    )
    seconds = hourly_pipeline(symbols=[symbol], start=DEMO_GRID_START, end=WATCH_FROM)["seconds"]
    states = ExitStateStore(store.path)
    hour, stopped = WATCH_FROM, None
    while stopped is None and hour < min(WATCH_FROM + WATCH_HOURS * HOUR, latest):
        hour += HOUR
        seconds += hourly_pipeline(symbols=[symbol], hour=hour)["seconds"]
        day = states.day(symbol, hour.date())
        mandatory = [e for e in (day.latest() if day else []) if e.hour == hour]
        if mandatory and str(mandatory[0].state) == "MANDATORY_EXIT":
            issued = hour + HOUR
            stopped = issued + OPERATOR_DELAY
            book = GridBook.load(store.path, fee_rate=settings.grids.fee_rate)
            if book.grids[grid["id"]].running_at(stopped):  # a rerun finds it done already
                message = grid_set(
                    grid["id"],
                    enabled=False,
                    at=stopped,
                    reason="STOP_GRID after MANDATORY_EXIT",
                    decision=decision_id(symbol, issued),
                )
                print(f"  {message}")
        states = ExitStateStore(store.path)  # read the day again next hour
    if hour < latest:
        seconds += hourly_pipeline(symbols=[symbol], start=hour + HOUR, end=latest)["seconds"]
    timeline = read_timeline(ExitStateStore(store.path), symbol, DEMO_GRID_START, latest)
    print(f"  hours per exit state: {timeline.hours_in_state}")
    print("  exit-state timeline:")
    for t in timeline.transitions:
        print(
            f"    {format_utc(t.timestamp)}  {t.from_state:>22} -> {t.to_state:<22} "
            f"{t.reasons[0][:70]}"
        )
    print(
        f"  notifications ({len(timeline.notified)}; no Pushover keys in the demo, so they "
        "were logged instead):"
    )
    for first, last, state, count in _runs(timeline.notified):
        if count == 1:
            print(f"    {format_utc(first)}  {state}")
        else:
            print(f"    {format_utc(first)} .. {format_utc(last)}  {state} x{count}")
    if stopped is not None:
        print(f"  the operator stopped the grid at {format_utc(stopped)}, acting on the decision")
    print(f"  pipeline: {seconds:.1f} s")


def _kpis(settings: Settings, store, latest: datetime) -> None:
    """Score the replay: evaluation entries, a KPI file per day, the dashboard."""
    from flows.daily_kpi import daily_kpi
    from market_maker.context import RunContext
    from market_maker.kpis.report import kpi_period_table
    from market_maker.kpis.service import KpiService

    last_day = (latest - timedelta(days=1)).date()
    result = daily_kpi(start=DEMO_GRID_START.date(), end=last_day)
    written = sum(1 for status in result["kpi_files"].values() if status == "written")
    print()
    print(
        f"KPIs: {len(result['days'])} days scored, {written} KPI file(s) written under kpis/, "
        f"{result['evaluations']} evaluation entr{'y' if result['evaluations'] == 1 else 'ies'} "
        "appended to the decisions"
    )
    ctx = RunContext.open(settings)
    service = KpiService.open(ctx)
    print(kpi_period_table(service, DEMO_GRID_START.date(), last_day))
    print(f"  dashboard       : {store.path / 'dashboard' / 'index.html'}")


def _runs(records) -> list[tuple[datetime, datetime, str, int]]:
    """Group consecutive notifications of the same state: (first, last, state, count)."""
    runs: list[list] = []
    for e in records:
        if runs and runs[-1][2] == e.notified and e.hour - runs[-1][1] <= HOUR:
            runs[-1][1] = e.hour
            runs[-1][3] += 1
        else:
            runs.append([e.hour, e.hour, e.notified, 1])
    return [(a, b, str(state), n) for a, b, state, n in runs]
