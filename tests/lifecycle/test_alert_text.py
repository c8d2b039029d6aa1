"""Exit alerts carry the position at risk, a missed STOP, a ready promotion, the deadline."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from market_maker.alerts.message import exit_notification
from market_maker.decisions.model import ProposedGrid
from market_maker.decisions.states import ExitState, Recommendation
from market_maker.grids.position import position_risk

HOUR = datetime(2023, 8, 17, 1, tzinfo=UTC)
PROMOTION = ProposedGrid(
    lower_price=1624.05,
    upper_price=1689.09,
    levels=10,
    spacing="arithmetic",
    spacing_pct=0.43,
    amount_per_grid=0.038741,
    profit_per_grid=0.0043,
    profit_per_grid_net=0.0023,
)


def alert(**changes: object) -> str:
    fields = {
        "symbol": "ETH-USDT",
        "grid_id": "demo-eth-grid",
        "hour": HOUR,
        "state": ExitState.MANDATORY_EXIT,
        "previous": ExitState.LATEST_ACCEPTABLE_EXIT,
        "recommendation": Recommendation.STOP_GRID,
        "price": 1800.0,
        "lower": 1780.0,
        "upper": 1900.0,
        "verdict": "TREND",
        "confidence": 0.8,
        "reasons": [],
        "decision_id": "dec-ETH-USDT-20230817-020000",
        "expires_at": datetime(2023, 8, 17, 2, 15, tzinfo=UTC),
        "url": None,
    }
    return exit_notification(**{**fields, **changes}).message


def test_the_position_at_risk_is_in_the_alert() -> None:
    risk = position_risk(1780, 1900, 13, 0.05, np.array([1850.0, 1830.0, 1800.0]))
    text = alert(position=risk)
    assert (
        "Position: 0.45 ETH at 1,838.89 on average, unrealised -17.50 USDT; at the lower bound "
        "1,780.00: 0.55 ETH, -28.00 USDT." in text
    )
    mismatch = risk.model_copy(
        update={"exchange_base": 1.25, "mismatch": "the account holds 1.25 ETH"}
    )
    assert "Exchange check: the account holds 1.25 ETH." in alert(position=mismatch)


def test_a_missed_stop_leads_the_next_alert() -> None:
    text = alert(missed="MISSED: the MANDATORY_EXIT recommendation dec-X expired at 02:15 UTC")
    assert text.startswith("MISSED: the MANDATORY_EXIT recommendation dec-X expired at 02:15 UTC.")


def test_a_range_decision_has_no_deadline_and_a_ready_promotion_says_how_to_take_it() -> None:
    text = alert(
        state=ExitState.NORMAL,
        previous=ExitState.NORMAL,
        recommendation=Recommendation.HOLD,
        verdict="RANGE_OK",
        expires_at=None,
        promotion=PROMOTION,
    )
    assert "no deadline" in text and "act before" not in text
    assert "Promotion ready: a full grid 1,624.05-1,689.09 x10" in text
    assert "market-maker decision act --id dec-ETH-USDT-20230817-020000 --action executed" in text


def test_a_ready_promotion_is_announced_once_never_urgently() -> None:
    from market_maker.alerts.setup_alerts import promotion_notification
    from market_maker.decisions.model import Decision

    decision = Decision.model_validate(
        {
            "schema_version": "1.1",
            "id": "dec-ETH-USDT-20230825-210000",
            "symbol": "ETH-USDT",
            "hour": "2023-08-25T20:00:00Z",
            "issued_at": "2023-08-25T21:00:00Z",
            "expires_at": None,
            "recommendation": "HOLD",
            "exit_state": "NORMAL",
            "previous_exit_state": "NORMAL",
            "verdict": "RANGE_OK",
            "confidence": 0.85,
            "reasons": ["no exit condition met"],
            "metrics": {},
            "grid": {
                "grid_id": "eth-usdt-20230824-0900",
                "lower_price": 1624.05,
                "upper_price": 1689.09,
                "levels": 5,
            },
            "metrics_file": "metrics/ETH-USDT/2023-08-25-20.yaml",
            "promotion": PROMOTION.model_dump(),
            "config_version": "c",
            "code_version": "v",
        }
    )
    n = promotion_notification(decision)
    assert n.priority == 0 and "promotion ready" in n.title
    assert (
        "market-maker decision act --id dec-ETH-USDT-20230825-210000 --action executed" in n.message
    )
