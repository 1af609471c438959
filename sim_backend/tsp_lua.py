"""Lua for the simulated TSP instruments: one sandboxed Lua runtime (``lupa``) per instrument.

A Keithley TSP instrument runs Lua: user scripts (``loadscript NAME`` ... ``endscript``, run with
``NAME()`` or ``NAME.run()``), functions they define, loops and conditions. `TspLua` holds one
instrument's runtime environment: the Lua standard library the instrument offers (base functions,
``math``, ``string``, ``table``; no ``os``, ``io``, ``require``, ``load*``, ``debug``), the
common TSP objects (``print``, ``errorqueue``, ``delay``, ``timer``, ``digio``, ``node``,
``tsplink``, ``reset()``, ``waitcomplete()``) and whatever the instrument adds (the SMU channels
of a 2600B) through an instrument prelude written against the helpers defined here.

Every TSP object is a Lua proxy (built once) whose attribute reads, writes and calls go to
Python functions of the instrument: the same state and code paths as plain statements, each
call charging the instrument's per-command time. A Python function returns ``(True, values...)``
or ``(False, message)``; the Lua side turns the latter into a Lua error at the script line that
made the call. An instrument error other than a TSP runtime error (a level out of range) is
queued with its own code when it happens (as the instrument does), then aborts the chunk.
``digio.trigger[N].assert()`` pulses the line (``SimBench.assert_trigger``) unless the line's
mode is ``digio.TRIG_BYPASS`` (the default: the line is then plain digital I/O, per the manual).

Lua version: the Series 2600B's TSP is Lua 5.0 based; lupa's closest is Lua 5.1, whose
``tostring`` prints numbers with ``%.14g`` as TSP's ``print`` does and which keeps 5.0's
``math.mod`` and ``table.getn``. Error messages are given the 5.0 quoting (```x'``) the
instrument reports. A chunk is aborted after `INSTRUCTION_LIMIT` Lua instructions (the simulator
cannot receive an ``abort`` while a script runs; a real endless loop would hang the test).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .scpi import ScpiError

if TYPE_CHECKING:
    from .instrument import TspInstrument

#: Lua instructions one top-level call may execute before it is aborted (simulator guard)
INSTRUCTION_LIMIT = 500_000_000
_HOOK_STEP = 1_000_000
PRELUDE_CHUNK = "tsp-prelude"
#: digio.TRIG_* (Series 2600B Reference Manual, digio.trigger[N].mode)
DIGIO_MODES = {"TRIG_BYPASS": 0, "TRIG_FALLING": 1, "TRIG_RISING": 2, "TRIG_EITHER": 3,
               "TRIG_SYNCHRONOUSA": 4, "TRIG_SYNCHRONOUS": 5, "TRIG_SYNCHRONOUSM": 6,
               "TRIG_RISINGA": 7, "TRIG_RISINGM": 8}  # fmt: skip
DIGIO_PULSEWIDTH_S = 10e-6  # default output trigger pulse width


class LuaScriptError(Exception):
    """A chunk did not compile (`syntax`) or stopped with a Lua error; `line` where known."""

    def __init__(self, syntax: bool, line: int | None, message: str, queued: bool = False):
        self.syntax = syntax
        self.line = line
        self.message = message
        #: the error is already in the instrument's error queue (an instrument error)
        self.queued = queued
        super().__init__(self.text)

    @property
    def code(self) -> int:
        return -285 if self.syntax else -286

    @property
    def text(self) -> str:
        """The error queue message, as the instrument words it."""
        kind = "Syntax" if self.syntax else "Runtime"
        at = f" at line {self.line}" if self.line is not None else ""
        return f"TSP {kind} error{at}: {self.message}"


# -- reading Lua without running it ------------------------------------------------------------
_TOKEN = re.compile(
    r"""(?P<comment>--\[(?P<e1>=*)\[.*?\](?P=e1)\]|--[^\n]*)
      |(?P<string>\[(?P<e2>=*)\[.*?\](?P=e2)\]|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
      |(?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
      |(?P<name>[A-Za-z_]\w*)
      |(?P<op>==|~=|<=|>=|\.\.\.|\.\.|[-+*/^%\#<>=(){}\[\];:,.])
      |(?P<space>\s+)
      |(?P<other>.)""",
    re.S | re.X,
)
#: keywords that open or close Lua blocks: a chunk with one is run as Lua as a whole
BLOCK_KEYWORDS = frozenset({"function", "for", "while", "repeat", "until", "if", "then", "else",
                            "elseif", "do", "end", "local", "return", "break"})  # fmt: skip
_VALUE_KEYWORDS = frozenset({"and", "or", "not", "nil", "true", "false"})
_MAYBE_BLOCK = re.compile(r"\b(?:" + "|".join(sorted(BLOCK_KEYWORDS)) + r")\b")


@functools.lru_cache(maxsize=4096)
def scan(text: str) -> tuple[bool, frozenset[str], frozenset[str], frozenset[str]]:
    """(has a block keyword, global names the chunk reads, names it assigns as a whole, the
    read names it indexes or calls: those raise a Lua error if they are nil).

    Exact for the simple statements a message without blocks holds (calls, assignments,
    expressions, ';'-separated); for a chunk with blocks only the first item is meaningful.
    """
    tokens = _tokens(text)
    if any(kind == "name" and value in BLOCK_KEYWORDS for kind, value in tokens):
        return True, frozenset(), frozenset(), frozenset()
    reads: set[str] = set()
    targets: set[str] = set()
    used: set[str] = set()
    for stmt in _statements(tokens):
        assigned = _assignment_targets(stmt)
        targets.update(assigned)
        depth = 0
        for i, (kind, value) in enumerate(stmt):
            if kind == "op":
                depth += value in "([{"
                depth -= value in ")]}"
                continue
            if kind != "name" or value in _VALUE_KEYWORDS:
                continue
            before = stmt[i - 1][1] if i else ""
            after = stmt[i + 1][1] if i + 1 < len(stmt) else ""
            if before in (".", ":"):
                continue  # a field or method name
            if after == "=" and depth > 0:
                continue  # a field name in a table constructor
            if depth == 0 and value in assigned and i < 2 * len(assigned):
                continue  # assigned, not read
            reads.add(value)
            if after in (".", ":", "(", "[", "{") or stmt[i + 1 : i + 2] == [("string", after)]:
                used.add(value)
    return False, frozenset(reads), frozenset(targets), frozenset(used)


def _tokens(text: str) -> list[tuple[str, str]]:
    return [
        (m.lastgroup or "", m.group())
        for m in _TOKEN.finditer(text)
        if m.lastgroup not in ("space", "comment")
    ]


def _statements(tokens: list[tuple[str, str]]) -> Iterable[list[tuple[str, str]]]:
    stmt: list[tuple[str, str]] = []
    for token in tokens:
        if token == ("op", ";"):
            if stmt:
                yield stmt
            stmt = []
        else:
            stmt.append(token)
    if stmt:
        yield stmt


def _assignment_targets(stmt: list[tuple[str, str]]) -> set[str]:
    """Bare names assigned by ``a, b = ...`` (not ``a.b = ...``)."""
    names: set[str] = set()
    for i, (kind, value) in enumerate(stmt):
        if i % 2 == 0:
            if kind != "name" or value in _VALUE_KEYWORDS:
                return set()
            names.add(value)
        elif value == "=":
            return names
        elif value != ",":
            return set()
    return set()


def has_blocks(text: str) -> bool:
    """True if `text` holds a Lua block keyword (function, for, if, local, ...)."""
    return bool(_MAYBE_BLOCK.search(text)) and scan(text)[0]


# -- the runtime --------------------------------------------------------------------------------
_BASE_PRELUDE = r"""
local api = ...
local G = _G
local error, tostring, select, type, pairs = error, tostring, select, type, pairs
local setmetatable, rawget, concat = setmetatable, rawget, table.concat
local getinfo = debug.getinfo
local PRELUDE = "PRELUDE_CHUNK"

local env = {}
for _, k in ipairs({"assert", "error", "ipairs", "next", "pairs", "pcall", "select",
                    "tonumber", "tostring", "type", "unpack", "xpcall", "rawequal", "rawget",
                    "rawset", "setmetatable", "getmetatable", "collectgarbage", "gcinfo"}) do
  env[k] = G[k]
end
local function copy(t) local c = {} for k, v in pairs(t) do c[k] = v end return c end
env.math, env.string, env.table = copy(math), copy(string), copy(table)
env.string.dump = nil
env._G = env

-- where a script made the failing call: the innermost frame that is not this prelude
local function where()
  for level = 2, 30 do
    local info = getinfo(level, "Sl")
    if not info then break end
    if info.what ~= "C" and info.short_src ~= PRELUDE and (info.currentline or -1) > 0 then
      return info.short_src .. ":" .. info.currentline .. ": "
    end
  end
  return ""
end
local function fail(msg) error(where() .. tostring(msg), 0) end
local function pass(ok, ...)
  if not ok then fail((...)) end
  return ...
end
local function checked(f) return function(...) return pass(f(...)) end end

-- an instrument object: fixed members in `fields`, other keys read/written through Python
local function proxy(fields, getter, setter, what)
  local index = fields
  if getter then
    index = function(_, k)
      local v = fields[k]
      if v ~= nil then return v end
      return getter(k)
    end
  end
  return setmetatable({}, {
    __index = index,
    __newindex = function(_, k, v)
      if setter then return setter(k, v) end
      fail("cannot set " .. (what or "a field") .. "." .. tostring(k))
    end,
    __metatable = false,
  })
end
-- reading buffers and the like, by identity (for printbuffer, measure.i(buffer), ...)
local refs = setmetatable({}, {__mode = "k"})

env.print = function(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  api.emit(concat(parts, "\t"))
end
local count = checked(api.eq_count)
env.errorqueue = proxy({next = checked(api.eq_next), clear = checked(api.eq_clear)},
  function(k) if k == "count" then return count() end end, nil, "errorqueue")
env.reset = checked(api.reset)
env.waitcomplete = checked(api.noop)
env.opc = checked(api.noop)
env.delay = checked(api.delay)
env.timer = proxy({reset = checked(api.timer_reset),
                   measure = proxy({t = checked(api.timer_t)}, nil, nil, "timer.measure")},
                  nil, nil, "timer")

local dset, dget, dcall = checked(api.digio_set), checked(api.digio_get), checked(api.digio_call)
local lines = {}
for n = 1, api.digio_lines do
  lines[n] = proxy({
    assert = function() return dcall(n, "assert") end,
    clear = function() return dcall(n, "clear") end,
    release = function() return dcall(n, "release") end,
    reset = function() return dcall(n, "reset") end,
    wait = function(timeout) return dcall(n, "wait", timeout) end,
  }, function(k) return dget(n, k) end, function(k, v) return dset(n, k, v) end,
  "digio.trigger[" .. n .. "]")
end
local digio = {trigger = proxy(lines, nil, nil, "digio.trigger")}
for k, v in pairs(api.digio_modes) do digio[k] = v end
env.digio = proxy(digio, nil, nil, "digio")

local node_kind, node_channel = checked(api.node_kind), checked(api.node_channel)
env.node = setmetatable({}, {
  __index = function(t, n)
    local kind = node_kind(n)
    local obj = env
    if kind == "switch" then
      local function op(name) return function(spec) return node_channel(n, name, spec) end end
      obj = proxy({channel = proxy({close = op("close"), open = op("open"),
                                    exclusiveclose = op("exclusiveclose"),
                                    getclose = op("getclose")}, nil, nil, "channel")},
                  nil, nil, "node[" .. tostring(n) .. "]")
    end
    rawset(t, n, obj)
    return obj
  end,
  __newindex = function(_, k) fail("cannot set node[" .. tostring(k) .. "]") end,
  __metatable = false,
})
local tsplink_get = checked(api.tsplink_get)
env.tsplink = proxy({reset = checked(api.tsplink_reset), initialize = checked(api.tsplink_reset)},
                    function(k) return tsplink_get(k) end, nil, "tsplink")
env.script = {}

-- the simulator's guard against endless loops
local budget = 0
debug.sethook(function()
  budget = budget - 1
  if budget < 0 then error("script aborted by the simulator: instruction limit reached", 2) end
end, "", HOOK_STEP)

local H = {env = env, fail = fail, checked = checked, proxy = proxy, refs = refs}
function H.compile(source, name)
  local fn, err = loadstring(source, "=" .. name)
  if not fn then return nil, err end
  setfenv(fn, env)
  return fn
end
function H.run(limit, fn, ...)
  budget = limit
  return fn(...)
end
function H.script(name, fn, source)
  local s = {name = name, source = source}
  s.run = function() return fn() end
  return setmetatable(s, {__call = function() return fn() end})
end
return H
""".replace("PRELUDE_CHUNK", PRELUDE_CHUNK).replace("HOOK_STEP", str(_HOOK_STEP))


def _deny(obj: Any, name: Any, setting: bool) -> Any:
    """lupa attribute filter: Lua never reaches into a Python object."""
    raise AttributeError(f"{name} is not accessible")


def _quote_50(message: str) -> str:
    """Lua 5.1 quotes names as 'x'; the instrument's Lua 5.0 as `x'."""
    return re.sub(r"'([^'\n]*)'", r"`\1'", message)


def _position(message: str) -> tuple[int | None, str]:
    message = message.split("\nstack traceback:", 1)[0]
    m = re.match(r"[^:\n]*:(\d+): (.*)", message, re.S)
    return (int(m.group(1)), m.group(2)) if m else (None, message)


class TspLua:
    """One instrument's Lua runtime environment (see the module docstring).

    `api` maps names the instrument prelude uses to Python functions (wrapped here so that a
    `ScpiError` or a bad argument becomes a Lua error) and `tables` names constant tables for
    it; `prelude` is Lua run once with ``(env, api, H)`` that adds the instrument's own objects
    to ``env``.
    """

    def __init__(self, inst: TspInstrument, api: dict[str, Callable[..., Any]], prelude: str,
                 tables: dict[str, dict[str, Any]] | None = None,
                 digio_lines: int = 14) -> None:  # fmt: skip
        from lupa import lua51

        self.inst = inst
        self._lua_error = lua51.LuaError
        self.runtime = lua51.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            attribute_filter=_deny,
        )
        self.output: list[str] = []
        self.timer_t0 = inst.bench.clock.now_s
        self.digio: dict[int, dict[str, float]] = {}
        self.digio_lines = digio_lines
        self.reset_state()
        #: messages of instrument errors queued during the current run (not queued twice)
        self._queued: set[str] = set()
        common = {
            "emit": self.output.append,
            "eq_count": self._eq_count, "eq_next": self._eq_next, "eq_clear": self._eq_clear,
            "reset": self._reset, "noop": self._noop, "delay": self._delay,
            "timer_reset": self._timer_reset, "timer_t": self._timer_t,
            "digio_set": self._digio_set, "digio_get": self._digio_get,
            "digio_call": self._digio_call,
            "node_kind": self._node_kind, "node_channel": self._node_channel,
            "tsplink_get": self._tsplink_get, "tsplink_reset": self._tsplink_reset,
        }  # fmt: skip
        table = {k: (fn if k == "emit" else self.wrap(fn)) for k, fn in common.items()}
        table.update({k: self.wrap(fn) for k, fn in api.items()})
        lua_api = self.runtime.table_from(table)
        lua_api["digio_lines"] = digio_lines
        lua_api["digio_modes"] = self.runtime.table_from(DIGIO_MODES)
        for key, values in (tables or {}).items():
            lua_api[key] = self.runtime.table_from(values)
        self.helpers = self._prelude(_BASE_PRELUDE, lua_api)
        self.env = self.helpers["env"]
        self._compile, self._run = self.helpers["compile"], self.helpers["run"]
        self._script = self.helpers["script"]
        self._prelude(prelude, self.env, lua_api, self.helpers)
        #: the names the environment starts with (everything else a script defined)
        self.builtins = frozenset(str(k) for k in self.env)

    def _prelude(self, source: str, *args: Any) -> Any:
        loadstring = self.runtime.globals()["loadstring"]
        fn, err = _two(loadstring(source, "=" + PRELUDE_CHUNK))
        if fn is None:  # pragma: no cover - a bug in a prelude
            raise RuntimeError(f"TSP prelude: {err}")
        return fn(*args)

    def reset_state(self) -> None:
        """Instrument reset: the timer and the digital I/O trigger lines to their defaults."""
        self.timer_t0 = self.inst.bench.clock.now_s
        for n in range(1, self.digio_lines + 1):
            self.digio[n] = {"mode": 0, "pulsewidth": DIGIO_PULSEWIDTH_S, "stimulus": 0}

    # -- Python functions called from Lua -----------------------------------------------------
    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """`fn` for Lua: (True, results...) or (False, message)."""

        def call(*args: Any) -> Any:
            try:
                out = fn(*args)
            except ScpiError as e:
                return False, self.instrument_error(e)
            except (TypeError, ValueError) as e:
                return False, f"bad argument ({e})"
            if out is None:
                return (True,)
            if type(out) is tuple:
                return (True, *out)
            return True, out

        return call

    def instrument_error(self, e: ScpiError) -> str:
        """The Lua error message for an instrument error; all but TSP runtime errors are queued
        now with their own code (the runtime error is queued with its line when it ends the
        chunk)."""
        message = f"{e.message}; {e.detail}" if e.detail else e.message
        if e.code == -286:
            return e.detail or e.message
        self.inst.errors.push(e.code, e.message)
        self._queued.add(message)
        return message

    def charge(self) -> None:
        """The instrument's processing time for one command."""
        self.inst.bench.clock.advance(self.inst.command_time_s)

    def _eq_count(self) -> int:
        self.charge()
        return len(self.inst.errors)

    def _eq_next(self) -> tuple[int, str, int, int]:
        self.charge()
        code, msg = self.inst.errors.pop()
        return code, msg, 0, 0

    def _eq_clear(self) -> None:
        self.charge()
        self.inst.errors.clear()

    def _reset(self) -> None:
        self.charge()
        self.inst.record_effect("reset()")
        self.inst.reset()

    def _noop(self) -> None:
        self.charge()

    def _delay(self, seconds: Any) -> None:
        self.charge()
        self.inst.bench.dwell(number(seconds))

    def _timer_reset(self) -> None:
        self.charge()
        self.timer_t0 = self.inst.bench.clock.now_s

    def _timer_t(self) -> float:
        self.charge()
        return self.inst.bench.clock.now_s - self.timer_t0

    def _line(self, n: Any) -> dict[str, float]:
        return self.digio[int(number(n))]

    def _digio_set(self, n: Any, key: Any, value: Any) -> None:
        self.charge()
        line, v = self._line(n), number(value)
        text = f"digio.trigger[{int(n)}].{key} = {lua_number(v)}"
        try:
            if key == "mode":
                if v not in DIGIO_MODES.values():
                    raise ScpiError((-222, "Data out of range"), f"{text}: modes 0..8")
                line["mode"] = int(v)
            elif key == "pulsewidth":
                if not 0 <= v <= 100_000:
                    raise ScpiError((-222, "Data out of range"), f"{text}: 0..100000 s")
                line["pulsewidth"] = v
            elif key == "stimulus":
                line["stimulus"] = int(v)
            else:
                raise ScpiError(
                    (-286, "TSP Runtime error"), f"digio.trigger[N].{key} cannot be set"
                )
        except ScpiError:
            self.inst.record_effect(text, refused=True)
            raise
        self.inst.record_effect(text)

    def _digio_get(self, n: Any, key: Any) -> Any:
        self.charge()
        line = self._line(n)
        if key == "overrun":
            return False
        return line.get(str(key))

    def _digio_call(self, n: Any, op: str, arg: Any = None) -> Any:
        self.charge()
        line = self._line(n)
        if op == "assert":
            self.inst.record_effect(f"digio.trigger[{int(n)}].assert()")
            if line["mode"] != DIGIO_MODES["TRIG_BYPASS"]:  # bypass: the line is plain I/O
                assert_trigger = getattr(self.inst.bench, "assert_trigger", None)
                if assert_trigger is not None:
                    assert_trigger(f"{self.inst.name}.dio{int(n)}")
        elif op == "reset":
            self.digio[int(n)] = {"mode": 0, "pulsewidth": DIGIO_PULSEWIDTH_S, "stimulus": 0}
        elif op == "wait":  # nothing drives the simulated lines: wait out the timeout
            self.inst.bench.dwell(max(0.0, number(arg)))
            return False
        return None  # clear, release

    def node(self, n: Any) -> Any:
        """The instrument at TSP-Link node `n` (ScpiError if none)."""
        lookup = getattr(self.inst.bench, "tsplink_node", None)
        found = lookup(self.inst.name, int(number(n))) if lookup is not None else None
        if found is None:
            raise ScpiError((-286, "TSP Runtime error"), f"node {lua_number(number(n))} not found")
        return found

    def _node_kind(self, n: Any) -> str:
        from .instruments.keithley707b import Keithley707BSim

        inst = self.node(n)
        if inst is self.inst:
            return "local"
        if isinstance(inst, Keithley707BSim):
            return "switch"
        raise ScpiError((-286, "TSP Runtime error"),
                        f"node[{int(n)}] ({type(inst).__name__}) is not simulated over TSP-Link")  # fmt: skip

    def _node_channel(self, n: Any, op: str, spec: Any) -> Any:
        self.charge()
        if not isinstance(spec, str):
            raise TypeError(f"channel.{op}: a channel list string expected")
        switch = self.node(n)
        if op == "getclose":
            closed = switch._getclose(spec)
            return None if closed == "nil" else closed
        action = {"close": switch._close, "open": switch._open,
                  "exclusiveclose": switch._exclusive_close}[op]  # fmt: skip
        text = f'node[{int(n)}].channel.{op}("{spec}")'
        try:
            action(spec)
        except ScpiError:
            self.inst.record_effect(text, refused=True)
            raise
        self.inst.record_effect(text)
        return None

    def _tsplink_get(self, key: Any) -> Any:
        self.charge()
        network = getattr(self.inst.bench, "tsplink", {}) or {}
        if key == "state":
            return "online" if self.inst.name in network else "offline"
        if key == "node":
            return network.get(self.inst.name, 1)
        return None

    def _tsplink_reset(self, *args: Any) -> int:
        self.charge()
        network = getattr(self.inst.bench, "tsplink", {}) or {}
        return len(network) if self.inst.name in network else 0

    # -- compiling and running --------------------------------------------------------------
    def compile(self, source: str, name: str = "tsp") -> Any:
        """The compiled chunk (not run); LuaScriptError(syntax) if it does not compile."""
        fn, err = _two(self._compile(source, name))
        if fn is None:
            line, message = _position(str(err))
            raise LuaScriptError(True, line, _quote_50(message))
        return fn

    def run(self, fn: Any, *args: Any) -> Any:
        """Call a compiled chunk or Lua function; LuaScriptError if a Lua error ends it (printed
        output so far stays in `output`)."""
        self._queued.clear()
        try:
            return self._run(INSTRUCTION_LIMIT // _HOOK_STEP, fn, *args)
        except self._lua_error as e:
            line, message = _position(str(e))
            queued = message in self._queued
            if message.startswith(("attempt to", "bad argument", "stack overflow")):
                message = _quote_50(message)
            raise LuaScriptError(False, line, message, queued) from None

    def take_output(self) -> list[str]:
        out = list(self.output)
        self.output.clear()
        return out

    def store_script(self, name: str | None, fn: Any, source: str) -> None:
        """A loaded script: the global `name` (or ``script.anonymous``)."""
        script = self._script(name or "anonymous", fn, source)
        if name:
            self.env[name] = script
        else:
            self.env["script"]["anonymous"] = script

    def defined(self, name: str) -> bool:
        return self.env[name] is not None

    def user_defined(self, names: Iterable[str]) -> bool:
        """True if one of `names` is a global a script (or a statement) defined."""
        env, builtins = self.env, self.builtins
        return any(n not in builtins and env[n] is not None for n in names)


def _two(result: Any) -> tuple[Any, Any]:
    """Lua's ``fn`` or ``nil, message`` as a pair."""
    if isinstance(result, tuple):
        return (result + (None, None))[:2]
    return result, None


def number(value: Any) -> float:
    """A Lua argument that must be a number (numeric strings convert, as in Lua)."""
    if isinstance(value, bool) or value is None:
        raise TypeError(f"number expected, got {'boolean' if isinstance(value, bool) else 'nil'}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return float(value)
    raise TypeError("number expected")


def lua_number(v: float) -> str:
    """How TSP prints a number (``%.14g``)."""
    return f"{v:.14g}"
