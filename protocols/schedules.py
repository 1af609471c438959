"""Step schedules shared by protocols: log-spaced checkpoints and bursts within the per-call limit."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def log_counts(n_max: int, per_decade: float) -> list[int]:
    """Log-spaced counts 1 .. n_max (about `per_decade` per decade, integers, unique, ending at
    n_max): the checkpoints of an endurance run."""
    if n_max < 1:
        return []
    decades = np.log10(n_max)
    points = np.logspace(0.0, decades, max(2, int(np.ceil(decades * per_decade)) + 1))
    counts = sorted({int(round(x)) for x in points} | {n_max})
    return [c for c in counts if 1 <= c <= n_max]


def bursts(count: int, per_call_max: int) -> Iterator[int]:
    """`count` pulses as bursts of at most `per_call_max` (the station's pulses_per_call_max)."""
    while count > 0:
        n = min(count, per_call_max)
        yield n
        count -= n
