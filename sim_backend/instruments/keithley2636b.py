"""Simulated Keithley 2636B two-channel SourceMeter (TSP, Series 2600B Reference Manual).

Channels are the ``smua`` and ``smub`` objects. Implemented: voltage source attributes
(``source.func``, ``levelv``, ``limiti``, ``rangev``, ``autorangev``, ``output``, ``offmode``,
``delay``), measure attributes (``nplc``, ``rangei``, ``autorangei``, ``delay``, ``autozero``),
``measure.i()`` (printed, or into a reading buffer), ``source.compliance``, ``smuX.reset()``, the
trigger model's list/linear sweeps (``trigger.source.listv({...})``, ``source``/``measure``
actions, ``trigger.measure.i(buffer)``, ``count``, ``initiate()``), the reading buffers
(``nvbuffer1/2``: ``clear()``, ``n``, ``printbuffer``) and ``format.data``. A
``loadandrunscript ... endscript`` block, sent in one message or several, runs as a whole once
complete, and not at all if one statement is not understood (as Lua compiles a chunk first).

Numbers print the Lua way (``%.14g``); ``printbuffer`` uses ``format.asciiprecision`` digits.
Terminals are ``<name>.a`` and ``<name>.b`` (``<name>.1``/``<name>.2`` are accepted aliases).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..instrument import TSP_RUNTIME_ERROR, TSP_SYNTAX_ERROR, TspInstrument, _tsp_statements, tsp
from ..scpi import DATA_OUT_OF_RANGE, ScpiError

V_MAX = 202.0
I_MAX = 1.515  # DC, up to 20 V (0.1 A up to 200 V; 10 A pulsed)
V_RANGES = (0.2, 2.0, 20.0, 200.0)
I_RANGES = (100e-12, 1e-9, 10e-9, 100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0, 1.5)
AUTO_DELAY_S = 1e-3  # measure.delay = DELAY_AUTO on the low current ranges (order of)
#: smuX.<NAME> constants (the same values on smua and smub)
CONSTANTS = {
    "OUTPUT_DCAMPS": 0, "OUTPUT_DCVOLTS": 1, "OUTPUT_OFF": 0, "OUTPUT_ON": 1,
    "OUTPUT_NORMAL": 0, "OUTPUT_ZERO": 1, "OUTPUT_HIGH_Z": 2,
    "AUTORANGE_OFF": 0, "AUTORANGE_ON": 1, "AUTORANGE_FOLLOW_LIMIT": 2,
    "AUTOZERO_OFF": 0, "AUTOZERO_ONCE": 1, "AUTOZERO_AUTO": 2,
    "DISABLE": 0, "ENABLE": 1, "SOURCE_IDLE": 0, "SOURCE_HOLD": 1,
    "DELAY_OFF": 0, "DELAY_AUTO": -1, "LIMIT_AUTO": -1, "SENSE_LOCAL": 0, "SENSE_REMOTE": 1,
}  # fmt: skip
FORMATS = {"ASCII": 1, "SREAL": 2, "REAL32": 2, "REAL": 3, "DREAL": 3, "REAL64": 3}
SMU = r"(?P<smu>smu[ab])"
NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


@dataclass
class Sample:
    reading: float
    source_v: float
    t_s: float


@dataclass
class Smu:
    """One SMU channel's attributes (smuX.reset() values) and its two reading buffers."""

    func: int = 1
    levelv: float = 0.0
    v_now: float = 0.0  # the level being sourced (levelv, or a sweep point)
    limiti: float = 0.1
    rangev: float = 0.2
    autorangev: int = 1
    output: int = 0
    offmode: int = 0
    source_delay_s: float = 0.0
    compliance: bool = False
    nplc: float = 1.0
    rangei: float = 100e-9
    autorangei: int = 1
    measure_delay_s: float = -1.0
    autozero: int = 2
    sense: int = 0
    # trigger model
    sweep: list[float] = field(default_factory=list)
    source_action: int = 0
    measure_action: int = 0
    measure_buffer: str | None = None
    trigger_limiti: float = -1.0
    endsweep_action: int = 0
    count: int = 1
    arm_count: int = 1
    buffers: dict[str, list[Sample]] = field(
        default_factory=lambda: {"nvbuffer1": [], "nvbuffer2": []}
    )
    #: buffer attributes (appendmode, collect...) are accepted and kept
    buffer_attrs: dict[str, float] = field(default_factory=dict)


def _lua(value: float | bool) -> str:
    """How TSP's print() renders a value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:.14g}"


class Keithley2636BSim(TspInstrument):
    idn = "Keithley Instruments Inc., Model 2636B, 4123456, 4.0.4"

    def reset(self) -> None:
        super().reset()
        self.line_frequency_hz = float(self.options.get("line_frequency_hz", 60.0))
        self.smu = {"smua": Smu(), "smub": Smu()}
        self.format_data = 1
        self.ascii_precision = 6
        self.t0 = self.bench.clock.now_s
        self._script: list[str] | None = None
        for name in self.smu:
            self._apply(name)

    def terminals(self, smu: str) -> tuple[str, str]:
        letter = smu[-1]
        return f"{self.name}.{letter}", f"{self.name}.{'ab'.index(letter) + 1}"

    def _apply(self, name: str) -> None:
        s = self.smu[name]
        high_z = CONSTANTS["OUTPUT_HIGH_Z"]
        if s.output == CONSTANTS["OUTPUT_ON"]:
            level: float | None = s.v_now
        else:  # off: 0 V (NORMAL, ZERO) or relay open (HIGH_Z, as offmode or as output state)
            level = None if high_z in (s.offmode, s.output) else 0.0
        for term in self.terminals(name):
            self.bench.set_level(term, level)

    # -- messages and scripts ----------------------------------------------------------------
    def handle(self, message: str) -> str | None:
        """Run plain statements as they come; collect ``loadandrunscript`` bodies and run each
        as a whole at its ``endscript``."""
        replies: list[str] = []
        plain: list[str] = []

        def flush() -> None:
            if plain:
                reply = super(Keithley2636BSim, self).handle("\n".join(plain))
                if reply is not None:
                    replies.append(reply)
                plain.clear()

        for line in message.replace("\r", "\n").split("\n"):
            text = line.strip()
            if self._script is not None:
                if text == "endscript":
                    body, self._script = self._script, None
                    self._run_script(body, replies)
                else:
                    self._script.append(line)
            elif re.fullmatch(r"loadandrunscript(?:\s+\w+)?", text):
                flush()
                self._script = []
            elif text:
                plain.append(line)
        flush()
        return "\n".join(replies) if replies else None

    def _run_script(self, body: list[str], replies: list[str]) -> None:
        for stmt in _tsp_statements("\n".join(body)):
            if not any(regex.match(stmt) for regex, _ in self._tsp_table):
                self.error(
                    TSP_SYNTAX_ERROR, f"script not run: unexpected statement near '{stmt[:40]}'"
                )
                return
        reply = super().handle("\n".join(body)) if body else None
        if reply is not None:
            replies.append(reply)

    # -- values ------------------------------------------------------------------------------
    def _value(self, expr: str) -> float:
        """A number literal or a ``smuX.CONSTANT``."""
        expr = expr.strip()
        m = re.fullmatch(r"smu[ab]\.(\w+)", expr)
        if m and m.group(1) in CONSTANTS:
            return float(CONSTANTS[m.group(1)])
        if re.fullmatch(NUMBER, expr):
            return float(expr)
        raise ScpiError(TSP_RUNTIME_ERROR, f"cannot use '{expr[:40]}' here")

    @staticmethod
    def _within(what: str, v: float, lo: float, hi: float) -> float:
        if not lo <= v <= hi:
            raise ScpiError(DATA_OUT_OF_RANGE, f"{what} = {v} outside [{lo}, {hi}]")
        return v

    def _set_attr(self, s: Smu, name: str, attr: str, v: float) -> None:  # noqa: C901
        flag = int(v)
        if attr == "source.func":
            if flag != 1:
                raise ScpiError(TSP_RUNTIME_ERROR, "current sourcing is not simulated")
            s.func = flag
        elif attr == "source.levelv":
            self._within(attr, abs(v), 0.0, V_MAX if s.autorangev else s.rangev * 1.01)
            s.levelv = s.v_now = v
        elif attr == "source.limiti":
            s.limiti = self._within(attr, v, 1e-11, I_MAX)
        elif attr == "source.rangev":
            self._within(attr, abs(v), 0.0, V_MAX)
            s.rangev = next(r for r in V_RANGES if abs(v) <= r * 1.01)
            s.autorangev = 0
        elif attr == "source.autorangev":
            s.autorangev = flag
        elif attr == "source.output":
            s.output = self._within(attr, flag, 0, 2)
            s.compliance = False
        elif attr == "source.offmode":
            s.offmode = self._within(attr, flag, 0, 2)
        elif attr == "source.delay":
            s.source_delay_s = max(0.0, v)
        elif attr == "measure.nplc":
            s.nplc = self._within(attr, v, 0.001, 25.0)
        elif attr == "measure.rangei":
            self._within(attr, abs(v), 0.0, I_MAX)
            s.rangei = next(r for r in I_RANGES if abs(v) <= r * 1.01)
            s.autorangei = 0
        elif attr == "measure.autorangei":
            s.autorangei = flag
        elif attr == "measure.delay":
            s.measure_delay_s = v
        elif attr == "measure.autozero":
            s.autozero = flag
        elif attr == "sense":
            s.sense = flag
        elif attr == "trigger.count":
            s.count = int(self._within(attr, flag, 1, 268_435_455))
        elif attr == "trigger.arm.count":
            s.arm_count = int(self._within(attr, flag, 1, 268_435_455))
        elif attr == "trigger.source.action":
            s.source_action = flag
        elif attr == "trigger.measure.action":
            s.measure_action = flag
        elif attr == "trigger.endsweep.action":
            s.endsweep_action = flag
        elif attr == "trigger.source.limiti":
            s.trigger_limiti = v if v < 0 else self._within(attr, v, 1e-11, I_MAX)
        elif attr in ("trigger.arm.stimulus", "trigger.source.stimulus", "trigger.measure.stimulus",
                      "trigger.endpulse.action", "trigger.endpulse.stimulus"):  # fmt: skip
            return
        elif re.fullmatch(
            r"nvbuffer[12]\.(appendmode|collecttimestamps|collectsourcevalues)", attr
        ):
            s.buffer_attrs[attr] = v
        else:
            raise ScpiError(TSP_RUNTIME_ERROR, f"{name}.{attr} cannot be set")
        self._apply(name)

    def _get_attr(self, s: Smu, name: str, attr: str) -> float | bool:
        table: dict[str, Any] = {
            "source.func": s.func, "source.levelv": s.levelv, "source.limiti": s.limiti,
            "source.rangev": s.rangev, "source.autorangev": s.autorangev,
            "source.output": s.output, "source.offmode": s.offmode,
            "source.delay": s.source_delay_s, "source.compliance": s.compliance,
            "measure.nplc": s.nplc, "measure.rangei": s.rangei,
            "measure.autorangei": s.autorangei, "measure.delay": s.measure_delay_s,
            "measure.autozero": s.autozero, "sense": s.sense, "trigger.count": s.count,
            "trigger.arm.count": s.arm_count, "nvbuffer1.n": len(s.buffers["nvbuffer1"]),
            "nvbuffer2.n": len(s.buffers["nvbuffer2"]),
        }  # fmt: skip
        if attr not in table:
            raise ScpiError(TSP_RUNTIME_ERROR, f"{name}.{attr} cannot be read")
        return table[attr]

    @tsp(SMU + r"\.(?P<attr>[a-z][\w.]*)\s*=\s*(?P<expr>[^=].*)")
    def _assign(self, smu: str, attr: str, expr: str) -> None:
        self._set_attr(self.smu[smu], smu, attr, self._value(expr))

    @tsp(r"print\(\s*" + SMU + r"\.(?P<attr>[a-z][\w.]*)\s*\)")
    def _print_attr(self, smu: str, attr: str) -> str:
        return _lua(self._get_attr(self.smu[smu], smu, attr))

    @tsp(SMU + r"\.reset\(\)")
    def _smu_reset(self, smu: str) -> None:
        self.smu[smu] = Smu()
        self._apply(smu)

    @tsp(SMU + r"\.abort\(\)")
    def _abort(self, smu: str) -> None:
        return None

    # -- measurements ------------------------------------------------------------------------
    def _measure(self, name: str, limit_a: float | None = None) -> Sample:
        s = self.smu[name]
        aperture = s.nplc / self.line_frequency_hz
        settle = AUTO_DELAY_S if s.measure_delay_s < 0 else s.measure_delay_s
        self.bench.dwell(settle + aperture)
        i = sum(self.bench.current_into(t, aperture) for t in self.terminals(name))
        limit = s.limiti if limit_a is None or limit_a < 0 else limit_a
        on = s.output == CONSTANTS["OUTPUT_ON"]
        s.compliance = on and abs(i) >= limit
        if s.compliance:
            i = limit if i > 0 else -limit
        return Sample(i, s.v_now if on else 0.0, self.bench.clock.now_s - self.t0)

    @tsp(r"print\(\s*" + SMU + r"\.measure\.i\(\s*\)\s*\)")
    def _print_i(self, smu: str) -> str:
        return _lua(self._measure(smu).reading)

    @tsp(SMU + r"\.measure\.i\(\s*(?:(?P<owner>smu[ab])\.(?P<buf>nvbuffer[12]))?\s*\)")
    def _measure_into(self, smu: str, owner: str | None, buf: str | None) -> None:
        sample = self._measure(smu)
        if buf:
            self.smu[owner or smu].buffers[buf].append(sample)

    @tsp(SMU + r"\.(?P<buf>nvbuffer[12])\.clear\(\)")
    def _clear(self, smu: str, buf: str) -> None:
        self.smu[smu].buffers[buf].clear()
        self.t0 = self.bench.clock.now_s

    @tsp(r"printbuffer\(\s*(?P<a>\d+)\s*,\s*(?P<b>\d+)\s*,\s*(?P<bufs>[^)]+)\)")
    def _printbuffer(self, a: str, b: str, bufs: str) -> str:
        if self.format_data != FORMATS["ASCII"]:
            raise ScpiError(TSP_RUNTIME_ERROR, "only format.data = format.ASCII is simulated")
        columns = []
        for ref in (x.strip() for x in bufs.split(",")):
            m = re.fullmatch(
                r"(smu[ab])\.(nvbuffer[12])(?:\.(readings|sourcevalues|timestamps))?", ref
            )
            if not m:
                raise ScpiError(TSP_RUNTIME_ERROR, f"printbuffer: '{ref}' is not a reading buffer")
            samples = self.smu[m.group(1)].buffers[m.group(2)]
            first, last = int(a), int(b)
            if not 1 <= first <= last <= len(samples):
                raise ScpiError(
                    TSP_RUNTIME_ERROR, f"printbuffer: {first}..{last} outside 1..{len(samples)}"
                )
            key = {"sourcevalues": "source_v", "timestamps": "t_s"}.get(m.group(3) or "", "reading")
            columns.append([getattr(x, key) for x in samples[first - 1 : last]])
        digits = self.ascii_precision - 1
        return ", ".join(f"{v:.{digits}e}" for row in zip(*columns, strict=True) for v in row)

    @tsp(r"format\.data\s*=\s*format\.(?P<fmt>\w+)")
    def _format(self, fmt: str) -> None:
        if fmt not in FORMATS:
            raise ScpiError(TSP_RUNTIME_ERROR, f"format.{fmt} is not a data format")
        self.format_data = FORMATS[fmt]

    @tsp(r"format\.asciiprecision\s*=\s*(?P<n>\d+)")
    def _precision(self, n: str) -> None:
        self.ascii_precision = int(self._within("format.asciiprecision", int(n), 1, 16))

    @tsp(r"print\(\s*localnode\.(?P<what>model|linefreq)\s*\)")
    def _localnode(self, what: str) -> str:
        return "2636B" if what == "model" else _lua(self.line_frequency_hz)

    @tsp(r"delay\(\s*(?P<s>" + NUMBER + r")\s*\)")
    def _delay(self, s: str) -> None:
        self.bench.dwell(float(s))

    # -- trigger model -----------------------------------------------------------------------
    @tsp(SMU + r"\.trigger\.source\.listv\(\s*\{(?P<values>[^}]*)\}\s*\)")
    def _listv(self, smu: str, values: str) -> None:
        levels = [self._value(x) for x in values.split(",") if x.strip()]
        if not levels or any(abs(v) > V_MAX for v in levels):
            raise ScpiError(
                DATA_OUT_OF_RANGE, f"{smu}.trigger.source.listv: 1.. points within +-{V_MAX} V"
            )
        self.smu[smu].sweep = levels

    @tsp(SMU + r"\.trigger\.source\.linearv\(\s*(?P<a>" + NUMBER + r")\s*,\s*(?P<b>" + NUMBER
         + r")\s*,\s*(?P<n>\d+)\s*\)")  # fmt: skip
    def _linearv(self, smu: str, a: str, b: str, n: str) -> None:
        start, stop, points = float(a), float(b), int(n)
        if points < 2 or max(abs(start), abs(stop)) > V_MAX:
            raise ScpiError(DATA_OUT_OF_RANGE, f"{smu}.trigger.source.linearv({a}, {b}, {n})")
        self.smu[smu].sweep = [start + (stop - start) * k / (points - 1) for k in range(points)]

    @tsp(SMU + r"\.trigger\.measure\.i\(\s*(?P<owner>smu[ab])\.(?P<buf>nvbuffer[12])\s*\)")
    def _trigger_measure(self, smu: str, owner: str, buf: str) -> None:
        self.smu[smu].measure_buffer = f"{owner}.{buf}"

    @tsp(SMU + r"\.trigger\.initiate\(\)")
    def _initiate(self, smu: str) -> None:
        """Run the sweep: arm.count x count points, source then measure each."""
        s = self.smu[smu]
        for _ in range(s.arm_count):
            for n in range(s.count):
                if s.source_action and s.sweep:
                    s.v_now = s.sweep[n % len(s.sweep)]
                    self._apply(smu)
                    self.bench.dwell(s.source_delay_s)
                if s.measure_action:
                    sample = self._measure(smu, s.trigger_limiti)
                    if s.measure_buffer:
                        owner, buf = s.measure_buffer.split(".")
                        self.smu[owner].buffers[buf].append(sample)
        if s.endsweep_action == CONSTANTS["SOURCE_IDLE"]:
            s.v_now = s.levelv
            self._apply(smu)
