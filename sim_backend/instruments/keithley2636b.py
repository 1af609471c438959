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

Real scripts (Lua, run by ``sim_backend/tsp_lua.py``): ``loadscript NAME`` ... ``endscript``
compiles a user script (a syntax error: -285, nothing stored); ``NAME()`` / ``NAME.run()`` runs
it in the instrument's global environment, so the functions it defines can be called by later
messages (``print(f(1, 2))``, ``x = f(...)``). A message or ``loadandrunscript`` body with Lua
blocks (function, for, if, local, while, ...) runs as one Lua chunk; a statement the handler
table does not know (or assigns an expression), or one that reads a global a script defined,
runs through Lua when every global it indexes or calls exists (otherwise -285 as before:
``bogus.call()``). In Lua, ``smua``/``smub`` (source, measure,
trigger, reading buffers, constants), ``format``, ``localnode``, ``printbuffer``,
``printnumber``, ``delay``, ``timer``, ``digio.trigger[1..14]``, ``node[N]`` (this instrument,
or a 707B's ``channel`` on the TSP-Link network) and ``errorqueue`` reach the same state and
code paths as the statements; each call costs one command time. A Lua error ends the chunk
with -286 (an instrument error such as a level out of range keeps its own code). Every level,
output, sweep, trigger and relay a script sets is reported (``record_effect``) as the plain
statement that would have set it, so the command audit sees it.

Numbers print the Lua way (``%.14g``); ``printbuffer`` uses ``format.asciiprecision`` digits.
Terminals are ``<name>.a`` and ``<name>.b`` (``<name>.1``/``<name>.2`` are accepted aliases).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..instrument import TSP_RUNTIME_ERROR, TSP_SYNTAX_ERROR, TspInstrument, _tsp_statements, tsp
from ..scpi import DATA_OUT_OF_RANGE, ScpiError
from ..tsp_lua import LuaScriptError, TspLua, has_blocks, lua_number, number, scan

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
DIGIO_LINES = 14
SCRIPT_START = re.compile(r"(loadscript|loadandrunscript)(?:\s+([A-Za-z_]\w*))?")
BUFFER_COLUMNS = {"readings": "reading", "sourcevalues": "source_v", "timestamps": "t_s"}
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


def _plain_value(expr: str) -> bool:
    """A number literal or a ``smuX.CONSTANT`` (what ``_value`` reads without Lua)."""
    expr = expr.strip()
    if re.fullmatch(NUMBER, expr):
        return True
    m = re.fullmatch(r"smu[ab]\.(\w+)", expr)
    return bool(m and m.group(1) in CONSTANTS)


def _lua(value: float | bool) -> str:
    """How TSP's print() renders a value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:.14g}"


class Keithley2636BSim(TspInstrument):
    idn = "Keithley Instruments Inc., Model 2636B, 4123456, 4.0.4"
    #: the Lua runtime environment (made when first needed; scripts survive reset(), as on
    #: the instrument, which loses them only at power-off)
    _lua: TspLua | None = None

    def reset(self) -> None:
        super().reset()
        self.line_frequency_hz = float(self.options.get("line_frequency_hz", 60.0))
        self.smu = {"smua": Smu(), "smub": Smu()}
        self.format_data = 1
        self.ascii_precision = 6
        self.t0 = self.bench.clock.now_s
        self.localnode = {"prompts": 0, "showerrors": 0}
        #: a script being received: (loadscript | loadandrunscript, name, lines)
        self._collect: tuple[str, str | None, list[str]] | None = None
        if self._lua is not None:
            self._lua.reset_state()
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
        """Run plain statements as they come; collect ``loadscript``/``loadandrunscript``
        bodies and compile (and run) each as a whole at its ``endscript``."""
        replies: list[str] = []
        plain: list[str] = []

        def flush() -> None:
            if plain:
                self._chunk("\n".join(plain), replies)
                plain.clear()

        for line in message.replace("\r", "\n").split("\n"):
            text = line.strip()
            if self._collect is not None:
                if text == "endscript":
                    kind, name, body = self._collect
                    self._collect = None
                    self._end_script(kind, name, "\n".join(body), replies)
                else:
                    self._collect[2].append(line)
                continue
            m = SCRIPT_START.fullmatch(text)
            if m:
                flush()
                self._collect = (m.group(1), m.group(2), [])
            elif text:
                plain.append(line)
        flush()
        return "\n".join(replies) if replies else None

    def _chunk(self, text: str, replies: list[str]) -> None:
        """One chunk of plain statements: with Lua blocks, one Lua chunk; otherwise statement
        by statement (`_statement`)."""
        if has_blocks(text):
            self._lua_chunk(text, replies)
            return
        reply = super().handle(text)
        if reply is not None:
            replies.append(reply)

    def _statement(self, stmt: str, out: list[str]) -> bool:
        if self._lua is not None and self._lua.user_defined(scan(stmt)[1]):
            return self._lua_chunk(stmt, out)  # uses what a script defined
        hit = self._match(stmt)
        if not self._table_takes(hit) and self._lua_can_run(stmt):
            return self._lua_chunk(stmt, out)
        return self._table_statement(stmt, hit, out)

    def _table_takes(self, hit: tuple[re.Match[str], str] | None) -> bool:
        """True if the handler table runs the statement as Lua would: it matched, and an
        assignment's value is a number or a constant (``smua.source.levelv = v * 2`` and
        ``a = 1 b = 2`` on one line are Lua's)."""
        if hit is None:
            return False
        m, attr = hit
        return attr != "_assign" or _plain_value(m["expr"])

    def _end_script(self, kind: str, name: str | None, source: str, replies: list[str]) -> None:
        if kind == "loadscript":
            lua = self._tsp_lua()
            try:
                fn = lua.compile(source, name or "script")
            except LuaScriptError as e:
                self.errors.push(e.code, e.text)
                return
            lua.store_script(name, fn, source)
            return
        stmts = _tsp_statements(source)
        lua_needed = has_blocks(source)
        assigned: set[str] = set()
        for stmt in stmts if not lua_needed else ():
            _, reads, targets, _ = scan(stmt)
            if reads & assigned or (self._lua is not None and self._lua.user_defined(reads)):
                lua_needed = True
            elif not self._table_takes(self._match(stmt)):
                if not self._lua_can_run(stmt, assigned):
                    self.error(
                        TSP_SYNTAX_ERROR, f"script not run: unexpected statement near '{stmt[:40]}'"
                    )
                    return
                lua_needed = True
            assigned |= targets
        fn = None
        if lua_needed or name:
            try:
                fn = self._tsp_lua().compile(source, name or "script")
            except LuaScriptError as e:
                self.errors.push(e.code, e.text)
                return
            if name:
                self._tsp_lua().store_script(name, fn, source)
        if lua_needed:
            self._lua_run(fn, replies)
        elif stmts:
            reply = super().handle(source)
            if reply is not None:
                replies.append(reply)

    # -- Lua -----------------------------------------------------------------------------------
    def _tsp_lua(self) -> TspLua:
        if self._lua is None:
            api = {
                "smu_get": self._lua_get, "smu_set": self._lua_set, "smu_call": self._lua_call,
                "format_get": self._lua_format_get, "format_set": self._lua_format_set,
                "localnode_get": self._lua_localnode_get,
                "localnode_set": self._lua_localnode_set,
                "printbuffer": self._lua_printbuffer, "printnumber": self._lua_printnumber,
            }  # fmt: skip
            self._lua = TspLua(self, api, _SMU_PRELUDE,
                               tables={"constants": CONSTANTS, "formats": FORMATS},
                               digio_lines=DIGIO_LINES)  # fmt: skip
        return self._lua

    def _lua_can_run(self, stmt: str, assigned: set[str] | frozenset[str] = frozenset()) -> bool:
        """True if every global `stmt` indexes or calls exists (or is `assigned` before it):
        ``print(x)`` with x nil runs (and prints nil), ``bogus.call()`` is not understood."""
        blocks, _, _, used = scan(stmt)
        if blocks:
            return True
        lua = self._tsp_lua()
        return all(n in assigned or lua.defined(n) for n in used)

    def _lua_chunk(self, text: str, out: list[str]) -> bool:
        """Compile and run `text` as one Lua chunk; False if it failed (error queued)."""
        try:
            fn = self._tsp_lua().compile(text)
        except LuaScriptError as e:
            self.errors.push(e.code, e.text)
            return False
        return self._lua_run(fn, out)

    def _lua_run(self, fn: Any, out: list[str]) -> bool:
        lua = self._tsp_lua()
        try:
            lua.run(fn)
            ok = True
        except LuaScriptError as e:
            if not e.queued:
                self.errors.push(e.code, e.text)
            ok = False
        out.extend(lua.take_output())
        return ok

    def _lua_get(self, smu: str, attr: str, index: Any = None) -> Any:
        self._tsp_lua().charge()
        s = self.smu[smu]
        if index is not None:  # smuX.nvbufferN.<column>[index]
            buf, column = attr.split(".")
            samples, k = s.buffers[buf], int(number(index))
            return (
                getattr(samples[k - 1], BUFFER_COLUMNS[column]) if 1 <= k <= len(samples) else None
            )
        try:
            return self._get_attr(s, smu, attr)
        except ScpiError:
            return None  # no such attribute: nil, as Lua reads a missing field

    def _lua_set(self, smu: str, attr: str, value: Any) -> None:
        self._tsp_lua().charge()
        v = number(value)
        try:
            self._set_attr(self.smu[smu], smu, attr, v)
        except ScpiError:
            self.record_effect(f"{smu}.{attr} = {lua_number(v)}", refused=True)
            raise
        if self.own_command_hook is not None:
            self.record_effect(f"{smu}.{attr} = {lua_number(v)}")

    def _lua_call(self, smu: str, op: str, *args: Any) -> Any:  # noqa: C901
        self._tsp_lua().charge()
        if op in ("i", "v"):
            sample = self._measure(smu) if op == "i" else self._measure_v(smu)
            if args and args[0] is not None:
                owner, buf = str(args[0]).split(".")
                self.smu[owner].buffers[buf].append(sample)
            return sample.reading
        text = {"reset": f"{smu}.reset()", "initiate": f"{smu}.trigger.initiate()"}.get(op)
        if op == "listv":
            table = args[0]
            levels = [number(table[k]) for k in range(1, len(table) + 1)]
            text = f"{smu}.trigger.source.listv({{{', '.join(map(lua_number, levels))}}})"
            action = lambda: self._set_sweep(smu, levels)  # noqa: E731
        elif op == "linearv":
            a, b, n = (number(x) for x in args[:3])
            text = (
                f"{smu}.trigger.source.linearv({lua_number(a)}, {lua_number(b)}, {lua_number(n)})"
            )
            action = lambda: self._linear_sweep(smu, a, b, n)  # noqa: E731
        elif op == "reset":
            action = lambda: self._smu_reset(smu)  # noqa: E731
        elif op == "initiate":
            action = lambda: self._initiate(smu)  # noqa: E731
        elif op == "clear":
            action = lambda: self._clear(smu, str(args[0]))  # noqa: E731
        elif op == "trigger_i":
            owner, buf = str(args[0]).split(".")
            action = lambda: self._trigger_measure(smu, owner, buf)  # noqa: E731
        else:  # abort
            action = lambda: None  # noqa: E731
        try:
            action()
        except ScpiError:
            if text:
                self.record_effect(text, refused=True)
            raise
        if text:
            self.record_effect(text)
        return None

    def _lua_format_get(self, key: str) -> Any:
        self._tsp_lua().charge()
        return {"data": self.format_data, "asciiprecision": self.ascii_precision}.get(key)

    def _lua_format_set(self, key: str, value: Any) -> None:
        self._tsp_lua().charge()
        v = number(value)
        if key == "data":
            if v not in FORMATS.values():
                raise ScpiError(DATA_OUT_OF_RANGE, f"format.data = {lua_number(v)}")
            self.format_data = int(v)
        elif key == "asciiprecision":
            self.ascii_precision = int(self._within("format.asciiprecision", int(v), 1, 16))
        else:
            raise ScpiError(TSP_RUNTIME_ERROR, f"format.{key} cannot be set")

    def _lua_localnode_get(self, key: str) -> Any:
        self._tsp_lua().charge()
        fixed = {"model": "2636B", "linefreq": self.line_frequency_hz, "revision": "4.0.4",
                 "serialno": "4123456", "description": f"System SourceMeter {self.name}"}  # fmt: skip
        return fixed[key] if key in fixed else self.localnode.get(key)

    def _lua_localnode_set(self, key: str, value: Any) -> None:
        self._tsp_lua().charge()
        v = number(value)
        if key == "linefreq":
            if v not in (50, 60):
                raise ScpiError(DATA_OUT_OF_RANGE, f"localnode.linefreq = {lua_number(v)}")
            self.line_frequency_hz = v
        elif key in ("prompts", "showerrors", "autolinefreq"):
            self.localnode[key] = int(self._within(f"localnode.{key}", int(v), 0, 1))
        else:
            raise ScpiError(TSP_RUNTIME_ERROR, f"localnode.{key} cannot be set")

    def _lua_printbuffer(self, first: Any, last: Any, refs: str) -> None:
        self._tsp_lua().charge()
        line = self._printbuffer(str(int(number(first))), str(int(number(last))), refs)
        self._tsp_lua().output.append(line)

    def _lua_printnumber(self, *values: Any) -> None:
        self._tsp_lua().charge()
        digits = self.ascii_precision - 1
        self._tsp_lua().output.append(", ".join(f"{number(v):.{digits}e}" for v in values))

    # -- values ------------------------------------------------------------------------------
    def _value(self, expr: str) -> float:
        """A number literal or a ``smuX.CONSTANT``; any other expression is evaluated by Lua
        if every global it reads exists (``smua.source.levelv = v_read * 2``)."""
        expr = expr.strip()
        m = re.fullmatch(r"smu[ab]\.(\w+)", expr)
        if m and m.group(1) in CONSTANTS:
            return float(CONSTANTS[m.group(1)])
        if re.fullmatch(NUMBER, expr):
            return float(expr)
        if not has_blocks(expr) and self._lua_can_run(expr):
            lua = self._tsp_lua()
            try:
                v = lua.run(lua.compile("return " + expr))
            except LuaScriptError:
                v = None
            lua.take_output()
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return float(v)
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

    def _measure_v(self, name: str) -> Sample:
        """measure.v(): the voltage at the output (the sourced level; 0 with the output off),
        over the same settling and aperture as a current reading."""
        s = self.smu[name]
        aperture = s.nplc / self.line_frequency_hz
        settle = AUTO_DELAY_S if s.measure_delay_s < 0 else s.measure_delay_s
        self.bench.dwell(settle + aperture)
        v = s.v_now if s.output == CONSTANTS["OUTPUT_ON"] else 0.0
        return Sample(v, v, self.bench.clock.now_s - self.t0)

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
        self.bench.dwell(float(s))  # the same as Lua's delay() (tsp_lua.TspLua._delay)

    # -- trigger model -----------------------------------------------------------------------
    @tsp(SMU + r"\.trigger\.source\.listv\(\s*\{(?P<values>[^}]*)\}\s*\)")
    def _listv(self, smu: str, values: str) -> None:
        self._set_sweep(smu, [self._value(x) for x in values.split(",") if x.strip()])

    def _set_sweep(self, smu: str, levels: list[float]) -> None:
        if not levels or any(not abs(v) <= V_MAX for v in levels):
            raise ScpiError(
                DATA_OUT_OF_RANGE, f"{smu}.trigger.source.listv: 1.. points within +-{V_MAX} V"
            )
        self.smu[smu].sweep = levels

    @tsp(SMU + r"\.trigger\.source\.linearv\(\s*(?P<a>" + NUMBER + r")\s*,\s*(?P<b>" + NUMBER
         + r")\s*,\s*(?P<n>\d+)\s*\)")  # fmt: skip
    def _linearv(self, smu: str, a: str, b: str, n: str) -> None:
        self._linear_sweep(smu, float(a), float(b), int(n))

    def _linear_sweep(self, smu: str, start: float, stop: float, points: float) -> None:
        if not (points >= 2 and max(abs(start), abs(stop)) <= V_MAX):
            raise ScpiError(DATA_OUT_OF_RANGE,
                            f"{smu}.trigger.source.linearv({start}, {stop}, {points})")  # fmt: skip
        n = int(points)
        self.smu[smu].sweep = [start + (stop - start) * k / (n - 1) for k in range(n)]

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


#: the 2636B's own objects in its Lua environment (see tsp_lua.py for `H` and the common ones)
_SMU_PRELUDE = r"""
local env, api, H = ...
local checked, proxy, refs, fail = H.checked, H.proxy, H.refs, H.fail
local sget, sset, scall = checked(api.smu_get), checked(api.smu_set), checked(api.smu_call)

local function ref(x)
  local r = x ~= nil and refs[x]
  if not r then fail("a reading buffer expected") end
  return r
end
local function opt_ref(x) if x == nil then return nil end return ref(x) end
local function attrs(smu, prefix, fields)
  return proxy(fields, function(k) return sget(smu, prefix .. k) end,
               function(k, v) return sset(smu, prefix .. k, v) end, smu .. "." .. prefix)
end
local function buffer(smu, name)
  local path = smu .. "." .. name
  local fields = {clear = function() return scall(smu, "clear", name) end}
  for _, column in ipairs({"readings", "sourcevalues", "timestamps"}) do
    local key = name .. "." .. column
    local t = proxy({}, function(k) return sget(smu, key, k) end, nil, path .. "." .. column)
    refs[t] = path .. "." .. column
    fields[column] = t
  end
  local b = proxy(fields, function(k)
    if type(k) == "number" then return sget(smu, name .. ".readings", k) end
    return sget(smu, name .. "." .. k)
  end, function(k, v) return sset(smu, name .. "." .. k, v) end, path)
  refs[b] = path
  return b
end
local function smu(name)
  local fields = {
    source = attrs(name, "source.", {}),
    measure = attrs(name, "measure.", {
      i = function(b) return scall(name, "i", opt_ref(b)) end,
      v = function(b) return scall(name, "v", opt_ref(b)) end,
    }),
    trigger = attrs(name, "trigger.", {
      source = attrs(name, "trigger.source.", {
        listv = function(t) return scall(name, "listv", t) end,
        linearv = function(a, b, n) return scall(name, "linearv", a, b, n) end,
      }),
      measure = attrs(name, "trigger.measure.", {
        i = function(b) return scall(name, "trigger_i", ref(b)) end,
      }),
      arm = attrs(name, "trigger.arm.", {}),
      endsweep = attrs(name, "trigger.endsweep.", {}),
      endpulse = attrs(name, "trigger.endpulse.", {}),
      initiate = function() return scall(name, "initiate") end,
    }),
    nvbuffer1 = buffer(name, "nvbuffer1"),
    nvbuffer2 = buffer(name, "nvbuffer2"),
    reset = function() return scall(name, "reset") end,
    abort = function() return scall(name, "abort") end,
  }
  for k, v in pairs(api.constants) do fields[k] = v end
  return attrs(name, "", fields)
end
env.smua, env.smub = smu("smua"), smu("smub")

local fget, fset = checked(api.format_get), checked(api.format_set)
local formats = {}
for k, v in pairs(api.formats) do formats[k] = v end
env.format = proxy(formats, function(k) return fget(k) end,
                   function(k, v) return fset(k, v) end, "format")
local lget, lset = checked(api.localnode_get), checked(api.localnode_set)
env.localnode = proxy({}, function(k) return lget(k) end,
                      function(k, v) return lset(k, v) end, "localnode")
local pb = checked(api.printbuffer)
env.printbuffer = function(first, last, ...)
  local names = {}
  for i = 1, select("#", ...) do names[i] = ref((select(i, ...))) end
  return pb(first, last, table.concat(names, ","))
end
env.printnumber = checked(api.printnumber)
"""
