"""Simulated Keysight 33600A / 33500B Trueform generators (SCPI, 33500/33600 Series User's Guide).

Two channels; the channel number goes on the root node (``SOUR2:VOLT:HIGH``, ``OUTP1:LOAD``,
``TRIG2:SOUR``). A channel fires on ``*TRG`` (or ``TRIG<n>``) when it is in triggered burst mode
with the bus as trigger source (``BURS:MODE TRIG``, ``BURS:STAT ON``, ``TRIG:SOUR BUS``): a burst
of ``BURS:NCYC`` periods, both channels together, each channel's burst after its own trigger
delay (``TRIG<n>:DEL``, how the manual delays one channel's pulses against the other's). Output on
without that arming free-runs a continuous pulse train into the chip, which the bench records.

Levels are displayed for the declared load (``OUTP:LOAD`` 1 ohm to 10 kohm or INFinity): the
source is 10 V EMF behind 50 ohm, so the level range is +-5 V into 50 ohm and +-10 V into high Z.
State, level checks and the trigger model are shared with the 81160A (``pulse_generator.py``).
"""

from __future__ import annotations

from ..scpi import Call, scpi
from .pulse_generator import HIGH_Z_OHM, PulseChannel, PulseGeneratorSim

MAX_EMF_V = 10.0


class Keysight33600ASim(PulseGeneratorSim):
    idn = "Keysight Technologies,33622A,MY53800123,A.02.03-3.15-2.00-58-00"

    WIDTH_RANGE_S = (5e-9, 1e6)  # 33600A: 5 ns pulses, 2.9 ns edges
    PERIOD_RANGE_S = (10e-9, 1e6)  # 100 MHz pulse
    TRANSITION_RANGE_S = (2.9e-9, 1e-6)
    DELAY_RANGE_S = (0.0, 1000.0)
    LOAD_RANGE_OHM = (1.0, 10e3)
    LIMIT_RANGE_V = (-10.0, 10.0)
    NCYCLES_MAX = 100_000_000
    FUNCTIONS = ("SINusoid", "SQUare", "TRIangle", "RAMP", "PULSe", "PRBS", "NOISe", "ARB", "DC")
    #: *RST: 1 kHz sine, 100 mVpp into 50 ohm; pulse period 1 ms, width 100 us, edges 10 ns
    CHANNEL_DEFAULTS = {"period_s": 1e-3, "width_s": 100e-6, "lead_s": 10e-9, "trail_s": 10e-9}
    HEADERS = {
        "func": ("[:SOURce#]:FUNCtion",),
        "period": ("[:SOURce#]:FUNCtion:PULSe:PERiod",),
        "width": ("[:SOURce#]:FUNCtion:PULSe:WIDTh",),
        "edges": ("[:SOURce#]:FUNCtion:PULSe:TRANsition[:BOTH]",),
        "lead": ("[:SOURce#]:FUNCtion:PULSe:TRANsition:LEADing",),
        "trail": ("[:SOURce#]:FUNCtion:PULSe:TRANsition:TRAiling",),
        "high": ("[:SOURce#]:VOLTage:HIGH",),
        "low": ("[:SOURce#]:VOLTage:LOW",),
        "load": (":OUTPut#:LOAD",),
        "limit_state": ("[:SOURce#]:VOLTage:LIMit:STATe",),
        "limit_high": ("[:SOURce#]:VOLTage:LIMit:HIGH",),
        "limit_low": ("[:SOURce#]:VOLTage:LIMit:LOW",),
        "output": (":OUTPut#[:STATe]",),
        "burst": ("[:SOURce#]:BURSt:STATe",),
        "ncycles": ("[:SOURce#]:BURSt:NCYCles",),
        "delay": (":TRIGger#:DELay",),
        "trigger_now": (":TRIGger#[:IMMediate]",),
    }

    def fmt(self, value: float) -> str:
        return f"{value:+.15E}"

    def level_range_v(self, c: PulseChannel) -> float:
        return MAX_EMF_V / c.emf_factor

    def load_specials(self) -> dict[str, float]:
        return {"INFinity": HIGH_Z_OHM, "MINimum": 1.0, "MAXimum": 10e3, "DEFault": 50.0}

    # -- arming: triggered burst from the bus ------------------------------------------------
    def armed(self, c: PulseChannel) -> bool:
        return c.burst_on and c.burst_mode == "TRIG" and c.trigger_source == "BUS"

    def armed_external(self, c: PulseChannel) -> bool:
        return c.burst_on and c.burst_mode == "TRIG" and c.trigger_source == "EXT"

    def burst_count(self, c: PulseChannel) -> int:
        return c.burst_ncycles

    def free_running(self, c: PulseChannel) -> bool:
        return c.func == "PULS" and not (c.burst_on and c.trigger_source != "IMM")

    @scpi("[:SOURce#]:BURSt:MODE")
    def _burst_mode(self, call: Call) -> None:
        self._chan(call).burst_mode = call.choice(0, ["TRIGgered", "GATed"])

    @scpi("[:SOURce#]:BURSt:MODE?")
    def _burst_mode_q(self, call: Call) -> str:
        return self._chan(call).burst_mode

    @scpi(":TRIGger#:SOURce")
    def _trig_source(self, call: Call) -> None:
        self._chan(call).trigger_source = call.choice(0, ["IMMediate", "EXTernal", "TIMer", "BUS"])

    @scpi(":TRIGger#:SOURce?")
    def _trig_source_q(self, call: Call) -> str:
        return self._chan(call).trigger_source

    @scpi(":SYSTem:ERRor[:NEXT]?")
    def _syst_err(self, call: Call) -> str:
        code, msg = self.errors.pop()
        return f'{code:+d},"{msg}"'


class Keysight33500BSim(Keysight33600ASim):
    """The 33500B: same commands, slower edges (16 ns pulses, 8.4 ns edges, 30 MHz pulse)."""

    idn = "Keysight Technologies,33522B,MY52600123,4.00-1.19-2.00-52-00"
    WIDTH_RANGE_S = (16e-9, 1e6)
    PERIOD_RANGE_S = (33e-9, 1e6)
    TRANSITION_RANGE_S = (8.4e-9, 1e-6)
