"""Capability interfaces the bench layer programs against (typing.Protocol, structural).

A driver satisfies a role by having these methods; nothing inherits from them. Roles speak in
volts, amperes and seconds and never in cells: mapping cells to lines is the bench's job.
Every method that changes an output respects the order of operations that keeps a chip safe:
range and compliance first, level at 0, output on, then the level.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class SourceMeter(Protocol):
    """One SMU channel sourcing voltage and measuring current."""

    def configure_voltage_source(
        self,
        *,
        i_compliance_a: float,
        v_limit_v: float,
        nplc: float = 1.0,
        i_range_a: float | None = None,
    ) -> None:
        """Voltage source at 0 V, current limit, instrument-side voltage protection >= v_limit_v,
        measurement aperture in power-line cycles, current range (None = auto)."""

    def set_voltage(self, v: float) -> None:
        """Set the source level (the output state is unchanged)."""

    def enable(self) -> None:
        """Turn the output on (at the present level)."""

    def measure_current(self) -> float:
        """One current reading at the present level, in amperes."""

    def sweep(self, levels_v: Sequence[float], *, delay_s: float = 0.0) -> np.ndarray:
        """Source each level in turn and measure the current at each; instrument-side list
        sweep with buffered read-back (a few transactions, not one per point). Returns A."""

    def safe_state(self) -> None:
        """Level 0 V, output off."""


@runtime_checkable
class SharedLineSourceMeter(Protocol):
    """Optional SourceMeter capabilities that let the bench share a bit line between the drive
    SMU and a pulse channel (one route for reads and pulses) and read in one message."""

    def release_when_off(self) -> None:
        """Output off, and its off state high impedance: the SMU lets go of its line."""

    def read_at(self, v: float, *, hold: bool = False, gate: GateLevels | None = None) -> float:
        """One current reading at `v` volts in one message, from 0 V and back to 0 V (output
        off afterwards, or on at 0 V with `hold`); raises on a queued instrument error. With
        `gate` (a channel of the same instrument) its levels ride in the same message."""


class GateLevels(NamedTuple):
    """A gate SMU channel on the drive's own instrument, and its levels around a `read_at`:
    `read_v` before the reading, `after_v` after it (what the next pulse needs)."""

    channel: SourceMeter
    read_v: float
    after_v: float


@runtime_checkable
class ScriptRunner(Protocol):
    """Optional: an instrument that runs user scripts (Keithley TSP), on which the bench can
    run loops whose every step depends on a measurement (`reramlab.onboard`)."""

    def load_script(self, name: str, source: str) -> None:
        """Load and run a named user script (its functions become callable)."""

    def call_script(self, expression: str, *, timeout_s: float = 10.0) -> str:
        """Evaluate an expression on the instrument; what it printed (raises on a script error)."""


@runtime_checkable
class PulseChannel(Protocol):
    """One pulse-generator channel."""

    def configure_pulse(
        self,
        *,
        v_high: float,
        width_s: float,
        period_s: float,
        rise_s: float,
        fall_s: float,
        delay_s: float = 0.0,
        v_low: float = 0.0,
    ) -> None:
        """Pulse shape and levels for a high-impedance load (load declared before levels),
        triggered (not free-running) mode."""

    def enable(self) -> None: ...

    def disable(self) -> None: ...


@runtime_checkable
class ExternallyTriggeredChannel(Protocol):
    """Optional PulseChannel capability: fire on the generator's trigger input (a cable from
    another instrument's trigger line) instead of the bus."""

    def enable_external(self) -> None:
        """Output on, armed by the trigger input: one period per pulse there."""


@runtime_checkable
class PulseGenerator(Protocol):
    """A (multi-channel) pulse generator whose enabled channels fire together on a trigger."""

    def channel(self, number: int) -> PulseChannel: ...

    def set_voltage_limits(self, number: int, v_low: float, v_high: float) -> None:
        """Instrument-side clamp of the channel's levels (where the instrument has one)."""

    def fire(self, count: int) -> None:
        """Emit `count` periods on every enabled channel with one bus trigger."""

    def safe_state(self) -> None:
        """All channels: levels 0 V, outputs off."""


@runtime_checkable
class SwitchMatrix(Protocol):
    """A crosspoint matrix: rows are instrument inputs, columns go to the chip."""

    def configure(self) -> None:
        """Safe switching rules (break before make); called once before the first route."""

    def close(self, crosspoints: Iterable[str]) -> None:
        """Close the named crosspoints (instrument's own channel names, e.g. '1A01')."""

    def open_all(self) -> None: ...

    def closed(self) -> set[str]: ...

    def crosspoint(self, row: str, column: int) -> str:
        """Channel name of row letter `row` and 1-based global column `column`."""

    def safe_state(self) -> None:
        """Every crosspoint open."""


@runtime_checkable
class SelectiveSwitchMatrix(Protocol):
    """Optional SwitchMatrix capabilities: open some crosspoints, or close exactly a set (break
    before make) in one command, so that a route change moves only the relays that differ."""

    def open(self, crosspoints: Iterable[str]) -> None:
        """Open the named crosspoints (others stay as they are)."""

    def exclusive_close(self, crosspoints: Iterable[str]) -> None:
        """Close exactly the named crosspoints and open every other one."""


@runtime_checkable
class ArrayPulser(Protocol):
    """A pulse board with one driver per chip line (channels = lines), e.g. an ArC TWO-like
    array board: every line can be driven at once, so a whole parallel update is one shot.

    A fire runs `segments` back to back; a segment is a per-channel level vector and a bit
    pattern per time slot: in slot s channel c sits at `levels_v[c]` (sign = polarity) if
    `patterns[s, c]` is set and at 0 V otherwise, for one pulse of the configured shape."""

    n_channels: int

    def configure_timing(self, *, width_s: float, period_s: float, rise_s: float,
                         fall_s: float) -> None:  # fmt: skip
        """Pulse shape of every slot: flat top, slot period, edges."""

    def set_voltage_limit(self, v_max: float) -> None:
        """Instrument-side clamp: the board refuses any |level| above `v_max`."""

    def fire_segments(self, segments: Sequence[tuple[Sequence[float], np.ndarray]]) -> None:
        """Drive every channel (outputs on, 0 V between pulses), run each segment's slots in
        turn, wait until the last slot ends, and float every channel again."""

    def safe_state(self) -> None:
        """All levels 0 V, every channel floating (outputs off)."""
