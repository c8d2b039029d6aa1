"""The regime of every hour of a recording of 1-minute candles, without snapshots.

For calibration and reports (``market-maker regime-report``, the exit study): the windows
are cut from the recording the way they are cut from snapshots.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from market_maker.base.candles import CandleSeries, Interval, aggregate
from market_maker.base.timeutil import from_seconds, hours_between
from market_maker.config.regime import RegimeSettings
from market_maker.regime.analysis import Frames, RegimeBatch, analyze_frames
from market_maker.regime.classifier import MISSING
from market_maker.regime.model import VERDICTS


def analyze_series(
    symbol: str, minutes: CandleSeries, start: datetime, end: datetime, cfg: RegimeSettings
) -> RegimeBatch:
    """Every hour in [start, end] of a recording of 1-minute candles, without snapshots.

    For calibration and reports: the windows are cut from the recording the
    way they are cut from snapshots, so the verdicts are those the live path
    would have given.
    """
    frames = Frames(aggregate(minutes, Interval.HOUR), aggregate(minutes, Interval.FOUR_HOURS))
    return analyze_frames(symbol, frames, list(hours_between(start, end)), cfg)


def monthly_shares(batch: RegimeBatch) -> dict[str, dict[str, float]]:
    """Share of each verdict (and of refusals) per calendar month."""
    months: dict[str, Counter[str]] = {}
    for t, code in zip(batch.hours.tolist(), batch.final.tolist(), strict=True):
        if code == MISSING:
            continue
        key = from_seconds(t).strftime("%Y-%m")
        months.setdefault(key, Counter())[str(VERDICTS[code]) if code >= 0 else "REFUSED"] += 1
    return {
        month: {v: n / sum(counts.values()) for v, n in counts.items()}
        for month, counts in sorted(months.items())
    }
