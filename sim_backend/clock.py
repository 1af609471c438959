"""The simulated bench clock: advanced by pulses, sweep steps, settles and VISA transactions.

Nothing in the simulator sleeps; instruments advance this clock by the time the real bench would
need, so a run reports realistic durations and retention runs cover years in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SimClock:
    """Monotonic simulated time in seconds since the simulated bench was created."""

    now_s: float = 0.0

    def advance(self, dt_s: float) -> float:
        """Advance by `dt_s` (>= 0) and return the new time."""
        if dt_s < 0:
            raise ValueError(f"cannot move the simulated clock backwards by {dt_s} s")
        self.now_s += float(dt_s)
        return self.now_s
