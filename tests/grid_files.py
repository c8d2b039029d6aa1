"""The grid the tests place: ETH-USDT 1,780-1,900 from 2023-08-14, the sample's ranging stretch."""

from __future__ import annotations

from typing import Any


def grid_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema_version": "1.0",
        "id": "eth-grid-1",
        "symbol": "ETH-USDT",
        "lower_price": 1780.0,
        "upper_price": 1900.0,
        "levels": 20,
        "amount_per_grid": 0.01,
        "profit_per_grid": 0.0035,
        "history": [{"enabled": "2023-08-14T00:00:00Z"}],
    }
    data.update(changes)
    return data
