"""The one place that decides what is retried after a bus fault, how often, and how.

Only operations that change nothing on the bench are retried: a measurement query at a level
that is already set (a read), the safe state (idempotent: 0 V, output off, switches open), and
opening an instrument (VISA faults only).
Anything that changed a level or fired a pulse is not retried: repeating it could stress the
cell twice, so its failure ends the run (the runner then makes the bench safe and marks the run
failed with the reason).

A failed attempt is followed by `clear` (the driver's `clear_io`: device clear, so that a late
reply to the abandoned query cannot be read as the answer to the next one, and the error queue
read empty), a short wait (`backoff_s`; free on the simulator, whose clock it advances), and the
next attempt. Each retry is reported through `on_retry` (the bench keeps the notes, the runner
writes them into the run's log).

Retried: VISA I/O errors (timeouts, a connection lost for a moment), replies that do not parse
(`ValueError`, `TypeError`: garbled or truncated), and readings that cannot be real (non-finite,
or the instruments' overflow markers, |x| >= 1e30).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pyvisa.errors import VisaIOError

from reramlab.errors import InstrumentIOError

T = TypeVar("T")

#: exceptions that mean "the bus or the reply was bad", not "the instrument refused"
TRANSIENT: tuple[type[BaseException], ...] = (VisaIOError, ValueError, TypeError)


class ImplausibleReading(ValueError):
    """A reading that parsed but cannot be a measurement (overflow marker, NaN, inf)."""


def plausible_number(value: float) -> float:
    """Check (for `RetryPolicy.call`'s `check`) that a reading is a real measurement."""
    x = float(value)
    if not math.isfinite(x) or abs(x) >= 1e30:
        raise ImplausibleReading(f"implausible reading {value!r}")
    return x


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with a device clear and a short wait between attempts."""

    attempts: int = 3
    #: wait before the 2nd, 3rd, ... attempt (the last value repeats)
    backoff_s: Sequence[float] = (0.05, 0.2)
    #: what counts as a fault worth another attempt
    retry_on: tuple[type[BaseException], ...] = TRANSIENT

    def call(
        self,
        op: Callable[[], T],
        *,
        what: str,
        clear: Callable[[], object] | None = None,
        wait: Callable[[float], None] | None = None,
        check: Callable[[T], object] | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> T:
        """Run `op` (and `check` on its result) up to `attempts` times; raise
        `InstrumentIOError` naming `what`, the attempts and the last error if all fail."""
        last: BaseException | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                value = op()
                if check is not None:
                    check(value)
                return value
            except self.retry_on as e:
                last = e
                if attempt == self.attempts:
                    break
                note = f"{what}: attempt {attempt}/{self.attempts} failed ({_describe(e)})"
                if clear is not None:
                    try:
                        queued = clear()
                    except TRANSIENT as ce:
                        note += f"; clearing the I/O failed too ({_describe(ce)})"
                    else:
                        note += "; I/O cleared"
                        if queued:
                            note += f" (error queue held {queued})"
                if on_retry is not None:
                    on_retry(note + "; retrying")
                if wait is not None:
                    wait(self.backoff_s[min(attempt - 1, len(self.backoff_s) - 1)])
        raise InstrumentIOError(
            f"{what}: failed {self.attempts} times; last error: {_describe(last)}"
        ) from last


def _describe(e: BaseException | None) -> str:
    return "none" if e is None else f"{type(e).__name__}: {e}"


#: reads: a measurement at a level already set
READ_POLICY = RetryPolicy(attempts=3, backoff_s=(0.05, 0.2))
#: the safe state: idempotent, and worth a longer wait for an instrument that is coming back
SAFE_POLICY = RetryPolicy(attempts=4, backoff_s=(0.1, 0.5, 1.0))
#: opening an instrument (nothing reaches the chip): a VISA fault only (a resource busy or a
#: connection refused for a moment), not a driver refusing its options
OPEN_POLICY = RetryPolicy(attempts=3, backoff_s=(0.5, 2.0), retry_on=(VisaIOError,))
