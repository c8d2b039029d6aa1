"""From votes to a verdict: weighted score, four verdicts, 4h confirmation."""

from __future__ import annotations

import numpy as np

from market_maker.config.regime import METRIC_NAMES, ClassificationSettings, MetricName, Weights
from market_maker.regime.metrics import MetricBatch
from market_maker.regime.model import VERDICTS, Verdict

# Verdict codes in arrays: index into VERDICTS, or one of these.
REFUSED = -1  # fewer computable metrics than required
MISSING = -2  # no candle for the hour at all

RANGE_OK, RANGE_WEAK, TRANSITION, TREND = range(4)
FAMILY = np.array([0, 0, 1, 2])  # range, range, transition, trend


def score(
    batches: dict[MetricName, MetricBatch], weights: Weights
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted mean vote over computable metrics; (score, computable count, weight sum)."""
    w = np.array([getattr(weights, name) for name in METRIC_NAMES])[:, None]
    ok = np.stack([batches[name].computable for name in METRIC_NAMES])
    votes = np.stack([batches[name].votes for name in METRIC_NAMES]).astype(np.float64)
    weight = (w * ok).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (w * ok * votes).sum(axis=0) / weight
    return np.where(weight > 0, value, np.nan), ok.sum(axis=0), weight


def classify(
    value: np.ndarray, computable: np.ndarray, weight: np.ndarray, cfg: ClassificationSettings
) -> np.ndarray:
    """Verdict codes; REFUSED where fewer than ``min_metrics`` metrics could be computed."""
    codes = np.select(
        [value >= cfg.trend_at, value >= cfg.transition_at, value > cfg.range_ok_at],
        [TREND, TRANSITION, RANGE_WEAK],
        default=RANGE_OK,
    )
    refused = (computable < cfg.min_metrics) | ~(weight > 0)
    return np.where(refused, REFUSED, codes)


EFFECTS = {
    0: "agrees or not decisive",
    1: "4h trend-ish: 1h range verdict raised to TRANSITION",
    2: "4h TREND confirms: 1h TRANSITION raised to TREND",
    3: "no 4h verdict: 1h verdict stands unconfirmed",
}


def confirm(code_1h: np.ndarray, code_4h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply the closed-4h confirmation; returns (final codes, effect codes).

    A 1h range verdict under a 4h TRANSITION or TREND becomes TRANSITION (the
    larger picture is moving); a 1h TRANSITION under a 4h TREND becomes TREND.
    A 1h TREND is never softened by a calmer 4h picture: capital preservation
    comes first, and the disagreement costs confidence instead.
    """
    final = code_1h.copy()
    effect = np.zeros_like(code_1h)
    raise_range = (code_1h >= RANGE_OK) & (code_1h <= RANGE_WEAK) & (code_4h >= TRANSITION)
    raise_transition = (code_1h == TRANSITION) & (code_4h == TREND)
    final[raise_range] = TRANSITION
    final[raise_transition] = TREND
    effect[raise_range] = 1
    effect[raise_transition] = 2
    effect[(code_4h < 0) & (code_1h >= 0)] = 3
    return final, effect


def verdict(code: int) -> Verdict | None:
    return VERDICTS[code] if code >= 0 else None
