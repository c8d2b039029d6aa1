"""What the dashboard shows, gathered from the data repository as plain JSON-ready data."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from market_maker.base.identifiers import inside, symbol_part
from market_maker.base.timeutil import HOUR, to_seconds
from market_maker.context import RunContext
from market_maker.decisions.model import DECISIONS_DIR, decision_id
from market_maker.decisions.store import DecisionStore
from market_maker.exit_strategy.store import ExitStateStore
from market_maker.grids.book import GridBook
from market_maker.kpis.daily_batch import action_fact, day_end
from market_maker.kpis.model import KPIS_DIR, Kpi, read_kpi_file
from market_maker.kpis.tables import NAMES, notes
from market_maker.snapshots.columnar import CandleCache

KPI_WINDOWS = ("7d", "30d")


def ms(moment: datetime) -> int:
    """Milliseconds since the epoch: what the page's time axes use."""
    return to_seconds(moment) * 1000


def dashboard_data(ctx: RunContext, day: date) -> dict[str, Any]:
    """Prices, grid bounds, regimes, exit-state changes, operator actions and KPI trends for
    the ``kpis.dashboard_days`` days ending with ``day``."""
    end = day_end(day)
    start = end - timedelta(days=ctx.settings.kpis.dashboard_days)
    book = GridBook.load(ctx.store.path, fee_rate=ctx.settings.grids.fee_rate)
    symbols = [_symbol(ctx, book, s, start, end) for s in ctx.settings.symbols]
    # The page shows (and its header names) the hours the data has, not the whole window.
    hours = [t for s in symbols for t, _ in s["prices"]]
    return {
        "title": f"market-maker: {', '.join(ctx.settings.symbols)}",
        "day": day.isoformat(),
        "start": min(hours, default=ms(start)),
        "end": max(hours, default=ms(end - HOUR)),
        "symbols": symbols,
        "kpis": kpi_trends(ctx.store.path, start.date(), day),
        "config_version": ctx.config_version,
    }


def _symbol(
    ctx: RunContext, book: GridBook, symbol: str, start: datetime, end: datetime
) -> dict[str, Any]:
    candles = CandleCache(ctx.reader, ctx.cache_dir).load(symbol, start, end).h1
    keep = (candles.t >= to_seconds(start)) & (candles.t < to_seconds(end))
    times, closes = candles.t[keep].tolist(), candles.close[keep].tolist()
    grids = [
        {
            "id": grid.id,
            "start": ms(max(s, start)),
            "end": ms(min(e or end, end)),
            "lower": grid.lower_price,
            "upper": grid.upper_price,
        }
        for grid in book.grids.values()
        if grid.symbol == symbol
        for s, e in grid.running_intervals()
        if s < end and (e is None or e > start)
    ]
    ctx.regime_index.refresh(symbol)
    regimes = [
        {"verdict": p.verdict, "start": p.start, "end": p.end}
        for p in ctx.regime_index.periods(symbol, None, start, end)
    ]
    return {
        "symbol": symbol,
        "prices": [[int(t) * 1000, c] for t, c in zip(times, closes, strict=True)],
        "grids": grids,
        "regimes": regimes,
        "changes": _changes(ctx.store.path, symbol, start, end),
        "actions": _actions(ctx.store.path, symbol, start, end),
    }


def _days(start: datetime, end: datetime) -> list[date]:
    first, last = start.date(), (end - timedelta(hours=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _changes(root: Path, symbol: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    store = ExitStateStore(root)
    out = []
    for day in _days(start, end):
        file = store.day(symbol, day)
        for t in file.effective_transitions() if file else []:
            out.append(
                {
                    "t": ms(t.timestamp),
                    "grid": t.grid_id,
                    "from": str(t.from_state),
                    "to": str(t.to_state),
                    "why": t.reasons[0] if t.reasons else "",
                    "decision": decision_id(symbol, t.timestamp + HOUR),
                }
            )
    return out


def _actions(root: Path, symbol: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Operator actions recorded on the symbol's decisions issued in the period."""
    store = DecisionStore(root)
    out = []
    for day in _days(start, end):
        folder = inside(root, Path(DECISIONS_DIR, f"{day:%Y-%m-%d}"))
        acted = {
            p.name.split(".")[0] for p in folder.glob(f"dec-{symbol_part(symbol)}-*-action.yaml")
        }
        for stem in sorted(acted):
            decision = store.read(folder / f"{stem}.yaml")
            for entry in store.entries(decision.id):
                if entry.kind == "action":
                    fact = action_fact(entry)
                    out.append(
                        {
                            "t": ms(fact.at),
                            "decision": decision.id,
                            "action": fact.action,
                            "recommendation": str(decision.recommendation),
                        }
                    )
    return out


def kpi_trends(root: Path, first: date, last: date) -> dict[str, Any]:
    """Each KPI's value per day over the 7- and 30-day windows, from the KPI files; what each
    counts, its unit, and what the latest file's surprising values mean."""
    days, series = [], {f"{k.value} {w}": [] for k in Kpi for w in KPI_WINDOWS}
    targets, units, last_notes = {}, {}, []
    folder = root / KPIS_DIR
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        path = folder / f"{day:%Y-%m-%d}.yaml"
        if not path.exists():
            continue
        file = read_kpi_file(path)
        days.append(day.isoformat())
        for kpi in Kpi:
            for window in KPI_WINDOWS:
                value = file.windows[window][kpi]
                series[f"{kpi.value} {window}"].append(value.value)
                units[kpi.value] = value.unit
                if value.target:
                    targets[kpi.value] = value.target
        last_notes = notes({w: file.windows[w] for w in KPI_WINDOWS}, width=1000)
    return {
        "days": days,
        "series": series,
        "targets": targets,
        "units": units,
        "names": {k.value: NAMES[k] for k in Kpi},
        "notes": last_notes,
    }
