"""Simulated Keithley 2450 SourceMeter (SCPI command set, Reference Manual 2450-901-01).

Implements the source/measure subset a ReRAM bench uses: voltage source with current limit,
ranges, NPLC, output-off modes, overvoltage protection, list sweeps into a reading buffer and
buffer read-back (`:TRAC:DATA?`). Timing: every reading dwells the source delay plus the
aperture (NPLC / 60 Hz) on the chip and advances the simulated clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..instrument import ScpiInstrument
from ..scpi import (
    DATA_OUT_OF_RANGE,
    ILLEGAL_PARAMETER_VALUE,
    SETTINGS_CONFLICT,
    Call,
    ScpiError,
    fmt_nr3,
    scpi,
)

LINE_FREQUENCY_HZ = 60.0
V_MAX = 210.0
I_MAX = 1.05
PROTECTION_V = {"PROT2": 2, "PROT5": 5, "PROT10": 10, "PROT20": 20, "PROT40": 40, "PROT60": 60,
                "PROT80": 80, "PROT100": 100, "PROT120": 120, "PROT140": 140, "PROT160": 160,
                "PROT180": 180, "NONE": 210}  # fmt: skip
V_RANGES = (0.02, 0.2, 2.0, 20.0, 200.0)
I_RANGES = (10e-9, 100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0)
LIST_CHUNK = 100  # points per :SOUR:LIST:VOLT command (manual: use :APPend for more)


@dataclass
class Reading:
    source_v: float
    current_a: float
    t_s: float


class Keithley2450Sim(ScpiInstrument):
    #: the mains frequency one PLC refers to
    line_frequency_hz = LINE_FREQUENCY_HZ
    idn = "KEITHLEY INSTRUMENTS,MODEL 2450,04512345,1.7.12b"

    @property
    def terminal(self) -> str:
        return f"{self.name}.1"

    def reset(self) -> None:
        super().reset()
        self.output = False
        self.source_func = "VOLT"
        self.v_level = 0.0
        self.i_limit_a = 105e-6
        self.v_range = 20.0
        self.v_range_auto = True
        self.sense_func = "CURR"
        self.i_range = 100e-6
        self.i_range_auto = True
        self.nplc = 1.0
        self.off_mode = "NORM"
        self.protection = "NONE"
        self.source_delay_s = 0.0
        self.source_delay_auto = True
        self.tripped = False
        self.source_list: list[float] = []
        self.sweep: tuple[int, float, int, bool] | None = None  # start, delay, count, failAbort
        self.buffer: list[Reading] = []
        self.t0 = self.bench.clock.now_s
        self._apply_output()

    # -- output ------------------------------------------------------------------------------
    def _apply_output(self) -> None:
        if self.output:
            self.bench.set_level(self.terminal, self.v_level)
        else:
            self.bench.set_level(self.terminal, None if self.off_mode == "HIMP" else 0.0)

    @scpi(":OUTPut#[:STATe]")
    def _outp(self, call: Call) -> None:
        self.output = call.boolean()
        self._apply_output()

    @scpi(":OUTPut#[:STATe]?")
    def _outp_q(self, call: Call) -> str:
        return "1" if self.output else "0"

    @scpi(":OUTPut#:VOLTage:SMODe")
    @scpi(":OUTPut#:CURRent:SMODe")
    def _smode(self, call: Call) -> None:
        self.off_mode = call.choice(0, ["HIMPedance", "NORMal", "ZERO", "GUARd"])
        self._apply_output()

    @scpi(":OUTPut#:VOLTage:SMODe?")
    @scpi(":OUTPut#:CURRent:SMODe?")
    def _smode_q(self, call: Call) -> str:
        return self.off_mode

    # -- source ------------------------------------------------------------------------------
    @scpi(":SOURce#:FUNCtion[:MODE]")
    def _sour_func(self, call: Call) -> None:
        func = call.choice(0, ["VOLTage", "CURRent"])
        if func == "CURR":
            raise ScpiError(SETTINGS_CONFLICT, "current sourcing is not simulated")
        self.source_func = func

    @scpi(":SOURce#:FUNCtion[:MODE]?")
    def _sour_func_q(self, call: Call) -> str:
        return self.source_func

    @scpi(":SOURce#:VOLTage[:LEVel][:IMMediate][:AMPLitude]")
    def _sour_volt(self, call: Call) -> None:
        limit = PROTECTION_V[self.protection]
        v = call.number(0, lo=-V_MAX, hi=V_MAX, unit="V")
        if abs(v) > limit:
            raise ScpiError(DATA_OUT_OF_RANGE, f"{v} V beyond overvoltage protection {limit} V")
        if not self.v_range_auto and abs(v) > self.v_range * 1.05:
            raise ScpiError(DATA_OUT_OF_RANGE, f"{v} V beyond the {self.v_range} V range")
        self.v_level = v
        self._apply_output()

    @scpi(":SOURce#:VOLTage[:LEVel][:IMMediate][:AMPLitude]?")
    def _sour_volt_q(self, call: Call) -> str:
        return fmt_nr3(self.v_level)

    @scpi(":SOURce#:VOLTage:ILIMit[:LEVel]")
    def _ilim(self, call: Call) -> None:
        self.i_limit_a = call.number(0, lo=1e-9, hi=I_MAX, unit="A")

    @scpi(":SOURce#:VOLTage:ILIMit[:LEVel]?")
    def _ilim_q(self, call: Call) -> str:
        return fmt_nr3(self.i_limit_a)

    @scpi(":SOURce#:VOLTage:ILIMit[:LEVel]:TRIPped?")
    def _ilim_trip(self, call: Call) -> str:
        return "1" if self.tripped else "0"

    @scpi(":SOURce#:VOLTage:RANGe")
    def _vrange(self, call: Call) -> None:
        v = call.number(0, lo=-V_MAX, hi=V_MAX, unit="V", special={"MAXimum": 200.0})
        self.v_range = next(r for r in V_RANGES if abs(v) <= r)
        self.v_range_auto = False

    @scpi(":SOURce#:VOLTage:RANGe?")
    def _vrange_q(self, call: Call) -> str:
        return fmt_nr3(self.v_range)

    @scpi(":SOURce#:VOLTage:RANGe:AUTO")
    def _vrange_auto(self, call: Call) -> None:
        self.v_range_auto = call.boolean()

    @scpi(":SOURce#:VOLTage:RANGe:AUTO?")
    def _vrange_auto_q(self, call: Call) -> str:
        return "1" if self.v_range_auto else "0"

    @scpi(":SOURce#:VOLTage:PROTection[:LEVel]")
    def _prot(self, call: Call) -> None:
        self.protection = call.choice(0, list(PROTECTION_V))

    @scpi(":SOURce#:VOLTage:PROTection[:LEVel]?")
    def _prot_q(self, call: Call) -> str:
        return self.protection

    @scpi(":SOURce#:VOLTage:DELay")
    def _delay(self, call: Call) -> None:
        self.source_delay_s = call.number(0, lo=0, hi=10_000, unit="S")
        self.source_delay_auto = False

    @scpi(":SOURce#:VOLTage:DELay?")
    def _delay_q(self, call: Call) -> str:
        return fmt_nr3(self.source_delay_s)

    @scpi(":SOURce#:VOLTage:DELay:AUTO")
    def _delay_auto(self, call: Call) -> None:
        self.source_delay_auto = call.boolean()

    @scpi(":SOURce#:VOLTage:DELay:AUTO?")
    def _delay_auto_q(self, call: Call) -> str:
        return "1" if self.source_delay_auto else "0"

    # -- sense -------------------------------------------------------------------------------
    @scpi(":SENSe#:FUNCtion[:ON]")
    def _sens_func(self, call: Call) -> None:
        self.sense_func = call.choice(0, ["CURRent", "VOLTage", "RESistance"])

    @scpi(":SENSe#:FUNCtion[:ON]?")
    def _sens_func_q(self, call: Call) -> str:
        return f'"{self.sense_func}:DC"'

    @scpi(":SENSe#:CURRent[:DC]:RANGe[:UPPer]")
    def _irange(self, call: Call) -> None:
        i = call.number(0, lo=0, hi=I_MAX, unit="A")
        self.i_range = next(r for r in I_RANGES if i <= r * 1.0001)
        self.i_range_auto = False

    @scpi(":SENSe#:CURRent[:DC]:RANGe[:UPPer]?")
    def _irange_q(self, call: Call) -> str:
        return fmt_nr3(self.i_range)

    @scpi(":SENSe#:CURRent[:DC]:RANGe:AUTO")
    def _irange_auto(self, call: Call) -> None:
        self.i_range_auto = call.boolean()

    @scpi(":SENSe#:CURRent[:DC]:RANGe:AUTO?")
    def _irange_auto_q(self, call: Call) -> str:
        return "1" if self.i_range_auto else "0"

    @scpi(":SENSe#:CURRent[:DC]:NPLCycles")
    @scpi(":SENSe#:VOLTage[:DC]:NPLCycles")
    def _nplc(self, call: Call) -> None:
        self.nplc = call.number(0, lo=0.01, hi=10)

    @scpi(":SENSe#:CURRent[:DC]:NPLCycles?")
    @scpi(":SENSe#:VOLTage[:DC]:NPLCycles?")
    def _nplc_q(self, call: Call) -> str:
        return fmt_nr3(self.nplc)

    # -- measurement -------------------------------------------------------------------------
    @property
    def aperture_s(self) -> float:
        return self.nplc / LINE_FREQUENCY_HZ

    @property
    def settle_s(self) -> float:
        # Auto delay for the low current ranges is ~1 ms (manual, "Source delay" table).
        return 1e-3 if self.source_delay_auto else self.source_delay_s

    def _reading(self) -> Reading:
        self.bench.dwell(self.settle_s + self.aperture_s)
        i = self.bench.current_into(self.terminal, self.aperture_s)
        self.tripped = abs(i) >= self.i_limit_a
        if self.tripped:
            i = self.i_limit_a if i > 0 else -self.i_limit_a
        src = self.v_level if self.output else 0.0
        return Reading(src, i, self.bench.clock.now_s - self.t0)

    @scpi(":READ?")
    @scpi(":MEASure[:CURRent][:DC]?")
    def _read(self, call: Call) -> str:
        r = self._reading()
        self.buffer.append(r)
        return fmt_nr3(r.current_a)

    # -- list sweep + buffer -----------------------------------------------------------------
    @scpi(":SOURce#:LIST:VOLTage")
    def _list(self, call: Call) -> None:
        self._set_list(call, append=False)

    @scpi(":SOURce#:LIST:VOLTage:APPend")
    def _list_app(self, call: Call) -> None:
        self._set_list(call, append=True)

    def _set_list(self, call: Call, append: bool) -> None:
        if not call.args or len(call.args) > LIST_CHUNK:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"1..{LIST_CHUNK} points per command")
        limit = PROTECTION_V[self.protection]
        values = [call.number(k, lo=-limit, hi=limit, unit="V") for k in range(len(call.args))]
        self.source_list = (self.source_list if append else []) + values

    @scpi(":SOURce#:LIST:VOLTage?")
    def _list_q(self, call: Call) -> str:
        return ",".join(fmt_nr3(v) for v in self.source_list)

    @scpi(":SOURce#:LIST:VOLTage:POINts?")
    def _list_points(self, call: Call) -> str:
        return str(len(self.source_list))

    @scpi(":SOURce#:SWEep:VOLTage:LIST")
    def _sweep_list(self, call: Call) -> None:
        call.nargs(2, 5)
        start = int(call.number(0, lo=1, hi=max(1, len(self.source_list))))
        delay = call.number(1, lo=0, hi=10_000)
        count = int(call.number(2, lo=1, hi=268_435_455)) if len(call.args) > 2 else 1
        fail_abort = call.boolean(3) if len(call.args) > 3 else False
        if len(call.args) > 4 and call.text(4) != "defbuffer1":
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, "only defbuffer1 is simulated")
        self.sweep = (start, delay, count, fail_abort)

    @scpi(":INITiate[:IMMediate]")
    def _init(self, call: Call) -> None:
        if self.sweep is None:
            self.buffer.append(self._reading())
            return
        start, delay, count, fail_abort = self.sweep
        if not self.output:
            self.output = True  # the sweep trigger model turns the output on (manual 4-105)
        for _ in range(count):
            for v in self.source_list[start - 1 :]:
                self.v_level = v
                self._apply_output()
                self.bench.dwell(delay)
                r = self._reading()
                self.buffer.append(r)
                if fail_abort and self.tripped:
                    return

    @scpi(":ABORt")
    def _abort(self, call: Call) -> None:
        self.sweep = None

    @scpi(":TRACe:CLEar")
    def _trace_clear(self, call: Call) -> None:
        self.buffer.clear()
        self.t0 = self.bench.clock.now_s

    @scpi(":TRACe:ACTual?")
    def _trace_actual(self, call: Call) -> str:
        return str(len(self.buffer))

    @scpi(":TRACe:DATA?")
    def _trace_data(self, call: Call) -> str:
        call.nargs(2, 8)
        n = len(self.buffer)
        first = int(call.number(0, lo=1, hi=max(n, 1)))
        last = int(call.number(1, lo=first, hi=max(n, 1)))
        elements = [
            call.choice(k, ["READing", "SOURce", "RELative"]) for k in range(3, len(call.args))
        ]
        elements = elements or ["READ"]
        out = []
        for r in self.buffer[first - 1 : last]:
            for e in elements:
                value = {"READ": r.current_a, "SOUR": r.source_v, "REL": r.t_s}[e]
                out.append(fmt_nr3(value))
        return ",".join(out)

    @scpi(":STATus:PRESet")
    def _status_preset(self, call: Call) -> None:
        """Status registers to their defaults (they are not simulated; accepted for *RST use)."""

    @scpi(":ROUTe:TERMinals")
    def _terminals(self, call: Call) -> None:
        call.choice(0, ["FRONt", "REAR"])
