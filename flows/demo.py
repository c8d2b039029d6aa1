"""The demo on the embedded default: backfill the recorded sample, collect, validate."""

from __future__ import annotations

from datetime import datetime, timedelta
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
    checked = validate_snapshots(symbol=symbol, start=first, end=latest)

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
    print(f"  config_version  : {settings.config_version}")
    return 0 if checked["ok"] else 1
