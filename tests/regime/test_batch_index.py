"""An analysed hour is found in a batch by its time, whether the batch's hours run on
without a gap (found where it would sit) or skip some (found by search); an hour the batch
did not analyse is a KeyError."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from market_maker.base.timeutil import from_seconds
from market_maker.regime.analysis import RegimeBatch

START = 1_688_169_600  # 2023-07-01T00:00Z


def batch_of(hours: list[int], period_minutes: int) -> RegimeBatch:
    """A batch whose only filled columns are the two ``index`` reads."""
    batch = RegimeBatch.__new__(RegimeBatch)
    batch.hours = np.array(hours, dtype=np.int64)
    batch.period_minutes = period_minutes
    return batch


@settings(max_examples=100, deadline=None)
@given(
    kept=st.lists(st.booleans(), min_size=1, max_size=60),
    period=st.sampled_from([60, 30, 15]),
)
def test_every_analysed_hour_is_found_and_no_other(kept: list[bool], period: int) -> None:
    step = 60 * period
    every = [START + k * step for k in range(len(kept))]
    analysed = [t for t, keep in zip(every, kept, strict=True) if keep]
    batch = batch_of(analysed, period)

    for i, t in enumerate(analysed):
        assert batch.index(from_seconds(t)) == i
    for t in [*every, every[0] - step, every[-1] + step]:
        if t not in analysed:
            try:
                batch.index(from_seconds(t))
            except KeyError:
                continue
            raise AssertionError(f"{from_seconds(t)} was not analysed but was found")
