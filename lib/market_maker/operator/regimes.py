"""Queries of the regime index (read-only: no flow run, nothing committed)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from market_maker.base.errors import DataError
from market_maker.base.timeutil import format_utc
from market_maker.config import load_settings
from market_maker.regime.index import RegimeIndex, as_dict
from market_maker.store import GitDataStore


def query_regimes(
    *,
    symbol: str,
    start: datetime | None = None,
    end: datetime | None = None,
    verdict: str | None = None,
    transitions: bool = False,
    at: datetime | None = None,
    confidence: bool = False,
    output: Literal["table", "json"] = "table",
) -> str:
    """Refresh the index from the metrics files, then answer one query as a table or JSON."""
    settings = load_settings()
    settings.require_symbols([symbol])
    if start is not None and end is not None and end < start:
        raise DataError(f"end {format_utc(end)} is before start {format_utc(start)}")
    store = GitDataStore.from_settings(settings)
    index = RegimeIndex(store.state_dir / "regime-index.sqlite", store.path)
    index.refresh(symbol)
    # An empty answer must mean "none of those", never "no data to look at".
    first, last = (at, at) if at is not None else (start, end)
    if index.count(symbol, first, last) == 0:
        span = "".join(
            f" {word} {format_utc(value)}"
            for word, value in (("from", first), ("to", last))
            if value is not None
        )
        if at is not None:
            span = f" at {format_utc(at)}"
        raise DataError(
            f"no analysed hours for {symbol}{span} in the data repository "
            "(market-maker analyze first)"
        )
    rows: list[dict[str, object]]
    if at is not None:
        row = index.verdict_at(symbol, at)
        rows = [as_dict(row)] if row else []
    elif transitions:
        rows = [as_dict(t) for t in index.transitions(symbol, start, end, to_verdict=verdict)]
    elif confidence:
        rows = index.confidence_distribution(symbol, start, end, verdict)
    else:
        rows = [as_dict(p) for p in index.periods(symbol, verdict, start, end)]
    if output == "json":
        return json.dumps(rows, indent=2)
    return _table(rows)


def _table(rows: list[dict[str, object]]) -> str:
    if not rows:
        return "(nothing)"
    keys = list(rows[0])
    cells = [[_cell(r[k]) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    line = "  ".join(k.ljust(w) for k, w in zip(keys, widths, strict=True))
    body = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([line, *body])


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
