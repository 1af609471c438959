"""Simulated Keysight 81160A pulse/function generator (SCPI, 81160A Programming Guide).

Two channels; the channel number is the node suffix (``:VOLT1:HIGH``, ``:PULS:WIDT2``,
``:OUTP1``). Pulses fire on ``*TRG``/``:TRIG`` when the arm source is MANual: a burst of
``:TRIG:COUN`` (or ``:BURS:NCYC`` with burst on) periods, both channels together, each channel's
pulse at its own delay; with ``:ARM:SOUR EXTernal`` the same burst fires on a pulse at the
trigger input (a cable from another instrument's trigger line, `SimBench.assert_trigger`). The declared load matters as on the real instrument: levels are set
for ``:OUTP:LOAD`` ohms, so a 50-ohm setting drives about twice the level into a high-impedance
cell. State, level checks and the trigger model are shared with the 33600A
(``pulse_generator.py``); this module binds them to the 81160A's headers.
"""

from __future__ import annotations

from ..scpi import Call, scpi
from .pulse_generator import HIGH_Z_OHM, PulseChannel, PulseGeneratorSim

COUNT_MAX = 2_147_483_647


class Keysight81160ASim(PulseGeneratorSim):
    idn = "Agilent Technologies,81160A,MY12345678,1.1.0.0-2.5"

    WIDTH_RANGE_S = (1.5e-9, 999.5)  # guaranteed range is narrower; 81160A data sheet
    PERIOD_RANGE_S = (3.03e-9, 1e6)
    TRANSITION_RANGE_S = (1.0e-9, 1e3)
    DELAY_RANGE_S = (0.0, 999.0)
    LOAD_RANGE_OHM = (0.3, HIGH_Z_OHM)
    LIMIT_RANGE_V = (-10.0, 10.0)
    NCYCLES_MAX = COUNT_MAX
    FUNCTIONS = ("SINusoid", "SQUare", "RAMP", "PULSe", "NOISe", "DC", "USER")
    HEADERS = {
        "func": ("[:SOURce]:FUNCtion#[:SHAPe]",),
        "period": ("[:SOURce]:PULSe:PERiod#",),
        "width": ("[:SOURce]:PULSe:WIDTh#",),
        "delay": ("[:SOURce]:PULSe:DELay#",),
        # the trailing edge follows the leading edge while :TRA:AUTO is ON (the *RST state)
        "edges": ("[:SOURce]:PULSe:TRANsition#[:LEADing]", "[:SOURce]:FUNCtion#:PULSe:TRANsition"),
        "trail": ("[:SOURce]:PULSe:TRANsition#:TRAiling",),
        "trail_auto": ("[:SOURce]:PULSe:TRANsition#:TRAiling:AUTO",),
        "high": ("[:SOURce]:VOLTage#:HIGH",),
        "low": ("[:SOURce]:VOLTage#:LOW",),
        "load": (":OUTPut#:LOAD[:VALue]", ":OUTPut#:IMPedance:EXTernal"),
        "limit_state": ("[:SOURce]:VOLTage#:LIMit:STATe",),
        "limit_high": ("[:SOURce]:VOLTage#:LIMit[:HIGH]",),
        "limit_low": ("[:SOURce]:VOLTage#:LIMit:LOW",),
        "output": (":OUTPut#[:STATe]",),
        "burst": ("[:SOURce]:BURSt#:STATe",),
        "ncycles": ("[:SOURce]:BURSt#:NCYCles",),
        "trigger_now": (":TRIGger#[:IMMediate]",),
    }

    def reset(self) -> None:
        self.trail_auto = {k: True for k in range(1, self.n_channels + 1)}
        super().reset()

    # -- edges: the trailing edge is coupled to the leading edge unless :TRA:AUTO is OFF ------
    def do_edges(self, call: Call) -> None:
        c = self._chan(call)
        c.lead_s = self._transition(call)
        if self.trail_auto[call.suffix()]:
            c.trail_s = c.lead_s

    def do_trail_auto(self, call: Call) -> None:
        self._chan(call)  # suffix check
        auto = self.trail_auto[call.suffix()] = call.boolean()
        if auto:
            c = self.ch[call.suffix()]
            c.trail_s = c.lead_s

    def get_trail_auto(self, call: Call) -> str:
        self._chan(call)
        return "1" if self.trail_auto[call.suffix()] else "0"

    # -- arming: :ARM:SOUR MANual waits for *TRG; :TRIG:COUN periods (or the burst count) ------
    def armed(self, c: PulseChannel) -> bool:
        return c.arm_source == "MAN"

    def armed_external(self, c: PulseChannel) -> bool:
        return c.arm_source == "EXT"

    def burst_count(self, c: PulseChannel) -> int:
        return c.burst_ncycles if c.burst_on else c.count

    def free_running(self, c: PulseChannel) -> bool:
        return c.arm_source == "IMM" and c.func == "PULS"

    @scpi(":ARM:SOURce#")
    def _arm(self, call: Call) -> None:
        self._chan(call).arm_source = call.choice(
            0, ["IMMediate", "INTernal2", "EXTernal", "MANual", "INT2"]
        )

    @scpi(":ARM:SOURce#?")
    def _arm_q(self, call: Call) -> str:
        return self._chan(call).arm_source

    @scpi(":TRIGger#:COUNt")
    def _count(self, call: Call) -> None:
        self._chan(call).count = int(call.number(0, lo=1, hi=COUNT_MAX))

    @scpi(":TRIGger#:COUNt?")
    def _count_q(self, call: Call) -> str:
        return str(self._chan(call).count)
