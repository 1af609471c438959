"""Keithley 2450 SourceMeter (native SCPI command set), as a `SourceMeter` role.

Extends pymeasure's `Keithley2450` with what a ReRAM bench needs and pymeasure lacks: the
overvoltage protection clamp, the compliance flag, the sense function, list sweeps into
defbuffer1 with buffered read-back, and the role methods. Command forms follow the 2450
Reference Manual (2450-901-01). Related settings travel in one message (see `DriverMixin.batch`).

Note: the role's `measure_current()` replaces pymeasure's `measure_current(nplc, current,
auto_range)` (which configured the sense function); `configure_voltage_source` does that here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pymeasure.adapters import Adapter
from pymeasure.instruments import Instrument
from pymeasure.instruments.keithley import Keithley2450 as _PymeasureKeithley2450
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from .base import DriverMixin, InstrumentError
from .roles import GateLevels
from .smu_channel import scpi_reading

#: :SOUR:VOLT:PROT levels in volts -> token (inf = NONE, the 2450's own 210 V ceiling)
OVP_LEVELS: dict[float, str] = {
    **{float(v): f"PROT{v}" for v in (2, 5, 10, 20, 40, 60, 80, 100, 120, 140, 160, 180)},
    math.inf: "NONE",
}
V_SOURCE_RANGES = (0.02, 0.2, 2.0, 20.0, 200.0)
V_MAX = 210.0
I_LIMIT_RANGE = (1e-9, 1.05)
NPLC_RANGE = (0.01, 10.0)
LIST_CHUNK = 100  # points per :SOUR:LIST:VOLT command (manual: append the rest)
BUFFER = '"defbuffer1"'
SENSE_FUNCTIONS = {"current": "CURR", "voltage": "VOLT", "resistance": "RES"}


def _voltage_list(values: Sequence[float], limits: tuple[int, float]) -> list[float]:
    """Validator of one list chunk: 1..limits[0] finite levels within +-limits[1] V."""
    levels = [float(v) for v in values]
    n_max, v_max = limits
    if not 1 <= len(levels) <= n_max:
        raise ValueError(f"a source list chunk holds 1..{n_max} points, not {len(levels)}")
    if not all(math.isfinite(v) and abs(v) <= v_max for v in levels):
        raise ValueError(f"source list levels must be finite and within +-{v_max} V")
    return levels


def _format_list(levels: Sequence[float]) -> str:
    return ",".join(f"{v:.6g}" for v in levels)


def _smallest_at_least(value: float, choices: Sequence[float], what: str) -> float:
    for choice in sorted(choices):
        if choice >= value:
            return choice
    raise ValueError(f"{what} {value} exceeds the largest setting {max(choices)}")


class Keithley2450(DriverMixin, _PymeasureKeithley2450):
    """Keithley 2450 SourceMeter sourcing voltage and measuring current (`SourceMeter` role).

    .. code-block:: python

        smu = Keithley2450("GPIB0::24::INSTR")
        smu.configure_voltage_source(i_compliance_a=100e-6, v_limit_v=2.0, nplc=1)
        smu.enable()
        smu.set_voltage(0.2)
        i = smu.measure_current()
        currents = smu.sweep(np.linspace(0, 1.5, 151), delay_s=1e-3)
        smu.safe_state()
    """

    #: largest |V| the 2450 sources (200 V range, 5 % over range); read by the station loader
    V_MAX_V = V_MAX
    #: largest current limit (1 A range, 5 % over range)
    I_COMPLIANCE_MAX_A = I_LIMIT_RANGE[1]
    #: NPLC last configured; sizes the timeout of a list sweep (worst case until configured)
    _nplc: float = NPLC_RANGE[1]

    def __init__(
        self, adapter: Adapter | str | int, name: str = "Keithley 2450 SourceMeter", **kwargs
    ) -> None:
        super().__init__(adapter, name, **kwargs)

    # -- what pymeasure lacks ----------------------------------------------------------------
    voltage_protection = Instrument.control(
        ":SOUR:VOLT:PROT?",
        ":SOUR:VOLT:PROT %s",
        """Control the overvoltage protection level in V (float: 2, 5, 10, 20, 40, 60, 80, 100,
        120, 140, 160 or 180; math.inf = NONE). The source refuses levels beyond it.""",
        validator=strict_discrete_set,
        values=OVP_LEVELS,
        map_values=True,
        cast=str,
    )

    compliance_tripped = Instrument.measurement(
        ":SOUR:VOLT:ILIM:TRIP?",
        """Get whether the voltage source is clamped at its current limit (bool).""",
        cast=bool,
    )

    #: `:OUTP:VOLT:SMOD` (HIMP, NORM, ZERO, GUAR); pymeasure calls it voltage_output_off_state
    output_off_mode = _PymeasureKeithley2450.voltage_output_off_state

    sense_function = Instrument.control(
        ":SENS:FUNC?",
        ':SENS:FUNC "%s"',
        """Control the measure function (str: 'current', 'voltage' or 'resistance').""",
        validator=strict_discrete_set,
        values=SENSE_FUNCTIONS,
        map_values=True,
        cast=str,
        get_process=lambda v: v.strip('"').split(":")[0],
    )

    current_nplc = Instrument.control(
        ":SENS:CURR:NPLC?",
        ":SENS:CURR:NPLC %g",
        """Control the current measurement aperture in power-line cycles (float, 0.01 to 10).""",
        validator=strict_range,
        values=NPLC_RANGE,
    )

    current_range_auto = Instrument.control(
        ":SENS:CURR:RANG:AUTO?",
        ":SENS:CURR:RANG:AUTO %d",
        """Control whether the current measure range is chosen automatically (bool).""",
        validator=strict_discrete_set,
        values={True: 1, False: 0},
        map_values=True,
    )

    source_list_voltage = Instrument.control(
        ":SOUR:LIST:VOLT?",
        ":SOUR:LIST:VOLT %s",
        """Control the voltage source list in V (list of float; at most 100 points per set,
        append the rest with `source_list_voltage_append`).""",
        validator=_voltage_list,
        values=(LIST_CHUNK, V_MAX),
        set_process=_format_list,
        get_process=lambda v: [v],
    )

    source_list_voltage_append = Instrument.setting(
        ":SOUR:LIST:VOLT:APP %s",
        """Set more points (list of float, V, at most 100) at the end of the voltage list.""",
        validator=_voltage_list,
        values=(LIST_CHUNK, V_MAX),
        set_process=_format_list,
    )

    list_sweep = Instrument.setting(
        f":SOUR:SWE:VOLT:LIST 1, %g, 1, OFF, {BUFFER}",
        """Set up a sweep through the whole voltage list with this source delay in s (float),
        one pass, no abort on the limit, readings into defbuffer1.""",
        validator=strict_range,
        values=(0.0, 10_000.0),
    )

    buffer_count = Instrument.measurement(
        f":TRAC:ACT? {BUFFER}",
        """Get the number of readings stored in defbuffer1 (int).""",
        cast=int,
    )

    def clear_buffer(self) -> None:
        """Clear the readings of the active buffer (defbuffer1)."""
        self.write(":TRAC:CLE")

    def buffer_readings(self, count: int) -> np.ndarray:
        """The first `count` readings of defbuffer1 (float array; A when measuring current)."""
        if count <= 0:
            return np.empty(0)
        return np.array(self.values(f":TRAC:DATA? 1, {int(count)}, {BUFFER}, READ"), dtype=float)

    # -- SourceMeter role --------------------------------------------------------------------
    def configure_voltage_source(
        self,
        *,
        i_compliance_a: float,
        v_limit_v: float,
        nplc: float = 1.0,
        i_range_a: float | None = None,
    ) -> None:
        """Voltage source at 0 V with a current limit, overvoltage protection at the smallest
        level >= `v_limit_v`, the smallest source range covering it, and current measurement
        (aperture `nplc`, range `i_range_a` or auto). The output state is unchanged."""
        if not I_LIMIT_RANGE[0] <= i_compliance_a <= I_LIMIT_RANGE[1]:
            raise ValueError(f"i_compliance_a {i_compliance_a} A outside {I_LIMIT_RANGE} A")
        if not 0 < v_limit_v <= V_MAX:
            raise ValueError(f"v_limit_v {v_limit_v} V outside (0, {V_MAX}] V")
        if i_range_a is not None and not 0 < i_range_a <= I_LIMIT_RANGE[1]:
            raise ValueError(f"i_range_a {i_range_a} A outside (0, {I_LIMIT_RANGE[1]}] A")
        with self.batch(check_errors=True):
            self.source_mode = "voltage"
            self.source_voltage = 0.0
            self.voltage_protection = _smallest_at_least(v_limit_v, OVP_LEVELS, "v_limit_v")
            self.source_voltage_range = _smallest_at_least(v_limit_v, V_SOURCE_RANGES, "v_limit_v")
            self.compliance_current = i_compliance_a
            self.sense_function = "current"
            self.current_nplc = nplc
            if i_range_a is None:
                self.current_range_auto = True
            else:
                self.current_range = i_range_a
        self._nplc = nplc

    def set_voltage(self, v: float) -> None:
        """Set the source level in V (output state unchanged); raises if the 2450 refuses it."""
        with self.batch(check_errors=True):
            self.source_voltage = v

    def enable(self) -> None:
        """Turn the output on at the present level."""
        with self.batch(check_errors=True):
            self.enable_source()

    def measure_current(self) -> float:
        """One current reading in A at the present level (`:READ?`; the sense function was
        set to current by `configure_voltage_source`)."""
        return float(self.current)

    # -- sharing a line with a pulse channel -------------------------------------------------
    def release_when_off(self) -> None:
        """Output-off mode high impedance (`:OUTP:VOLT:SMOD HIMP`), output off: with the output off the 2450
        opens its output relay and lets go of the line, so a pulse channel routed to the same
        line can drive it (2450 Reference Manual, "Output-off state"). The output is turned
        off in the same message: the line is released from here on."""
        with self.batch(check_errors=True):
            self.output_off_mode = "HIMP"
            self.disable_source()

    def disable(self) -> None:
        """Turn the output off (what the line then sees follows `output_off_mode`)."""
        with self.batch(check_errors=True):
            self.disable_source()

    def read_at(self, v: float, *, hold: bool = False, gate: GateLevels | None = None) -> float:
        """One current reading at `v` volts in one message, from 0 V and back to 0 V: level 0,
        output on, level `v`, `:READ?`, level 0, output off (unless `hold`: it stays on at
        0 V), error query (`:SOUR:VOLT:LEV 0;:OUTP ON;:SOUR:VOLT:LEV v;:READ?;
        :SOUR:VOLT:LEV 0;:OUTP OFF;:SYST:ERR?`). SCPI executes the units in order, so the
        output turns on at 0 V and goes off at 0 V. Returns A; raises `InstrumentError` if the
        2450 queued an error (the rest of the queue is read out with it). `gate` must be None:
        a 2450 has one channel, so no gate shares its message."""
        if gate is not None:
            raise ValueError(f"{self.name} has one channel: gate {gate.channel!r} is another SMU")
        with self.batch():
            self.source_voltage = 0.0
            self.enable_source()
            self.source_voltage = v
            self.write(":READ?")
            self.source_voltage = 0.0
            if not hold:
                self.disable_source()
            self.write(":SYST:ERR?")
        return scpi_reading(self, self.read(), v)

    def sweep(self, levels_v: Sequence[float], *, delay_s: float = 0.0) -> np.ndarray:
        """Source each level in turn and return the current at each (A): the list goes up in
        chunks of 100, then one message sets up, runs and counts the sweep, one reads it back."""
        levels = [float(v) for v in levels_v]
        if not levels:
            return np.empty(0)
        chunks = [levels[k : k + LIST_CHUNK] for k in range(0, len(levels), LIST_CHUNK)]
        self.source_list_voltage = chunks[0]
        for chunk in chunks[1:]:
            self.source_list_voltage_append = chunk
        duration_s = len(levels) * (delay_s + self._nplc / 50.0 + 0.01)
        with self.timeout_at_least(2 * duration_s + 5.0), self.batch():
            self.list_sweep = delay_s
            self.clear_buffer()
            self.start_buffer()  # :INIT
            self.write("*WAI")
            count = self.buffer_count  # answered when the sweep is done
        readings = self.buffer_readings(count)
        self.check_errors()
        if count != len(levels):
            raise InstrumentError(self.name, [], f"sweep stored {count} of {len(levels)} readings")
        return readings

    def safe_state(self) -> None:
        """Abort any sweep, level 0 V, output off (one message; the queue is not checked, so
        that stale errors cannot stop a shutdown)."""
        with self.batch():
            self.stop_buffer()  # :ABOR
            self.source_voltage = 0.0
            self.disable_source()
