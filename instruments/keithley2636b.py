"""Keithley 2636B System SourceMeter: two SMU channels (``smua``, ``smub``), each a SourceMeter.

Written new in pymeasure's declarative style rather than on pymeasure's ``Keithley2600``: that
driver's channel is a plain helper class (not a pymeasure ``Channel``: no ``ChannelCreator``, no
dynamic properties), its validators silently clamp values (``truncated_range``: a 300 V request
becomes 200 V instead of an error), it is an ``SCPIUnknownMixin`` (a FutureWarning per instance),
its ``measure_current()`` configures rather than measures (and sends a stray ``measure.i()``),
its ramps sleep on the host, and it has no trigger model, buffers or sweeps (pymeasure#1280).
Subclassing it would mean overriding all of it.

The 2636B speaks TSP (Lua): attributes are set by assignment (``smua.source.levelv = 0.5``) and
read by printing them (``print(smua.source.levelv)``). Sweeps run on the instrument's trigger
model inside one ``loadandrunscript ... endscript`` block (source list, measure each point into
``nvbuffer1``) and the buffer is read back with one ``printbuffer``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from pymeasure.instruments import Channel, Instrument, SCPIMixin
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from .base import DriverMixin, InstrumentError
from .roles import GateLevels
from .smu_channel import SourceMeterChannel, raise_queued

V_RANGES_V = (0.2, 2.0, 20.0, 200.0)  # each allows 1 % over range
V_LEVEL_RANGE = [-202.0, 202.0]
BOOL = {True: 1, False: 0}
#: what `call_script` prints before a Lua error message
SCRIPT_ERROR = "reramlab-script-error: "
ALIASES = {"a": "a", "b": "b", 1: "a", 2: "b", "1": "a", "2": "b", "smua": "a", "smub": "b"}


def _attr(attr: str, doc: str, **kwargs: Any) -> property:
    """A control for the TSP attribute ``smuX.<attr>`` (set by assignment, read by print)."""
    fmt = kwargs.pop("fmt", "%g")
    return Instrument.control(
        f"print(smu{{ch}}.{attr})", f"smu{{ch}}.{attr} = {fmt}", doc, **kwargs
    )


def _flag(attr: str, doc: str) -> property:
    """An on/off TSP attribute (sent as 1/0)."""
    return _attr(attr, doc, fmt="%d", validator=strict_discrete_set, values=BOOL, map_values=True)


class Keithley2636BChannel(SourceMeterChannel, Channel):
    """One 2636B SMU (``smua`` or ``smub``), sourcing voltage and measuring current
    (`SourceMeter`)."""

    V_RANGES_V = V_RANGES_V
    RANGE_HEADROOM = 1.01

    source_function = _attr(
        "source.func", """Control the source function ('VOLT' or 'CURR').""", fmt="%d",
        validator=strict_discrete_set, values={"CURR": 0, "VOLT": 1}, map_values=True,
    )  # fmt: skip
    source_level_v = _attr(
        "source.levelv", """Control the source voltage in V (float, +-202 V).""",
        validator=strict_range, values=V_LEVEL_RANGE,
    )  # fmt: skip
    source_range_v = _attr(
        "source.rangev",
        """Control the voltage source range in V (0.2, 2, 20 or 200; each allows 1 % over
        range). Setting it turns auto range off: the range is a hardware level clamp.""",
        validator=strict_discrete_set, values=V_RANGES_V,
    )  # fmt: skip
    source_range_auto = _flag(
        "source.autorangev",
        """Control whether the voltage source range follows the level (bool).""",
    )
    source_delay_s = _attr(
        "source.delay",
        """Control the extra settling time after each source step in s (float; 0 = off).""",
        validator=strict_range, values=[0.0, 100.0],
    )  # fmt: skip
    compliance_a = _attr(
        "source.limiti",
        """Control the current compliance in A (float, up to 1.515 A; 0.1 A above 20 V).""",
        validator=strict_range, values=[1e-11, 1.515],
    )  # fmt: skip
    compliance_tripped = Channel.measurement(
        "print(smu{ch}.source.compliance)",
        """Get whether the SMU was in current compliance at the last reading (bool).""",
        values={True: "true", False: "false"}, map_values=True, cast=str,
    )  # fmt: skip
    nplc = _attr(
        "measure.nplc", """Control the measurement aperture in power-line cycles (float, 0.001 to 25).""",
        validator=strict_range, values=[0.001, 25.0],
    )  # fmt: skip
    current_range_a = _attr(
        "measure.rangei", """Control the fixed current measurement range in A (float; turns auto
        range off).""",
        validator=strict_range, values=[1e-10, 1.5],
    )  # fmt: skip
    current_range_auto = _flag(
        "measure.autorangei",
        """Control whether the current measurement range is automatic (bool).""",
    )
    output_enabled = _flag("source.output", """Control whether the output is on (bool).""")
    output_off_mode = _attr(
        "source.offmode",
        """Control the output-off state: 'NORMAL' (0 V source, small current limit), 'ZERO'
        (0 V source) or 'HIGH_Z' (output relay open).""", fmt="%d",
        validator=strict_discrete_set, values={"NORMAL": 0, "ZERO": 1, "HIGH_Z": 2}, map_values=True,
    )  # fmt: skip
    current_a = Channel.measurement(
        "print(smu{ch}.measure.i())", """Measure one current reading in A (float)."""
    )
    buffer_count = Channel.measurement(
        "print(smu{ch}.nvbuffer1.n)", """Get the number of readings in nvbuffer1 (int).""", cast=int
    )

    def reset(self) -> None:
        """Reset this SMU to its defaults (output off)."""
        self.write("smu{ch}.reset()")

    # -- sharing a line with a pulse channel -------------------------------------------------
    def release_when_off(self) -> None:
        """Output-off mode high impedance, output off (``smuX.source.offmode = 2`` i.e.
        ``smuX.OUTPUT_HIGH_Z``, ``smuX.source.output = 0``, then the error check): with the
        output off the SMU opens its output relay and lets go of the line, so a pulse channel
        routed to the same line can drive it. The output is turned off in the same chunk: the
        line is released from here on."""
        with self.parent.batch(check_errors=True):
            self.output_off_mode = "HIGH_Z"
            self.output_enabled = False

    def read_at(self, v: float, *, hold: bool = False, gate: GateLevels | None = None) -> float:
        """One current reading at `v` volts in one chunk, from 0 V and back to 0 V: level 0,
        output on, level `v`, ``measure.i()``, level 0, output off (unless `hold`: it stays on
        at 0 V), the error count, printed with the reading::

            local ok, i = pcall(function() smua.source.levelv = 0 smua.source.output = 1
            smua.source.levelv = 0.2 return smua.measure.i() end) smua.source.levelv = 0
            smua.source.output = 0 print(ok, i, errorqueue.count)

        A Lua chunk stops at its first error, so the source-and-measure part runs under
        ``pcall``: whatever fails, the level goes back to 0 V, the output off, and a reply
        comes. `gate` (the other SMU): its level goes to `gate.read_v` inside the ``pcall``
        before the drive's level 0, and to `gate.after_v` after the drive's output off. Returns
        A; raises `InstrumentError` if the 2636B queued an error (the queue is read out) or the
        chunk failed, `ValueError` if the reply holds no reading or `gate` is not an SMU of
        this 2636B."""
        level = strict_range(v, V_LEVEL_RANGE)
        smu = self.insert_id("smu{ch}")
        off = "" if hold else f" {smu}.source.output = 0"
        before = after = ""
        if self.own_gate(gate) is not None:
            g = gate.channel.insert_id("smu{ch}")
            before = f"{g}.source.levelv = {strict_range(gate.read_v, V_LEVEL_RANGE):g} "
            after = f" {g}.source.levelv = {strict_range(gate.after_v, V_LEVEL_RANGE):g}"
        chunk = (
            f"local ok, i = pcall(function() {before}{smu}.source.levelv = 0 "
            f"{smu}.source.output = 1 {smu}.source.levelv = {level:g} return {smu}.measure.i() "
            f"end) {smu}.source.levelv = 0{off}{after} print(ok, i, errorqueue.count)"
        )
        reply = str(self.parent.ask(chunk)).strip()
        ok, _, rest = reply.partition("\t")
        value, _, count = rest.rpartition("\t")
        if ok not in ("true", "false"):
            raise ValueError(f"{self.parent.name}: reply {reply!r} holds no reading")
        detail = f"reading at {v:g} V failed" + (f": {value}" if ok == "false" else "")
        if int(float(count)):
            raise_queued(self.parent, [], detail)
        if ok == "false":  # a Lua error that queued nothing
            raise InstrumentError(self.parent.name, [], detail)
        return float(value)

    # -- SourceMeter (configure, set, enable, measure: SourceMeterChannel) --------------------
    def sweep(self, levels_v: Sequence[float], *, delay_s: float = 0.0) -> np.ndarray:
        """Source each level in turn and return the current at each (A): the trigger model
        runs the list as one script (source a level, wait `delay_s`, measure into nvbuffer1,
        back to the idle level at the end), then one ``printbuffer`` and the error check."""
        levels = [float(v) for v in levels_v]
        if not levels:
            return np.empty(0)
        strict_range(delay_s, [0.0, 100.0])
        listv = ", ".join(f"{v:.6g}" for v in levels)
        script = [
            "loadandrunscript",
            "format.data = format.ASCII",
            "smu{ch}.nvbuffer1.clear()",
            f"smu{{ch}}.trigger.source.listv({{{{{listv}}}}})",
            "smu{ch}.trigger.source.action = smu{ch}.ENABLE",
            "smu{ch}.trigger.measure.action = smu{ch}.ENABLE",
            "smu{ch}.trigger.measure.i(smu{ch}.nvbuffer1)",
            "smu{ch}.trigger.endsweep.action = smu{ch}.SOURCE_IDLE",
            f"smu{{ch}}.source.delay = {delay_s:g}",
            f"smu{{ch}}.trigger.count = {len(levels)}",
            "smu{ch}.trigger.arm.count = 1",
            "smu{ch}.trigger.initiate()",
            "waitcomplete()",
            "smu{ch}.source.delay = 0",
            "endscript",
        ]
        self.write("\n".join(script))
        with self.parent.timeout_at_least(self.sweep_timeout_s(len(levels), delay_s)):
            readings = self.values(f"printbuffer(1, {len(levels)}, smu{{ch}}.nvbuffer1.readings)")
        self.parent.check_errors()
        return self.sweep_result(readings, len(levels))

    def safe_state(self) -> None:
        """Level 0 V, output off (one chunk; the queue is not checked, so that stale errors
        cannot stop a shutdown)."""
        with self.parent.batch():
            self.source_level_v = 0.0
            self.output_enabled = False


class Keithley2636B(DriverMixin, SCPIMixin, Instrument):
    """Keithley 2636B; ``channel("a")``/``channel("b")`` (or 1/2) are SourceMeters.

    .. code-block:: python

        smu = Keithley2636B("GPIB0::26::INSTR")
        drive = smu.channel("a")
        drive.configure_voltage_source(i_compliance_a=1e-4, v_limit_v=4.5)
        drive.enable(); drive.set_voltage(0.2); print(drive.measure_current())
        smu.safe_state()
    """

    #: TSP: statements join with ";" without SCPI's root colon; a query never rides on a chunk
    scpi_chaining = False
    chain_queries = False
    #: a checked batch ends its chunk with the error count: one message, one reply
    error_count_query = "print(errorqueue.count)"

    #: largest |V| a channel sources (200 V range)
    V_MAX_V = 200.0
    #: largest DC compliance up to 20 V (0.1 A on the 200 V range; 10 A only pulsed)
    I_COMPLIANCE_MAX_A = 1.5

    smua = Instrument.ChannelCreator(Keithley2636BChannel, "a")
    smub = Instrument.ChannelCreator(Keithley2636BChannel, "b")

    next_error = Instrument.measurement(
        "print(errorqueue.next())",
        """Get the next error as (code, message); code 0 when the queue is empty.""",
        separator="\t", get_process_list=lambda v: (int(float(v[0])), str(v[1]).strip()),
    )  # fmt: skip
    error_count = Instrument.measurement(
        "print(errorqueue.count)", """Get the number of errors in the queue (int).""",
        get_process=lambda v: int(float(v)),
    )  # fmt: skip
    model = Instrument.measurement(
        "print(localnode.model)", """Get the model number (str).""", cast=str
    )

    def __init__(self, adapter, name: str = "Keithley 2636B SourceMeter", **kwargs) -> None:
        super().__init__(adapter, name, **kwargs)

    def channel(self, which: str | int) -> Keithley2636BChannel:
        """The SMU 'a' or 'b' (1 and 2, 'smua' and 'smub' are aliases)."""
        key = ALIASES.get(which.lower() if isinstance(which, str) else which)
        if key is None:
            raise ValueError(f"{self.name} has channels 'a' and 'b' (or 1, 2), not {which!r}")
        return self.smua if key == "a" else self.smub

    # -- user scripts ------------------------------------------------------------------------
    def load_script(self, name: str, source: str) -> None:
        """Load `source` (Lua) as the user script `name` (``loadscript`` ... ``endscript``) and
        run it once (``name.run()``), so that the functions it defines exist; raises
        `InstrumentError` on a compile or run error."""
        if not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise ValueError(f"script name {name!r}: letters, digits and '_' only")
        self.write(f"loadscript {name}\n{source.strip()}\nendscript")
        self.write(f"{name}.run()")
        self.check_errors()

    def call_script(self, expression: str, *, timeout_s: float = 10.0) -> str:
        """Evaluate `expression` (typically a call of a function a loaded script defined) on
        the instrument and return what it evaluates to, printed. It runs under ``pcall``, so a
        Lua error inside comes back as text (always a reply, never a timeout) and raises
        `InstrumentError` with that message and whatever the error queue holds."""
        chunk = (
            f"reramlab_ok, reramlab_out = pcall(function() return {expression} end) "
            f"if reramlab_ok then print(reramlab_out) "
            f"else print('{SCRIPT_ERROR}' .. tostring(reramlab_out)) end"
        )
        with self.timeout_at_least(timeout_s):
            reply = str(self.ask(chunk)).strip()
        if reply.startswith(SCRIPT_ERROR):
            raise_queued(self, [], f"script error: {reply[len(SCRIPT_ERROR) :]}")
        return reply

    def safe_state(self) -> None:
        """Both SMUs: 0 V, output off, in one chunk."""
        with self.batch():
            self.smua.safe_state()
            self.smub.safe_state()
