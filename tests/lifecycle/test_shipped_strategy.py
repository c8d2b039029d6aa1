"""The shipped strategy, as the configuration holds it: no grid is recommended, and every
hour says why first (the strategy study's finding, docs/strategy.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from market_maker.config import load_settings
from market_maker.lifecycle.setup import Context, evaluate_setup
from market_maker.regime.model import MetricsFile


@pytest.fixture
def shipped(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MARKET_MAKER_LIFECYCLE__SETUP__ENABLED")
    return load_settings()


def test_the_shipped_configuration_recommends_no_grid_and_says_why(
    shipped, august: list[MetricsFile]
) -> None:
    assert shipped.lifecycle.setup.enabled is False
    on = shipped.lifecycle.model_copy(
        update={"setup": shipped.lifecycle.setup.model_copy(update={"enabled": True})}
    )
    created = 0
    for m in august[: 24 * 10]:
        ctx = Context(
            at=m.hour + timedelta(hours=1),
            fee_rate=shipped.grids.fee_rate,
            total_quote=1000.0,
            balance_source="test",
        )
        result = evaluate_setup(m, ctx, shipped.lifecycle)
        assert result.recommendation == "NO_SETUP" and result.grid is None
        assert result.reasons[0].startswith("strategy: no grid recommended: out of sample")
        created += evaluate_setup(m, ctx, on).recommendation == "CREATE_GRID"
    assert created, "the same hours with the setup on propose grids"
