"""The `SourceMeter` role methods shared by SMU channel drivers (B2902 channels, 2636B SMUs).

A channel that mixes this in names its properties the same way (``source_function``,
``source_level_v``, ``source_range_v``, ``compliance_a``, ``nplc``, ``current_range_a``,
``current_range_auto``, ``output_enabled``, ``current_a``) and talks through a parent with
`DriverMixin` (batched writes, raising error checks). What differs between models, the list
sweep and the safe state, stays in the model's driver.

Also here: what the one-message read (`read_at`) of every SMU driver does with its reply, an
error queue that holds something (`raise_queued`) and the SCPI reply (`scpi_reading`), which
the 2450 and the B2902 share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, NoReturn

import numpy as np

from .base import InstrumentError, error_entry


def raise_queued(driver: Any, errors: Sequence[tuple[int, str]], detail: str) -> NoReturn:
    """Raise `InstrumentError` with `errors` (those a reply already held) and everything else
    `driver`'s error queue holds (read out until empty)."""
    raise InstrumentError(driver.name, [*errors, *driver.queued_errors()], detail)


def scpi_reading(driver: Any, reply: str, v: float) -> float:
    """The current (A) in the reply to a one-message SCPI read at `v` volts: the reading, then
    the ``:SYST:ERR?`` entry (``-1.2345E-07;0,"No error"``). Raises `InstrumentError` if an
    error was queued (the rest of the queue is read out with it), `ValueError` if the reply
    holds no reading or is garbled (what the bench's read policy retries)."""
    reply = reply.strip()
    reading, sep, error = reply.partition(";")
    if not sep:  # the reading is missing: the reply is the error entry alone
        reading, error = "", reply
    code, message = error_entry(error.split(",", 1))
    if code != 0:
        raise_queued(driver, [(code, message)], f"reading at {v:g} V failed")
    if not reading:  # neither a reading nor an error: a garbled reply
        raise ValueError(f"{driver.name}: reply {reply!r} holds no reading")
    return float(reading)


class SourceMeterChannel:
    """`SourceMeter` role on a pymeasure `Channel` (mix in before `Channel`)."""

    #: the model's voltage source ranges (V) and how far beyond its range each one sources
    V_RANGES_V: ClassVar[tuple[float, ...]]
    RANGE_HEADROOM: ClassVar[float]
    #: NPLC last configured; sizes the timeout of a list sweep (worst case until configured)
    _nplc: float = 100.0

    parent: Any

    def select_voltage_source(self) -> None:
        """Settings that make the channel a fixed-level voltage source (model hook)."""
        self.source_function = "VOLT"

    def select_current_measurement(self) -> None:
        """Settings that make the channel measure current (model hook; none by default)."""

    def configure_voltage_source(
        self,
        *,
        i_compliance_a: float,
        v_limit_v: float,
        nplc: float = 1.0,
        i_range_a: float | None = None,
    ) -> None:
        """Voltage source at 0 V, the smallest source range that holds `v_limit_v` (the
        instrument refuses levels beyond it), the current compliance, current measurement
        (aperture `nplc`, range `i_range_a` or auto); one message with the error check. The
        output state is unchanged."""
        v_max = self.V_RANGES_V[-1] * self.RANGE_HEADROOM
        if not 0 < v_limit_v <= v_max:
            raise ValueError(f"v_limit_v {v_limit_v} V outside (0, {v_max:g}] V")
        with self.parent.batch(check_errors=True):
            self.select_voltage_source()
            self.source_level_v = 0.0
            self.source_range_v = next(
                r for r in self.V_RANGES_V if v_limit_v <= r * self.RANGE_HEADROOM
            )
            self.compliance_a = i_compliance_a
            self.select_current_measurement()
            self.nplc = nplc
            if i_range_a is None:
                self.current_range_auto = True
            else:
                self.current_range_a = i_range_a
        self._nplc = nplc

    def set_voltage(self, v: float) -> None:
        """Set the source level in V (output state unchanged); raises if the SMU refuses it."""
        with self.parent.batch(check_errors=True):
            self.source_level_v = v

    def enable(self) -> None:
        """Turn the output on at the present level."""
        with self.parent.batch(check_errors=True):
            self.output_enabled = True

    def disable(self) -> None:
        """Turn the output off (what the line then sees follows the output-off mode)."""
        with self.parent.batch(check_errors=True):
            self.output_enabled = False

    def measure_current(self) -> float:
        """One current reading in A at the present level."""
        return float(self.current_a)

    def own_gate(self, gate: Any) -> Any:
        """`gate` (a `GateLevels` for `read_at`, or None) if its channel is another channel of
        this instrument; ValueError otherwise (its levels could not ride in this message)."""
        if gate is not None and gate.channel.parent is not self.parent:
            raise ValueError(
                f"{self.parent.name}: gate {gate.channel!r} is not one of its channels"
            )
        return gate

    def sweep_timeout_s(self, n_points: int, delay_s: float) -> float:
        """A VISA timeout that a sweep of `n_points` cannot outlast (50 Hz worst case)."""
        return 2 * n_points * (delay_s + self._nplc / 50.0 + 2e-3) + 5.0

    def sweep_result(self, readings: Sequence[float] | float, n_points: int) -> np.ndarray:
        """The read-back buffer as an array; raises unless it holds one reading per level."""
        currents = np.atleast_1d(np.asarray(readings, dtype=float))
        if len(currents) != n_points:
            raise InstrumentError(
                self.parent.name, [], f"sweep returned {len(currents)} of {n_points} readings"
            )
        return currents
