"""A sweep point's figures are the full backtest's, for the two policies a point is ranked
by, although the point simulates and scores only those two and writes no report."""

from __future__ import annotations

import pytest

from market_maker.backtest.parameters import parse_parameters
from market_maker.backtest.runner import backtest, load, point_figures
from market_maker.backtest.sweep import PointFigures
from market_maker.config import Settings
from tests.conftest import SAMPLE_FILE


@pytest.mark.parametrize("placement", ["protocol", "system"])
def test_a_points_figures_are_the_full_backtests(
    default_settings: Settings, placement: str
) -> None:
    params = parse_parameters(
        {
            "data_file": str(SAMPLE_FILE),
            "start": "2023-07-03T00:00:00Z",
            "end": "2023-08-28T00:00:00Z",
            "placement": placement,
            "half_width_pct": 3.0,
        }
    )
    data = load(params, default_settings)
    full = backtest(params, default_settings, data, code_version="test").report

    point = point_figures(params, default_settings, data)

    assert point.grids > 0
    expected = PointFigures.of(
        params.start, params.end, full.variants["system"], full.variants["no_exit"].pnl
    )
    assert point == expected
