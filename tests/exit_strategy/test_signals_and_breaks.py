"""The exit study's summary on two grid runs counted by hand.

Both grids span [95, 105]; every hourly close is 100 except 110 at 10:00 (the first run's
break) and 90 at 30:00 (the second run's exit there is not a prediction). Horizon 3 h.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from market_maker.decisions.states import ExitState
from market_maker.exit_strategy.signals_and_breaks import GridRun, StudyResult
from market_maker.grids.model import GridConfig, HistoryEntry

T0 = datetime(2023, 1, 1, tzinfo=UTC)


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def grid(n: int) -> GridConfig:
    return GridConfig(
        id=f"study-{n}",
        symbol="ETH-USDT",
        lower_price=95.0,
        upper_price=105.0,
        levels=5,
        amount_per_grid=0.01,
        profit_per_grid=0.01,
        history=[HistoryEntry(enabled=T0)],
    )


def test_summary_counts_warnings_exits_and_breaks() -> None:
    closes = {at(k): 100.0 for k in range(40)} | {at(10): 110.0, at(30): 90.0}
    broken = GridRun(
        grid(0),
        at(0),
        at(10),
        break_at=at(10),
        # 09:00 is followed by the break within 3 h, 01:00 and 05:00 are not.
        warnings=[at(1), at(5), at(9)],
        # Inside the grid, and the break comes within 3 h: a true signal.
        exits=[(at(8), ExitState.LATEST_ACCEPTABLE_EXIT)],
    )
    kept = GridRun(
        grid(1),
        at(12),
        at(35),
        # 28:00 is followed by the close at 30:00 outside the grid.
        warnings=[at(18), at(28)],
        # 20:00: price stays inside for 3 h, a false exit; 30:00: price already outside.
        exits=[(at(20), ExitState.MANDATORY_EXIT), (at(30), ExitState.MANDATORY_EXIT)],
    )
    assert StudyResult([broken, kept], closes, horizon_hours=3).summary() == {
        "grids": 2,
        "warnings": 5,
        "warnings_followed_by_break": 2,
        "warning_break_share": 0.4,
        "exit_signals_inside_grid": 2,
        "false_exits": 1,
        "false_exit_rate": 0.5,
        "breaks": 1,
        "breaks_warned": 1,
        "breaks_with_exit_signal_before": 1,
        "median_warning_lead_hours": 1.0,
    }


def test_summary_without_signals_has_no_shares() -> None:
    quiet = GridRun(grid(0), at(0), at(5))
    summary = StudyResult([quiet], {at(k): 100.0 for k in range(6)}, horizon_hours=3).summary()
    assert summary["grids"] == 1
    assert summary["warning_break_share"] is None
    assert summary["false_exit_rate"] is None
    assert summary["median_warning_lead_hours"] is None
