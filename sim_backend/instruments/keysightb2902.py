"""Simulated Keysight B2902A/B two-channel SMU (SCPI, B2900 SCPI Command Reference).

The channel number is the root suffix (``:SOUR2:VOLT``, ``:SENS1:CURR:PROT``, ``:OUTP2``,
``:TRIG1:COUN``) or a channel list on the commands that act on several channels at once
(``:INIT (@1,2)``, ``:MEAS:CURR? (@1)``, ``:FETC:ARR:CURR? (@2)``, ``(@1:2)``). Implemented: voltage
source (fixed, list and linear sweep modes, ranges), current compliance with its trip flag and
``:OUTP:PROT`` (output off at compliance), measurement aperture/NPLC and ranges, output-off modes,
the trigger layer (AINT, TIMer or BUS source, timer period, count, acquire/transient delays),
spot measurements and the per-channel result buffer read back with ``:FETC:ARR?``. Each reading
dwells the acquire delay and the aperture on the chip, so the simulated clock advances as on the
bench. ``:SYST:ERR?`` answers in the B2900 format (``+0,"No error"``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..instrument import ScpiInstrument
from ..scpi import (
    DATA_OUT_OF_RANGE,
    ILLEGAL_PARAMETER_VALUE,
    MISSING_PARAMETER,
    SETTINGS_CONFLICT,
    Call,
    ScpiError,
    fmt_nr3,
    scpi,
)

V_MAX = 210.0
I_MAX = 3.03  # DC, at |V| <= 6 V; 1.515 A up to 21 V, 0.105 A up to 210 V
V_RANGES = (0.2, 2.0, 20.0, 200.0)
I_RANGES = (100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0, 1.5, 3.0)
LIST_MAX = 100_000  # points per channel list (B2900A firmware >= 3 and B2900B)
COUNT_MAX = 100_000
TIMER_RANGE_S = (1e-5, 1e5)
APERTURE_RANGE_S = (8e-6, 2.0)
NPLC_RANGE = (4e-4, 120.0)
SETTLE_S = 1e-3  # automatic source-to-measure wait on the low current ranges (order of)
ELEMENTS = ("VOLTage", "CURRent", "RESistance", "TIME", "STATus", "SOURce")
STATUS_COMPLIANCE = 8  # status word bit: the channel was in compliance
INF = 9.91e37  # the B2900's "not a number" (resistance at zero current)
SUFFIX_OUT_OF_RANGE = (-114, "Header suffix out of range")
DATA_STALE = (-230, "Data corrupt or stale")


@dataclass
class Reading:
    source_v: float
    voltage_v: float
    current_a: float
    t_s: float
    status: int


@dataclass
class SmuChannel:
    """One channel's settings (*RST values) and its result buffer."""

    output: bool = False
    off_mode: str = "NORM"
    protection: bool = False
    auto_on: bool = True
    v_mode: str = "FIX"
    v_level: float = 0.0
    v_now: float = 0.0  # the level the source is at (fixed level or the last sweep point)
    v_range: float = 2.0
    v_range_auto: bool = True
    v_list: list[float] = field(default_factory=list)
    v_start: float = 0.0
    v_stop: float = 0.0
    sweep_points: int = 1
    sense: list[str] = field(default_factory=lambda: ["VOLT", "CURR"])
    i_limit_a: float = 100e-6
    tripped: bool = False
    i_range: float = 100e-6
    i_range_auto: bool = True
    aperture_s: float = 0.1 / 60
    aperture_auto: bool = True
    trig_source: str = "AINT"
    timer_s: float = 1e-5
    count: int = 1
    acq_delay_s: float = 0.0
    tran_delay_s: float = 0.0
    buffer: list[Reading] = field(default_factory=list)
    #: levels still to source, one per bus trigger (after :INIT with TRIG:SOUR BUS)
    pending: deque[float] = field(default_factory=deque)

    def sweep_levels(self) -> list[float]:
        if self.v_mode == "LIST":
            return list(self.v_list) or [self.v_level]
        if self.v_mode == "SWE":
            return list(np.linspace(self.v_start, self.v_stop, self.sweep_points))
        return [self.v_level]


class KeysightB2902Sim(ScpiInstrument):
    idn = "Keysight Technologies,B2902A,MY51140005,3.4.2011.5100"
    n_channels = 2

    def reset(self) -> None:
        super().reset()
        self.line_frequency_hz = float(self.options.get("line_frequency_hz", 60.0))
        self.ch = {k: SmuChannel(aperture_s=0.1 / self.line_frequency_hz)
                   for k in range(1, self.n_channels + 1)}  # fmt: skip
        self.elements = ["VOLT", "CURR", "RES", "TIME", "STAT", "SOUR"]
        self.t0 = self.bench.clock.now_s
        for k in self.ch:
            self._apply(k)

    def terminal(self, k: int) -> str:
        return f"{self.name}.{k}"

    def _chan(self, call: Call) -> tuple[int, SmuChannel]:
        k = call.suffix(0)
        if k not in self.ch:
            raise ScpiError(SUFFIX_OUT_OF_RANGE, call.header)
        return k, self.ch[k]

    def _channel_list(self, call: Call, i: int = 0) -> list[int]:
        """'(@1)', '(@1,2)', '(@1:2)' -> [1], [1, 2], [1, 2]; no list means channel 1."""
        if i >= len(call.args):
            return [1]
        text = call.args[i].strip().replace(" ", "")
        if not (text.startswith("(@") and text.endswith(")")):
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"{call.header} {text}: expected (@n)")
        out: list[int] = []
        try:
            for item in text[2:-1].split(","):
                a, _, b = item.partition(":")
                out.extend(range(int(a), int(b or a) + 1))
        except ValueError:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"{call.header} {text}") from None
        if not out or any(k not in self.ch for k in out):
            raise ScpiError(
                DATA_OUT_OF_RANGE, f"{call.header} {text}: channels are 1..{self.n_channels}"
            )
        return out

    def _apply(self, k: int) -> None:
        c = self.ch[k]
        if c.output:
            self.bench.set_level(self.terminal(k), c.v_now)
        else:
            self.bench.set_level(self.terminal(k), 0.0 if c.off_mode == "ZERO" else None)

    def _set_level(self, k: int, v: float) -> None:
        self.ch[k].v_now = v
        self._apply(k)

    def _check_v(self, c: SmuChannel, v: float) -> None:
        if not c.v_range_auto and abs(v) > c.v_range * 1.05:
            raise ScpiError(DATA_OUT_OF_RANGE, f"{v} V beyond the {c.v_range} V range")

    # -- output ------------------------------------------------------------------------------
    @scpi(":OUTPut#[:STATe]")
    def _outp(self, call: Call) -> None:
        k, c = self._chan(call)
        c.output = call.boolean()
        if c.output:
            c.tripped = False
        self._apply(k)

    @scpi(":OUTPut#[:STATe]?")
    def _outp_q(self, call: Call) -> str:
        return "1" if self._chan(call)[1].output else "0"

    @scpi(":OUTPut#:OFF:MODE")
    def _off_mode(self, call: Call) -> None:
        k, c = self._chan(call)
        c.off_mode = call.choice(0, ["ZERO", "HIZ", "NORMal"])
        self._apply(k)

    @scpi(":OUTPut#:OFF:MODE?")
    def _off_mode_q(self, call: Call) -> str:
        return self._chan(call)[1].off_mode

    @scpi(":OUTPut#:PROTection[:STATe]")
    def _prot(self, call: Call) -> None:
        self._chan(call)[1].protection = call.boolean()

    @scpi(":OUTPut#:PROTection[:STATe]?")
    def _prot_q(self, call: Call) -> str:
        return "1" if self._chan(call)[1].protection else "0"

    @scpi(":OUTPut#:ON:AUTO[:STATe]")
    def _auto_on(self, call: Call) -> None:
        self._chan(call)[1].auto_on = call.boolean()

    @scpi(":OUTPut#:ON:AUTO[:STATe]?")
    def _auto_on_q(self, call: Call) -> str:
        return "1" if self._chan(call)[1].auto_on else "0"

    # -- source ------------------------------------------------------------------------------
    @scpi("[:SOURce#]:FUNCtion:MODE")
    def _func(self, call: Call) -> None:
        if call.choice(0, ["VOLTage", "CURRent"]) == "CURR":
            raise ScpiError(SETTINGS_CONFLICT, "current sourcing is not simulated")

    @scpi("[:SOURce#]:FUNCtion:MODE?")
    def _func_q(self, call: Call) -> str:
        return "VOLT"

    @scpi("[:SOURce#]:VOLTage[:LEVel][:IMMediate][:AMPLitude]")
    def _volt(self, call: Call) -> None:
        k, c = self._chan(call)
        v = call.number(0, lo=-V_MAX, hi=V_MAX, unit="V")
        self._check_v(c, v)
        c.v_level = v
        self._set_level(k, v)

    @scpi("[:SOURce#]:VOLTage[:LEVel][:IMMediate][:AMPLitude]?")
    def _volt_q(self, call: Call) -> str:
        return fmt_nr3(self._chan(call)[1].v_level)

    @scpi("[:SOURce#]:VOLTage:MODE")
    def _vmode(self, call: Call) -> None:
        k, c = self._chan(call)
        c.v_mode = call.choice(0, ["FIXed", "LIST", "SWEep"])
        if c.v_mode == "FIX":
            self._set_level(k, c.v_level)

    @scpi("[:SOURce#]:VOLTage:MODE?")
    def _vmode_q(self, call: Call) -> str:
        return self._chan(call)[1].v_mode

    @scpi("[:SOURce#]:VOLTage:RANGe[:UPPer]")
    def _vrange(self, call: Call) -> None:
        c = self._chan(call)[1]
        v = call.number(
            0, lo=-V_MAX, hi=V_MAX, unit="V", special={"MINimum": 0.2, "MAXimum": 200.0}
        )
        c.v_range = next(r for r in V_RANGES if abs(v) <= r * 1.05)
        c.v_range_auto = False

    @scpi("[:SOURce#]:VOLTage:RANGe[:UPPer]?")
    def _vrange_q(self, call: Call) -> str:
        return fmt_nr3(self._chan(call)[1].v_range)

    @scpi("[:SOURce#]:VOLTage:RANGe:AUTO")
    def _vrange_auto(self, call: Call) -> None:
        self._chan(call)[1].v_range_auto = call.boolean()

    @scpi("[:SOURce#]:VOLTage:RANGe:AUTO?")
    def _vrange_auto_q(self, call: Call) -> str:
        return "1" if self._chan(call)[1].v_range_auto else "0"

    @scpi("[:SOURce#]:LIST:VOLTage")
    @scpi("[:SOURce#]:LIST:VOLTage:APPend")
    def _list(self, call: Call) -> None:
        c = self._chan(call)[1]
        if not call.args:
            raise ScpiError(MISSING_PARAMETER, call.header)
        values = [call.number(i, lo=-V_MAX, hi=V_MAX, unit="V") for i in range(len(call.args))]
        for v in values:
            self._check_v(c, v)
        append = call.header.upper().split(":")[-1].startswith("APP")
        new = (c.v_list if append else []) + values
        if len(new) > LIST_MAX:
            raise ScpiError(DATA_OUT_OF_RANGE, f"more than {LIST_MAX} list points")
        c.v_list = new

    @scpi("[:SOURce#]:LIST:VOLTage?")
    def _list_q(self, call: Call) -> str:
        return ",".join(fmt_nr3(v) for v in self._chan(call)[1].v_list)

    @scpi("[:SOURce#]:LIST:VOLTage:POINts?")
    def _list_points(self, call: Call) -> str:
        return str(len(self._chan(call)[1].v_list))

    @scpi("[:SOURce#]:VOLTage:STARt")
    def _start(self, call: Call) -> None:
        self._chan(call)[1].v_start = call.number(0, lo=-V_MAX, hi=V_MAX, unit="V")

    @scpi("[:SOURce#]:VOLTage:STOP")
    def _stop(self, call: Call) -> None:
        self._chan(call)[1].v_stop = call.number(0, lo=-V_MAX, hi=V_MAX, unit="V")

    @scpi("[:SOURce#]:SWEep:POINts")
    def _points(self, call: Call) -> None:
        self._chan(call)[1].sweep_points = int(call.number(0, lo=1, hi=LIST_MAX))

    # -- sense -------------------------------------------------------------------------------
    @scpi("[:SENSe#]:FUNCtion[:ON]")
    def _sens_func(self, call: Call) -> None:
        c = self._chan(call)[1]
        call.nargs(1, 3)
        c.sense = [
            call.choice(i, ["CURRent", "VOLTage", "RESistance"]) for i in range(len(call.args))
        ]

    @scpi("[:SENSe#]:FUNCtion[:ON]?")
    def _sens_func_q(self, call: Call) -> str:
        return ",".join(f'"{f}"' for f in self._chan(call)[1].sense)

    @scpi("[:SENSe#]:CURRent[:DC]:PROTection[:LEVel][:BOTH]")
    def _ilim(self, call: Call) -> None:
        self._chan(call)[1].i_limit_a = call.number(0, lo=1e-9, hi=I_MAX, unit="A")

    @scpi("[:SENSe#]:CURRent[:DC]:PROTection[:LEVel][:BOTH]?")
    def _ilim_q(self, call: Call) -> str:
        return fmt_nr3(self._chan(call)[1].i_limit_a)

    @scpi("[:SENSe#]:CURRent[:DC]:PROTection:TRIPped?")
    def _trip_q(self, call: Call) -> str:
        return "1" if self._chan(call)[1].tripped else "0"

    @scpi("[:SENSe#]:CURRent[:DC]:APERture")
    def _aper(self, call: Call) -> None:
        c = self._chan(call)[1]
        c.aperture_s = call.number(0, lo=APERTURE_RANGE_S[0], hi=APERTURE_RANGE_S[1], unit="S")
        c.aperture_auto = False

    @scpi("[:SENSe#]:CURRent[:DC]:APERture?")
    def _aper_q(self, call: Call) -> str:
        return fmt_nr3(self._chan(call)[1].aperture_s)

    @scpi("[:SENSe#]:CURRent[:DC]:APERture:AUTO")
    def _aper_auto(self, call: Call) -> None:
        self._chan(call)[1].aperture_auto = call.boolean()

    @scpi("[:SENSe#]:CURRent[:DC]:APERture:AUTO?")
    def _aper_auto_q(self, call: Call) -> str:
        return "1" if self._chan(call)[1].aperture_auto else "0"

    @scpi("[:SENSe#]:CURRent[:DC]:NPLCycles")
    def _nplc(self, call: Call) -> None:
        c = self._chan(call)[1]
        c.aperture_s = call.number(0, lo=NPLC_RANGE[0], hi=NPLC_RANGE[1]) / self.line_frequency_hz
        c.aperture_auto = False

    @scpi("[:SENSe#]:CURRent[:DC]:NPLCycles?")
    def _nplc_q(self, call: Call) -> str:
        return fmt_nr3(self._chan(call)[1].aperture_s * self.line_frequency_hz)

    @scpi("[:SENSe#]:CURRent[:DC]:RANGe[:UPPer]")
    def _irange(self, call: Call) -> None:
        c = self._chan(call)[1]
        i = call.number(
            0, lo=0, hi=I_MAX, unit="A", special={"MINimum": I_RANGES[0], "MAXimum": 3.0}
        )
        c.i_range = next(r for r in I_RANGES if abs(i) <= r * 1.01)
        c.i_range_auto = False

    @scpi("[:SENSe#]:CURRent[:DC]:RANGe[:UPPer]?")
    def _irange_q(self, call: Call) -> str:
        return fmt_nr3(self._chan(call)[1].i_range)

    @scpi("[:SENSe#]:CURRent[:DC]:RANGe:AUTO")
    def _irange_auto(self, call: Call) -> None:
        self._chan(call)[1].i_range_auto = call.boolean()

    @scpi("[:SENSe#]:CURRent[:DC]:RANGe:AUTO?")
    def _irange_auto_q(self, call: Call) -> str:
        return "1" if self._chan(call)[1].i_range_auto else "0"

    @scpi(":SYSTem:LFRequency")
    def _lfr(self, call: Call) -> None:
        self.line_frequency_hz = float(call.choice(0, ["50", "60"]))

    @scpi(":SYSTem:LFRequency?")
    def _lfr_q(self, call: Call) -> str:
        return f"{self.line_frequency_hz:.0f}"

    # -- trigger layer -----------------------------------------------------------------------
    @scpi(":TRIGger#[:ALL]:SOURce[:SIGNal]")
    @scpi(":TRIGger#:ACQuire:SOURce[:SIGNal]")
    @scpi(":TRIGger#:TRANsient:SOURce[:SIGNal]")
    def _trig_source(self, call: Call) -> None:
        self._chan(call)[1].trig_source = call.choice(
            0, ["AINT", "BUS", "TIMer", "INT1", "INT2", "LAN", "EXT1", "EXT2"]
        )

    @scpi(":TRIGger#[:ALL]:SOURce[:SIGNal]?")
    @scpi(":TRIGger#:ACQuire:SOURce[:SIGNal]?")
    @scpi(":TRIGger#:TRANsient:SOURce[:SIGNal]?")
    def _trig_source_q(self, call: Call) -> str:
        return self._chan(call)[1].trig_source

    @scpi(":TRIGger#[:ALL]:TIMer")
    @scpi(":TRIGger#:ACQuire:TIMer")
    @scpi(":TRIGger#:TRANsient:TIMer")
    def _timer(self, call: Call) -> None:
        lo, hi = TIMER_RANGE_S
        self._chan(call)[1].timer_s = call.number(0, lo=lo, hi=hi, unit="S")

    @scpi(":TRIGger#[:ALL]:TIMer?")
    @scpi(":TRIGger#:ACQuire:TIMer?")
    @scpi(":TRIGger#:TRANsient:TIMer?")
    def _timer_q(self, call: Call) -> str:
        return fmt_nr3(self._chan(call)[1].timer_s)

    @scpi(":TRIGger#[:ALL]:COUNt")
    @scpi(":TRIGger#:ACQuire:COUNt")
    @scpi(":TRIGger#:TRANsient:COUNt")
    def _count(self, call: Call) -> None:
        self._chan(call)[1].count = int(call.number(0, lo=1, hi=COUNT_MAX))

    @scpi(":TRIGger#[:ALL]:COUNt?")
    @scpi(":TRIGger#:ACQuire:COUNt?")
    @scpi(":TRIGger#:TRANsient:COUNt?")
    def _count_q(self, call: Call) -> str:
        return str(self._chan(call)[1].count)

    @scpi(":TRIGger#:ACQuire:DELay")
    def _acq_delay(self, call: Call) -> None:
        self._chan(call)[1].acq_delay_s = call.number(0, lo=0, hi=100.0, unit="S")

    @scpi(":TRIGger#:ACQuire:DELay?")
    def _acq_delay_q(self, call: Call) -> str:
        return fmt_nr3(self._chan(call)[1].acq_delay_s)

    @scpi(":TRIGger#:TRANsient:DELay")
    def _tran_delay(self, call: Call) -> None:
        self._chan(call)[1].tran_delay_s = call.number(0, lo=0, hi=100.0, unit="S")

    @scpi(":TRIGger#:TRANsient:DELay?")
    def _tran_delay_q(self, call: Call) -> str:
        return fmt_nr3(self._chan(call)[1].tran_delay_s)

    @scpi(":TRIGger#[:ALL]:DELay")
    def _delay_all(self, call: Call) -> None:
        c = self._chan(call)[1]
        c.acq_delay_s = c.tran_delay_s = call.number(0, lo=0, hi=100.0, unit="S")

    # -- measurement -------------------------------------------------------------------------
    def _output_on_for_measurement(self, k: int) -> None:
        """:OUTP:ON:AUTO (on by default): :INIT and :MEAS turn an output that is off on."""
        c = self.ch[k]
        if not c.output and c.auto_on:
            c.output = True
            self._apply(k)

    def _readings(self, chans: list[int], settle_s: float) -> list[Reading]:
        """Measure `chans` together: one dwell of settle + the longest aperture on the chip."""
        aperture = max(self.ch[k].aperture_s for k in chans)
        self.bench.dwell(settle_s + aperture)
        out = []
        for k in chans:
            c = self.ch[k]
            i = self.bench.current_into(self.terminal(k), c.aperture_s)
            c.tripped = c.output and abs(i) >= c.i_limit_a
            if c.tripped:
                i = c.i_limit_a if i > 0 else -c.i_limit_a
            v = c.v_now if c.output else 0.0
            out.append(Reading(v, v, i, self.bench.clock.now_s - self.t0,
                               STATUS_COMPLIANCE if c.tripped else 0))  # fmt: skip
            if c.tripped and c.protection:
                c.output = False  # :OUTP:PROT: output off as soon as compliance is reached
                c.v_now = 0.0
                self._apply(k)
        return out

    @scpi(":MEASure[:SCALar]:CURRent[:DC]?")
    @scpi(":MEASure[:SCALar]:VOLTage[:DC]?")
    def _meas(self, call: Call) -> str:
        chans = self._channel_list(call)
        for k in chans:
            self._output_on_for_measurement(k)
        readings = self._readings(chans, SETTLE_S)
        for k, r in zip(chans, readings, strict=True):
            self.ch[k].buffer = [r]
        volts = any(node.startswith("VOLT") for node in call.header.upper().split(":"))
        return ",".join(fmt_nr3(r.voltage_v if volts else r.current_a) for r in readings)

    @scpi(":INITiate[:IMMediate][:ALL]")
    @scpi(":INITiate[:IMMediate]:ACQuire")
    @scpi(":INITiate[:IMMediate]:TRANsient")
    def _init(self, call: Call) -> None:
        chans = self._channel_list(call)
        plans = {}
        for k in chans:
            c = self.ch[k]
            levels = c.sweep_levels()
            plans[k] = [levels[n % len(levels)] for n in range(c.count)]
            c.buffer = []
            self._output_on_for_measurement(k)
        if any(self.ch[k].trig_source == "BUS" for k in chans):
            for k in chans:  # each *TRG sources and measures one point
                self.ch[k].pending = deque(plans[k])
            return
        for n in range(max(len(p) for p in plans.values())):
            self._step({k: p[n] for k, p in plans.items() if n < len(p)})

    def _step(self, levels: dict[int, float]) -> None:
        """One trigger: source every channel's level, wait the delays, measure them together."""
        t_start = self.bench.clock.now_s
        chans = list(levels)
        tran = max(self.ch[k].tran_delay_s for k in chans)
        self.bench.dwell(tran)
        for k, v in levels.items():
            self._set_level(k, v)
        acq = max(self.ch[k].acq_delay_s for k in chans)
        for k, r in zip(chans, self._readings(chans, acq), strict=True):
            self.ch[k].buffer.append(r)
        timer = max(
            (self.ch[k].timer_s for k in chans if self.ch[k].trig_source == "TIM"), default=0.0
        )
        self.bench.dwell(t_start + timer - self.bench.clock.now_s)

    def trigger(self) -> None:
        """*TRG: one point on every channel waiting for a bus trigger."""
        levels = {k: c.pending.popleft() for k, c in self.ch.items() if c.pending}
        if levels:
            self._step(levels)

    @scpi(":ABORt[:ALL]")
    @scpi(":ABORt:ACQuire")
    @scpi(":ABORt:TRANsient")
    def _abort(self, call: Call) -> None:
        for k in self._channel_list(call):
            self.ch[k].pending.clear()

    @scpi(":FORMat:ELEMents:SENSe[:DATA]")
    def _elements(self, call: Call) -> None:
        call.nargs(1, len(ELEMENTS))
        self.elements = [call.choice(i, list(ELEMENTS)) for i in range(len(call.args))]

    @scpi(":FORMat:ELEMents:SENSe[:DATA]?")
    def _elements_q(self, call: Call) -> str:
        return ",".join(self.elements)

    @scpi(":FORMat[:DATA]")
    def _format(self, call: Call) -> None:
        if call.choice(0, ["ASCii", "REAL"]) != "ASC":
            raise ScpiError(SETTINGS_CONFLICT, "only ASCII data is simulated")

    def _element(self, r: Reading, name: str) -> float:
        if name == "RES":
            return r.voltage_v / r.current_a if r.current_a else INF
        return {"VOLT": r.voltage_v, "CURR": r.current_a, "TIME": r.t_s, "STAT": r.status,
                "SOUR": r.source_v}[name]  # fmt: skip

    def _fetch(self, call: Call, names: list[str], last_only: bool = False) -> str:
        out = []
        for k in self._channel_list(call):
            buffer = self.ch[k].buffer[-1:] if last_only else self.ch[k].buffer
            if not buffer:
                raise ScpiError(DATA_STALE, "no measurement data")
            out.extend(fmt_nr3(self._element(r, e)) for r in buffer for e in names)
        return ",".join(out)

    @scpi(":FETCh:ARRay?")
    def _fetch_all(self, call: Call) -> str:
        return self._fetch(call, self.elements)

    @scpi(":FETCh:ARRay:CURRent?")
    @scpi(":FETCh:ARRay:VOLTage?")
    @scpi(":FETCh:ARRay:TIME?")
    @scpi(":FETCh:ARRay:SOURce?")
    @scpi(":FETCh:ARRay:STATus?")
    def _fetch_one(self, call: Call) -> str:
        return self._fetch(call, [call.header.upper().split(":")[-1][:4].rstrip("?")])

    @scpi(":FETCh[:SCALar]:CURRent?")
    def _fetch_scalar(self, call: Call) -> str:
        return self._fetch(call, ["CURR"], last_only=True)

    @scpi(":SYSTem:ERRor[:NEXT]?")
    def _syst_err(self, call: Call) -> str:
        code, msg = self.errors.pop()
        return f'{code:+d},"{msg}"'
