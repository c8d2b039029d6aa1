"""On the 2022-2023 recording, a crash month reads as trending and a quiet month as ranging."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from market_maker.base.timeutil import HOUR
from market_maker.config.regime import RegimeSettings
from market_maker.regime.analysis import analyze_frames
from tests.regime.helpers import SYMBOL, Recording, hours, records, utc

TRENDING = {"TREND", "TRANSITION"}
RANGING = {"RANGE_OK", "RANGE_WEAK"}


def month_shares(
    recording: Recording, cfg: RegimeSettings, start: datetime, end: datetime
) -> dict[str, float]:
    analysed = records(analyze_frames(SYMBOL, recording.frames, hours(start, end), cfg))
    counts = Counter(str(m.verdict) if m.verdict else "REFUSED" for m in analysed)
    return {verdict: n / len(analysed) for verdict, n in sorted(counts.items())}


def price_move(recording: Recording, start: datetime, end: datetime) -> tuple[float, float]:
    """(close at the end / open at the start - 1, (high - low) / low) over the month."""
    month = recording.h1.between(start, end + HOUR)
    change = month.close[-1] / month.open[0] - 1
    spread = (month.high.max() - month.low.min()) / month.low.min()
    return float(change), float(spread)


@pytest.mark.parametrize(
    ("start", "end", "family", "premise"),
    [
        pytest.param(utc(2022, 6, 1), utc(2022, 6, 30, 23), TRENDING, "fell", id="june-2022-crash"),
        pytest.param(
            utc(2023, 7, 1), utc(2023, 7, 31, 23), RANGING, "ranged", id="july-2023-range"
        ),
    ],
)
def test_the_month_is_dominated_by_its_regime_family(
    recording: Recording,
    regime_settings: RegimeSettings,
    start: datetime,
    end: datetime,
    family: set[str],
    premise: str,
) -> None:
    change, spread = price_move(recording, start, end)
    if premise == "fell":
        assert change < -0.40, f"ETH moved {change:.1%} in June 2022"
    else:
        assert spread < 0.15, f"ETH spanned {spread:.1%} in July 2023"

    shares = month_shares(recording, regime_settings, start, end)
    share = sum(shares.get(v, 0.0) for v in family)
    measured = ", ".join(f"{v} {100 * s:.1f} %" for v, s in shares.items())
    print(f"{start:%Y-%m}: {' + '.join(sorted(family))} = {100 * share:.1f} % ({measured})")
    assert "REFUSED" not in shares, measured
    assert share > 0.5, f"{' + '.join(sorted(family))} only {100 * share:.1f} %: {measured}"
