"""Keysight B2902A/B precision source/measure unit: two SMU channels, each a SourceMeter.

pymeasure has no B2900 driver (PRs #1254, #1293, #1422 are unmerged), so this is a new one in
pymeasure's declarative style, speaking the B2900 SCPI Command Reference: the channel number goes
on the root node (``:SOUR2:VOLT``, ``:SENS1:CURR:PROT``, ``:OUTP2``, ``:TRIG1:COUN``) or in a
channel list (``:MEAS:CURR? (@1)``, ``:INIT (@2)``, ``:FETC:ARR:CURR? (@1)``).

Sweeps use the instrument's own list mode (``:SOUR:VOLT:MODE LIST`` + ``:SOUR:LIST:VOLT``, one
trigger per point from the automatic internal source, the acquire delay as settling time) and
read the whole result buffer back at once, so a sweep costs a handful of transactions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pymeasure.instruments import Channel, Instrument, SCPIMixin
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from .base import DriverMixin
from .roles import GateLevels
from .smu_channel import SourceMeterChannel, scpi_reading

V_RANGES_V = (0.2, 2.0, 20.0, 200.0)  # each allows 5 % over range
LIST_CHUNK = 100  # list points per command (the rest with :APPend)
LIST_MAX = 100_000  # points per list (and triggers per initiate)
BOOL = {True: 1, False: 0}


def _bool(get: str, set_: str, doc: str) -> property:
    """An on/off control (sent as 1/0)."""
    return Instrument.control(get, set_, doc, validator=strict_discrete_set, values=BOOL,
                              map_values=True, cast=int)  # fmt: skip


class KeysightB2902Channel(SourceMeterChannel, Channel):
    """One B2902 SMU channel (1 or 2), sourcing voltage and measuring current (`SourceMeter`)."""

    V_RANGES_V = V_RANGES_V
    RANGE_HEADROOM = 1.05

    source_function = Channel.control(
        ":SOUR{ch}:FUNC:MODE?", ":SOUR{ch}:FUNC:MODE %s",
        """Control the source function ('VOLT' or 'CURR').""",
        validator=strict_discrete_set, values=["VOLT", "CURR"], cast=str,
    )  # fmt: skip
    source_mode = Channel.control(
        ":SOUR{ch}:VOLT:MODE?", ":SOUR{ch}:VOLT:MODE %s",
        """Control the voltage source mode: fixed level, list sweep or linear sweep
        ('FIX', 'LIST', 'SWE').""",
        validator=strict_discrete_set, values=["FIX", "LIST", "SWE"], cast=str,
    )  # fmt: skip
    source_level_v = Channel.control(
        ":SOUR{ch}:VOLT?", ":SOUR{ch}:VOLT %g",
        """Control the fixed source voltage in V (float, +-210 V).""",
        validator=strict_range, values=[-210.0, 210.0],
    )  # fmt: skip
    source_range_v = Channel.control(
        ":SOUR{ch}:VOLT:RANG?", ":SOUR{ch}:VOLT:RANG %g",
        """Control the fixed voltage source range in V (0.2, 2, 20 or 200; each allows 5 %
        over range). Setting it turns auto range off: the range is a hardware level clamp.""",
        validator=strict_discrete_set, values=V_RANGES_V,
    )  # fmt: skip
    source_range_auto = _bool(
        ":SOUR{ch}:VOLT:RANG:AUTO?",
        ":SOUR{ch}:VOLT:RANG:AUTO %d",
        """Control whether the voltage source range follows the level (bool).""",
    )
    list_points = Channel.measurement(
        ":SOUR{ch}:LIST:VOLT:POIN?", """Get the number of points in the voltage list (int).""",
        cast=int,
    )  # fmt: skip
    sense_function = Channel.control(
        ":SENS{ch}:FUNC?", ':SENS{ch}:FUNC "%s"',
        """Control the measurement function ('CURR', 'VOLT' or 'RES'; the query answers the
        list of functions that are on).""",
        validator=strict_discrete_set, values=["CURR", "VOLT", "RES"], cast=str,
        get_process=lambda v: v.strip('"'),
        get_process_list=lambda v: [x.strip('"') for x in v],
    )  # fmt: skip
    compliance_a = Channel.control(
        ":SENS{ch}:CURR:PROT?", ":SENS{ch}:CURR:PROT %g",
        """Control the current compliance in A (float, 1 nA to 3.03 A; 1.515 A above 6 V,
        0.105 A above 21 V).""",
        validator=strict_range, values=[1e-9, 3.03],
    )  # fmt: skip
    compliance_tripped = Channel.measurement(
        ":SENS{ch}:CURR:PROT:TRIP?",
        """Get whether the channel was in current compliance at the last reading (bool).""",
        values=BOOL, map_values=True, cast=int,
    )  # fmt: skip
    nplc = Channel.control(
        ":SENS{ch}:CURR:NPLC?", ":SENS{ch}:CURR:NPLC %g",
        """Control the current measurement aperture in power-line cycles (float, 4e-4 to 120).""",
        validator=strict_range, values=[4e-4, 120.0],
    )  # fmt: skip
    aperture_s = Channel.control(
        ":SENS{ch}:CURR:APER?", ":SENS{ch}:CURR:APER %g",
        """Control the current measurement aperture in s (float, 8 us to 2 s).""",
        validator=strict_range, values=[8e-6, 2.0],
    )  # fmt: skip
    current_range_a = Channel.control(
        ":SENS{ch}:CURR:RANG?", ":SENS{ch}:CURR:RANG %g",
        """Control the fixed current measurement range in A (float; turns auto range off).""",
        validator=strict_range, values=[1e-7, 3.0],
    )  # fmt: skip
    current_range_auto = _bool(
        ":SENS{ch}:CURR:RANG:AUTO?",
        ":SENS{ch}:CURR:RANG:AUTO %d",
        """Control whether the current measurement range is automatic (bool).""",
    )
    output_enabled = _bool(
        ":OUTP{ch}?",
        ":OUTP{ch} %d",
        """Control whether the output is on (bool).""",
    )
    output_off_mode = Channel.control(
        ":OUTP{ch}:OFF:MODE?", ":OUTP{ch}:OFF:MODE %s",
        """Control the output-off state: 'NORM' (0 V, then relay open), 'HIZ' (relay open) or
        'ZERO' (0 V source stays connected).""",
        validator=strict_discrete_set, values=["NORM", "HIZ", "ZERO"], cast=str,
    )  # fmt: skip
    output_auto_on = _bool(
        ":OUTP{ch}:ON:AUTO?",
        ":OUTP{ch}:ON:AUTO %d",
        """Control whether :INIT and :MEAS turn the output on by themselves (bool; the B2900's
        default is on, the driver turns it off so that only `enable` turns an output on).""",
    )
    output_protection = _bool(
        ":OUTP{ch}:PROT?",
        ":OUTP{ch}:PROT %d",
        """Control whether the output turns off as soon as compliance is reached (bool).""",
    )
    trigger_source = Channel.control(
        ":TRIG{ch}:SOUR?", ":TRIG{ch}:SOUR %s",
        """Control the trigger source of the acquire and transient layers: 'AINT' (automatic
        internal), 'TIM' (timer) or 'BUS' (*TRG).""",
        validator=strict_discrete_set, values=["AINT", "TIM", "BUS"], cast=str,
    )  # fmt: skip
    trigger_timer_s = Channel.control(
        ":TRIG{ch}:TIM?", ":TRIG{ch}:TIM %g",
        """Control the timer trigger period in s (float, 10 us to 100 ks).""",
        validator=strict_range, values=[1e-5, 1e5],
    )  # fmt: skip
    trigger_count = Channel.control(
        ":TRIG{ch}:COUN?", ":TRIG{ch}:COUN %d",
        """Control the number of triggers (points) per initiate (int, 1 to 100000).""",
        validator=strict_range, values=[1, 100_000], cast=int,
    )  # fmt: skip
    acquire_delay_s = Channel.control(
        ":TRIG{ch}:ACQ:DEL?", ":TRIG{ch}:ACQ:DEL %g",
        """Control the delay from a trigger to the start of the measurement in s (float).""",
        validator=strict_range, values=[0.0, 100.0],
    )  # fmt: skip
    current_a = Channel.measurement(
        ":MEAS:CURR? (@{ch})", """Measure one current reading (spot measurement) in A (float).""",
    )  # fmt: skip
    buffer_currents_a = Channel.measurement(
        ":FETC:ARR:CURR? (@{ch})",
        """Get the currents of the last triggered acquisition in A (list of float).""",
    )  # fmt: skip

    # -- SourceMeter (configure, set, enable, measure: SourceMeterChannel) --------------------
    def select_voltage_source(self) -> None:
        """Voltage function, fixed (not list or sweep) mode, no automatic output on."""
        self.source_function = "VOLT"
        self.source_mode = "FIX"
        self.output_auto_on = False

    def select_current_measurement(self) -> None:
        """The B2900 measures what :SENS:FUNC lists: current."""
        self.sense_function = "CURR"

    # -- sharing a line with a pulse channel -------------------------------------------------
    def release_when_off(self) -> None:
        """Output-off state high impedance, output off (``:OUTP<n>:OFF:MODE HIZ;:OUTP<n> 0``,
        with the error query): with the output off the channel opens its output relay and lets
        go of the line, so a pulse channel routed to the same line can drive it. The output is
        turned off in the same message: the line is released from here on."""
        with self.parent.batch(check_errors=True):
            self.output_off_mode = "HIZ"
            self.output_enabled = False

    def read_at(self, v: float, *, hold: bool = False, gate: GateLevels | None = None) -> float:
        """One current reading at `v` volts in one message, from 0 V and back to 0 V: level 0,
        output on, level `v`, spot measurement, level 0, output off (unless `hold`: it stays on
        at 0 V), error query (``:SOUR1:VOLT 0;:OUTP1 1;:SOUR1:VOLT v;:MEAS:CURR? (@1);
        :SOUR1:VOLT 0;:OUTP1 0;:SYST:ERR?``). SCPI executes the units in order, so the output
        turns on at 0 V and goes off at 0 V. `gate`: the other channel's level goes to
        `gate.read_v` first and to `gate.after_v` before the error query (``:SOUR2:VOLT vg;``
        ... ``:SOUR2:VOLT vg_next;``). Returns A; raises `InstrumentError` if the B2902 queued
        an error (the rest of the queue is read out with it), `ValueError` if the reply holds
        no reading or `gate` is not a channel of this B2902."""
        self.own_gate(gate)
        with self.parent.batch():
            if gate is not None:
                gate.channel.source_level_v = gate.read_v
            self.source_level_v = 0.0
            self.output_enabled = True
            self.source_level_v = v
            self.write(":MEAS:CURR? (@{ch})")
            self.source_level_v = 0.0
            if not hold:
                self.output_enabled = False
            if gate is not None:
                gate.channel.source_level_v = gate.after_v
            self.write(":SYST:ERR?")
        return scpi_reading(self.parent, self.parent.read(), v)

    def sweep(self, levels_v: Sequence[float], *, delay_s: float = 0.0) -> np.ndarray:
        """Source each level in turn and return the current at each (A): list mode, one point
        per automatic internal trigger, measured `delay_s` after its step. One message loads
        the list (chunks of 100, the rest appended) and sets up the trigger layer, one runs it
        and waits (``*OPC?``), one reads the buffer back and restores the fixed level."""
        levels = [float(v) for v in levels_v]
        if not levels:
            return np.empty(0)
        if len(levels) > LIST_MAX:
            raise ValueError(f"a list sweep holds at most {LIST_MAX} points, not {len(levels)}")
        with self.parent.batch(check_errors=True):
            self.source_mode = "LIST"
            for k in range(0, len(levels), LIST_CHUNK):
                chunk = ",".join(f"{v:.6g}" for v in levels[k : k + LIST_CHUNK])
                self.write(f":SOUR{{ch}}:LIST:VOLT{':APP' if k else ''} {chunk}")
            self.trigger_source = "AINT"
            self.acquire_delay_s = delay_s
            self.trigger_count = len(levels)
        timeout_s = self.sweep_timeout_s(len(levels), delay_s)
        with self.parent.timeout_at_least(timeout_s), self.parent.batch():
            self.write(":INIT (@{ch})")
            self.ask("*OPC?")
        with self.parent.batch(check_errors=True):
            readings = self.buffer_currents_a
            self.source_mode = "FIX"
        return self.sweep_result(readings, len(levels))

    def safe_state(self) -> None:
        """Abort any sweep, fixed level 0 V, output off (one message; the queue is not checked,
        so that stale errors cannot stop a shutdown)."""
        with self.parent.batch():
            self.write(":ABOR (@{ch})")
            self.source_mode = "FIX"
            self.source_level_v = 0.0
            self.output_enabled = False


class KeysightB2902(DriverMixin, SCPIMixin, Instrument):
    """Keysight B2902A/B two-channel SMU; ``channel(1)`` and ``channel(2)`` are SourceMeters.

    .. code-block:: python

        smu = KeysightB2902("USB0::0x0957::0x8C18::MY51140005::INSTR")
        drive = smu.channel(1)
        drive.configure_voltage_source(i_compliance_a=1e-4, v_limit_v=4.5)
        drive.enable(); drive.set_voltage(0.2); print(drive.measure_current())
        smu.safe_state()
    """

    #: largest |V| a channel sources (200 V range, 5 % over range)
    V_MAX_V = 210.0
    #: largest DC compliance up to 21 V (3.03 A only up to 6 V; 0.105 A up to 210 V)
    I_COMPLIANCE_MAX_A = 1.5

    channels = Instrument.MultiChannelCreator(KeysightB2902Channel, (1, 2), prefix="ch_")

    def __init__(self, adapter, name: str = "Keysight B2902 SMU", **kwargs) -> None:
        super().__init__(adapter, name, **kwargs)

    def channel(self, number: int) -> KeysightB2902Channel:
        """The SMU channel `number` (1 or 2)."""
        try:
            return self.channels[int(number)]
        except (KeyError, ValueError):
            raise ValueError(f"{self.name} has channels 1 and 2, not {number!r}") from None

    def measure_currents(self) -> tuple[float, float]:
        """Measure both channels at once (one spot measurement, one transaction), in A."""
        i1, i2 = self.values(":MEAS:CURR? (@1,2)")
        return float(i1), float(i2)

    def safe_state(self) -> None:
        """Both channels: sweeps aborted, 0 V, output off, in one message."""
        with self.batch():
            for ch in self.channels.values():
                ch.safe_state()
