"""Fit the break-risk model: P(an hourly close outside the grid within 24 h).

Samples are the hours of the backtest's protocol grids while price is inside them, as the
exit engine sees them (:meth:`Feed.observation`); the label is whether any of the next 24
hourly closes of the *same period* left the grid (an hour whose horizon runs past the
period's end is dropped, so a fit never reads the period after it). The fit is a plain
logistic regression by maximum likelihood (scipy), with a small ridge penalty so that a
period without a feature's spread does not blow its coefficient up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from market_maker.backtest.feed import Feed
from market_maker.backtest.parameters import BacktestParameters
from market_maker.backtest.replay import first_evaluated_hour, place_protocol
from market_maker.base.timeutil import HOUR
from market_maker.exit_strategy.break_risk import FEATURES, features

HORIZON = 24
RIDGE = 1e-4


@dataclass
class Samples:
    x: np.ndarray  # (n, len(FEATURES))
    y: np.ndarray  # (n,) 1: a close outside the grid within HORIZON hours

    def __add__(self, other: Samples) -> Samples:
        return Samples(np.vstack([self.x, other.x]), np.concatenate([self.y, other.y]))


def samples(feed: Feed, params: BacktestParameters) -> Samples:
    """Every protocol-grid hour of ``feed`` with price inside the grid, labelled."""
    closes = feed.batch.price
    rows, labels = [], []
    for g in place_protocol(feed, params):
        lo, up = g.grid.lower_price, g.grid.upper_price
        hour = first_evaluated_hour(g.placed_at)
        while hour < g.life_end:
            i = feed.index(hour)
            if i + HORIZON >= len(closes):
                break
            o = feed.observation(i, g.grid)
            if not lo <= o.price <= up:
                break  # broken: the grid's later hours are not a prediction
            x = features(o)
            if x is not None:
                ahead = closes[i + 1 : i + 1 + HORIZON]
                rows.append([x[name] for name in FEATURES])
                labels.append(float(np.any((ahead < lo) | (ahead > up))))
            hour += HOUR
    return Samples(np.array(rows, dtype=float).reshape(-1, len(FEATURES)), np.array(labels))


@dataclass(frozen=True)
class Fit:
    coefficients: dict[str, float]  # intercept and one per feature
    samples: int
    base_rate: float
    log_loss: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        c = self.coefficients
        z = c["intercept"] + x @ np.array([c[name] for name in FEATURES])
        return 1 / (1 + np.exp(-z))


def fit(data: Samples) -> Fit:
    """Maximum-likelihood logistic fit of ``data``."""
    x = np.column_stack([np.ones(len(data.y)), data.x])
    y = data.y

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w
        nll = np.mean(np.logaddexp(0, z) - y * z) + RIDGE * np.sum(w[1:] ** 2)
        grad = x.T @ (1 / (1 + np.exp(-z)) - y) / len(y)
        grad[1:] += 2 * RIDGE * w[1:]
        return float(nll), grad

    result = minimize(loss, np.zeros(x.shape[1]), jac=True, method="BFGS")
    w = result.x
    coefficients = {"intercept": round(float(w[0]), 4)} | {
        name: round(float(v), 4) for name, v in zip(FEATURES, w[1:], strict=True)
    }
    z = x @ w
    return Fit(
        coefficients,
        len(y),
        round(float(y.mean()), 4),
        round(float(np.mean(np.logaddexp(0, z) - y * z)), 4),
    )


def calibration(f: Fit, data: Samples, bins: int = 5) -> list[tuple[float, float, int]]:
    """(mean predicted, observed share, count) per quantile bin of the prediction."""
    p = f.predict(data.x)
    edges = np.quantile(p, np.linspace(0, 1, bins + 1))
    out = []
    for k in range(bins):
        m = (p >= edges[k]) & ((p < edges[k + 1]) if k < bins - 1 else (p <= edges[k + 1]))
        if m.any():
            out.append(
                (round(float(p[m].mean()), 3), round(float(data.y[m].mean()), 3), int(m.sum()))
            )
    return out


def log_loss(f: Fit, data: Samples) -> float:
    p = np.clip(f.predict(data.x), 1e-12, 1 - 1e-12)
    return float(-np.mean(data.y * np.log(p) + (1 - data.y) * np.log(1 - p)))


def distance_only(data: Samples) -> Samples:
    """The same samples with every feature but the distance set to zero (its fit then has
    no other term): the yardstick the other features must beat out of sample."""
    x = np.zeros_like(data.x)
    x[:, 0] = data.x[:, 0]
    return Samples(x, data.y)
