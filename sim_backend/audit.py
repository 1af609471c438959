"""Safety audit of the commands the simulated instruments received.

Every simulated bench can record the program messages its instruments receive
(``CommandRecorder``, switched on for every ``ReramSimLibrary`` by the test suite). ``audit()``
then parses them in the forms our drivers send (Keithley 2450 and Keysight B2902 SCPI, Keithley
2636B TSP, Keysight 81160A and 33600A/33500B SCPI) and checks every voltage level, current
compliance, pulse width and pulse count:

- against the limits of the station the bench was built from (``reramsim.limits`` in the
  resource file, written by ``stations/simulate.py``): max |V| per instrument terminal, max
  compliance, pulse width range, max pulses per burst. A command beyond them is a violation
  whether or not the instrument accepted it: it should never have been sent;
- against the instrument's own ranges (resource files without limits, e.g. written by tests):
  a command beyond them is a violation only if the instrument accepted it (refusing it with an
  error, as the real one does, is correct behaviour).

The recorder also keeps the bench's events (``SimBench.note``); on a station bench the ones in
``HAZARDS`` (a relay moved while a source on the chip's bit or source lines, or on its own line
or matrix row, was away from 0 V; two sources at different levels on one line; a pulse output
on in a free-running mode) are reported, since the bench layer must never cause them.

Pulse-generator levels are checked as the voltage a high-impedance cell sees: the displayed
level times (R_load + 50)/R_load for the declared load (twice the level for a 50-ohm setting).

The recorder stores each distinct message once and the sequence as integer ids, so a whole test
suite (hundreds of thousands of messages) costs a few megabytes. A recorder in another process
(the CLI run by a test) streams to a JSON-lines file (``stream_to``) that ``CommandRecorder.load``
reads back.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .scpi import ScpiError, compile_header, parse_number, program_units, split_top

#: instrument ranges (data sheets), used where a bench has no station limits
INSTRUMENT_RANGES: dict[str, dict[str, Any]] = {
    "keithley2450": {"v": 210.0, "i": 1.05},
    "keysightb2902": {"v": 210.0, "i": 3.03},
    "keithley2636b": {"v": 202.0, "i": 1.515},
    "keysight81160a": {"v": 10.0, "width": (1.5e-9, 999.5), "count": 2_147_483_647},
    "keysight33600a": {"v": 10.0, "width": (5e-9, 1e6), "count": 100_000_000},
    "keysight33500b": {"v": 10.0, "width": (16e-9, 1e6), "count": 100_000_000},
    "keithley707b": {},
    "array-pulser-64": {"v": 10.0, "width": (10e-9, 1.0)},
}
SOURCE_IMPEDANCE_OHM = 50.0
_REL_TOL = 1e-9

# (kind, header pattern) per SCPI model; the pattern's '#' suffix is the channel (default 1)
_SCPI_HEADERS: dict[str, list[tuple[str, str]]] = {
    "keithley2450": [
        ("level", ":SOURce#:VOLTage[:LEVel][:IMMediate][:AMPLitude]"),
        ("level", ":SOURce#:LIST:VOLTage"),
        ("level", ":SOURce#:LIST:VOLTage:APPend"),
        ("compliance", ":SOURce#:VOLTage:ILIMit[:LEVel]"),
    ],
    "keysightb2902": [
        ("level", "[:SOURce#]:VOLTage[:LEVel][:IMMediate][:AMPLitude]"),
        ("level", "[:SOURce#]:VOLTage[:LEVel]:TRIGgered[:AMPLitude]"),
        ("level", "[:SOURce#]:VOLTage:STARt"),
        ("level", "[:SOURce#]:VOLTage:STOP"),
        ("level", "[:SOURce#]:LIST:VOLTage"),
        ("level", "[:SOURce#]:LIST:VOLTage:APPend"),
        ("compliance", "[:SENSe#]:CURRent[:DC]:PROTection[:LEVel][:BOTH]"),
    ],
    "keysight81160a": [
        ("high", "[:SOURce]:VOLTage#:HIGH"),
        ("low", "[:SOURce]:VOLTage#:LOW"),
        ("high", "[:SOURce]:VOLTage#[:LEVel][:IMMediate][:AMPLitude]"),
        ("high", "[:SOURce]:VOLTage#[:LEVel][:IMMediate]:OFFSet"),
        ("load", ":OUTPut#:LOAD[:VALue]"),
        ("load", ":OUTPut#:IMPedance:EXTernal"),
        ("width", "[:SOURce]:PULSe:WIDTh#"),
        ("count", ":TRIGger#:COUNt"),
        ("count", "[:SOURce]:BURSt#:NCYCles"),
    ],
    "keysight33600a": [
        ("high", "[:SOURce#]:VOLTage:HIGH"),
        ("low", "[:SOURce#]:VOLTage:LOW"),
        ("high", "[:SOURce#]:VOLTage[:LEVel][:IMMediate][:AMPLitude]"),
        ("high", "[:SOURce#]:VOLTage[:LEVel][:IMMediate]:OFFSet"),
        ("load", ":OUTPut#:LOAD"),
        ("width", "[:SOURce#]:FUNCtion:PULSe:WIDTh"),
        ("count", "[:SOURce#]:BURSt:NCYCles"),
    ],
}
_SCPI_HEADERS["keysight33500b"] = _SCPI_HEADERS["keysight33600a"]
#: the simulated array pulse board: levels of channels 1..k in one unit (the '#' is a segment)
_SCPI_HEADERS["array-pulser-64"] = [
    ("channels", "[:SOURce]:LINE:VOLTage#"),
    ("width", "[:SOURce]:PULSe:WIDTh"),
]
_UNITS = {"level": "V", "high": "V", "low": "V", "compliance": "A", "width": "S", "load": "OHM",
          "count": "", "channels": "V"}  # fmt: skip
_PULSE_MODELS = {"keysight81160a", "keysight33600a", "keysight33500b"}

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TSP = [
    ("level", re.compile(r"smu([ab])\.source\.levelv\s*=\s*(.+)$")),
    ("compliance", re.compile(r"smu([ab])\.source\.limiti\s*=\s*(.+)$")),
    ("trigger_compliance", re.compile(r"smu([ab])\.trigger\.source\.limiti\s*=\s*(.+)$")),
    ("list", re.compile(r"smu([ab])\.trigger\.source\.listv\(\s*\{([^}]*)\}\s*\)")),
    ("list", re.compile(rf"smu([ab])\.trigger\.source\.linearv\(\s*({_NUM})\s*,\s*({_NUM})\s*,")),
]

Effect = tuple[str, str, tuple[float, ...]]


@dataclass(frozen=True)
class Violation:
    source: str  # the simulated bench (resource file) and station
    instrument: str
    model: str
    command: str
    what: str
    value: float
    limit: float
    refused: bool
    count: int = 1

    def __str__(self) -> str:
        refused = ", refused by the instrument" if self.refused else ""
        return (f"{self.source}: {self.instrument} ({self.model}): {self.what} = {self.value:g} "
                f"beyond {self.limit:g} in {self.command[:120]!r} (sent {self.count}x{refused})")  # fmt: skip


@dataclass
class AuditResult:
    commands: int = 0
    distinct: int = 0
    benches: int = 0
    station_benches: int = 0
    checked: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    #: what a station bench's hardware saw that the bench layer must never cause (`HAZARDS`)
    hazards: list[str] = field(default_factory=list)

    def add(self, other: AuditResult) -> None:
        self.commands += other.commands
        self.distinct += other.distinct
        self.benches += other.benches
        self.station_benches += other.station_benches
        self.checked.update(other.checked)
        self.violations.extend(other.violations)
        self.hazards.extend(other.hazards)

    def summary(self) -> str:
        checked = ", ".join(f"{n} {k}" for k, n in sorted(self.checked.items()))
        return (f"{self.commands} commands ({self.distinct} distinct) from {self.benches} simulated "
                f"benches ({self.station_benches} with station limits); checked {checked or 'none'}; "
                f"{len(self.violations)} violations, {len(self.hazards)} hazards")  # fmt: skip


#: bench events (`SimBench.note`) that no run on a station bench may cause: a relay moved with
#: a source on its line away from 0 V, two sources at different levels on one line, a pulse
#: output on in a free-running mode
HAZARDS = ("hot-switch", "short", "free-running")


# -- recording ---------------------------------------------------------------------------------
class CommandRecorder:
    """Every program message one simulated bench received, in order (distinct ones stored once)."""

    FLUSH_EVERY = 2000

    def __init__(self, source: str, limits: dict[str, Any] | None, models: dict[str, str]) -> None:
        self.source = source
        self.limits = limits or None
        self.models = dict(models)
        self._ids: dict[tuple[str, str, bool], int] = {}
        self.keys: list[tuple[str, str, bool]] = []
        self.seq = array("I")
        self._stream: Path | None = None
        self._streamed_keys = 0
        self._streamed_seq = 0
        #: (kind, detail) of the bench's events (`SimBench.on_event`)
        self.events: list[tuple[str, str]] = []
        self._streamed_events = 0

    @property
    def total(self) -> int:
        return len(self.seq)

    def record(self, instrument: str, text: str, refused: bool = False) -> None:
        key = (instrument, text, bool(refused))
        i = self._ids.get(key)
        if i is None:
            i = self._ids[key] = len(self.keys)
            self.keys.append(key)
        self.seq.append(i)
        if self._stream is not None and len(self.seq) - self._streamed_seq >= self.FLUSH_EVERY:
            self.flush()

    def event(self, kind: str, detail: str) -> None:
        """Note a bench event (what the audit reports as a hazard, see `HAZARDS`)."""
        self.events.append((kind, detail))

    def messages(self) -> Iterator[tuple[str, str, bool]]:
        keys = self.keys
        return (keys[i] for i in self.seq)

    # -- streaming to a file (recorders in other processes) ------------------------------------
    def stream_to(self, path: Path) -> None:
        self._stream = Path(path)
        header = {"source": self.source, "limits": self.limits, "models": self.models}
        self._stream.write_text(json.dumps(header) + "\n")

    def flush(self) -> None:
        if self._stream is None or (len(self.seq) == self._streamed_seq
                                    and len(self.events) == self._streamed_events):  # fmt: skip
            return
        chunk = {"keys": self.keys[self._streamed_keys :],
                 "seq": self.seq[self._streamed_seq :].tolist(),
                 "events": self.events[self._streamed_events :]}  # fmt: skip
        with open(self._stream, "a") as f:
            f.write(json.dumps(chunk) + "\n")
        self._streamed_keys, self._streamed_seq = len(self.keys), len(self.seq)
        self._streamed_events = len(self.events)

    @classmethod
    def load(cls, path: Path) -> CommandRecorder:
        lines = Path(path).read_text().splitlines()
        header = json.loads(lines[0])
        rec = cls(header["source"], header["limits"], header["models"])
        for line in lines[1:]:
            try:
                chunk = json.loads(line)
            except json.JSONDecodeError:  # a process killed while writing its last chunk
                break
            for inst, text, refused in chunk["keys"]:
                rec._ids[(inst, text, refused)] = len(rec.keys)
                rec.keys.append((inst, text, refused))
            rec.seq.extend(chunk["seq"])
            rec.events.extend((kind, detail) for kind, detail in chunk.get("events", ()))
        return rec


# -- parsing -----------------------------------------------------------------------------------
_COMPILED: dict[str, list[tuple[str, re.Pattern[str]]]] = {
    model: [(kind, compile_header(h)) for kind, h in headers]
    for model, headers in _SCPI_HEADERS.items()
}


def parse_effects(model: str, message: str) -> list[Effect]:
    """What a program message sets that the audit checks: (kind, channel, values)."""
    if model == "keithley2636b":
        return _tsp_effects(message)
    table = _COMPILED.get(model)
    if not table:
        return []
    effects: list[Effect] = []
    for header, args in program_units(message):
        if header.upper() == "*RST":
            effects.append(("reset", "", ()))
            continue
        if header.endswith("?"):
            continue
        for kind, regex in table:
            m = regex.match(header)
            if not m:
                continue
            # the header's numeric suffix (1 if omitted); '' for an instrument-wide setting
            channel = next((g for g in m.groups() if g), "1") if regex.groups else ""
            values = tuple(v for v in (_number(model, kind, a) for a in args) if v is not None)
            if kind not in ("level", "channels"):
                values = values[:1]
            if values:
                effects.append((kind, channel, values))
            break
    return effects


def _number(model: str, kind: str, raw: str) -> float | None:
    key = raw.strip().upper()
    ranges = INSTRUMENT_RANGES.get(model, {})
    if kind == "load" and key.startswith("INF"):
        return math.inf
    if key.startswith(("MAX", "MIN")) and len(key) >= 3:
        extreme = {"level": ranges.get("v"), "high": ranges.get("v"), "low": ranges.get("v"),
                   "channels": ranges.get("v"),
                   "compliance": ranges.get("i"), "count": ranges.get("count"),
                   "width": (ranges.get("width") or (None, None))[1], "load": math.inf}[kind]  # fmt: skip
        if extreme is None:
            return None
        negative = key.startswith("MIN") and kind in ("level", "high", "low", "channels")
        return -extreme if negative else extreme
    try:
        return parse_number(raw, _UNITS[kind])
    except ScpiError:
        return None  # not a number: the instrument refuses it (DEF and the like set nothing big)


def _tsp_effects(message: str) -> list[Effect]:
    effects: list[Effect] = []
    for line in message.replace("\r", "\n").split("\n"):
        for stmt in split_top(line, ";"):
            stmt = stmt.strip()
            if not stmt:
                continue
            if re.fullmatch(r"(smu[ab]\.)?reset\(\)", stmt):
                effects.append(("reset", "", ()))
                continue
            for kind, regex in _TSP:
                m = regex.search(stmt)
                if not m:
                    continue
                channel = m.group(1)
                if kind == "list":
                    raw = (
                        [x for x in split_top(m.group(2), ",")]
                        if m.lastindex == 2
                        else [m.group(2), m.group(3)]
                    )
                    values = tuple(_tsp_number(x) for x in raw)
                    effects.append(("level", channel, tuple(v for v in values if v is not None)))
                else:
                    v = _tsp_number(m.group(2))
                    if v is None or (kind == "trigger_compliance" and v < 0):
                        break  # not a number (refused) or 'use the source limit'
                    effects.append(("compliance" if "compliance" in kind else kind, channel, (v,)))
                break
    return effects


def _tsp_number(text: str) -> float | None:
    text = text.strip()
    if not re.fullmatch(_NUM, text):
        return None
    return float(text)


# -- checking ----------------------------------------------------------------------------------
@dataclass
class _PulseChannelState:
    load_ohm: float = 50.0
    high: float | None = None
    low: float | None = None

    @property
    def emf(self) -> float:
        r = self.load_ohm
        return 1.0 if math.isinf(r) or r > 1e6 else (r + SOURCE_IMPEDANCE_OHM) / r


def audit(recorder: CommandRecorder) -> AuditResult:
    """Check every recorded message of one simulated bench; see the module docstring."""
    result = AuditResult(commands=recorder.total, distinct=len(recorder.keys), benches=1,
                         station_benches=1 if recorder.limits else 0)  # fmt: skip
    limits = recorder.limits or {}
    source = recorder.source + (f" (station {limits['station']})" if limits.get("station") else "")
    effects_of = [parse_effects(recorder.models.get(inst, ""), text)
                  for inst, text, _ in recorder.keys]  # fmt: skip
    pulse_state: dict[tuple[str, str], _PulseChannelState] = {}
    found: Counter[tuple] = Counter()
    for i in recorder.seq:
        effects = effects_of[i]
        if not effects:
            continue
        inst, text, refused = recorder.keys[i]
        model = recorder.models.get(inst, "")
        for kind, channel, values in effects:
            for problem in _check(model, inst, kind, channel, values, limits, pulse_state, result):
                what, value, limit, station = problem
                if station or not refused:
                    found[(inst, model, text, what, value, limit, refused)] += 1
    for (inst, model, text, what, value, limit, refused), n in found.items():
        result.violations.append(
            Violation(source, inst, model, text, what, value, limit, refused, n)
        )
    if recorder.limits:  # a station bench: driven by the bench layer, which must cause none
        result.hazards += [f"{source}: {kind}: {detail}"
                           for kind, detail in recorder.events if kind in HAZARDS]  # fmt: skip
    return result


def _check(model: str, inst: str, kind: str, channel: str, values: tuple[float, ...],
           limits: dict[str, Any], pulse_state: dict, result: AuditResult) -> Iterator[tuple]:  # fmt: skip
    """Yield (what, value, limit, is_station_limit) for each value beyond a limit."""
    ranges = INSTRUMENT_RANGES.get(model, {})
    if kind == "reset":
        for key in [k for k in pulse_state if k[0] == inst]:
            pulse_state[key] = _PulseChannelState()
        return
    terminal = f"{inst}.{channel}" if channel else inst
    if kind == "level":
        result.checked["levels"] += len(values)
        v_station = _terminal_limit(limits, model, inst, channel)
        for v in values:
            yield from _beyond(f"|V| on {terminal}", abs(v), v_station, ranges.get("v"))
    elif kind == "channels":  # a board: value i is the level of channel i
        result.checked["levels"] += len(values)
        for k, v in enumerate(values, 1):
            v_station = _terminal_limit(limits, model, inst, str(k))
            yield from _beyond(f"|V| on {inst}.{k}", abs(v), v_station, ranges.get("v"))
    elif kind in ("high", "low", "load"):
        state = pulse_state.setdefault((inst, channel), _PulseChannelState())
        if kind == "load":
            state.load_ohm = values[0]
            levels = [v for v in (state.high, state.low) if v is not None]
        else:
            setattr(state, kind, values[0])
            levels = [values[0]]
        result.checked["pulse levels"] += len(levels)
        v_station = _terminal_limit(limits, model, inst, channel)
        for v in levels:
            yield from _beyond(f"|V| into a high-Z cell on {terminal}", abs(v) * state.emf,
                               v_station, ranges.get("v"))  # fmt: skip
    elif kind == "compliance":
        result.checked["compliances"] += 1
        yield from _beyond(f"compliance on {terminal}", values[0], limits.get("i_compliance_max_a"),
                           ranges.get("i"))  # fmt: skip
    elif kind == "width":
        result.checked["pulse widths"] += 1
        w = values[0]
        lo_hi = limits.get("width_s")
        if lo_hi is not None and not (lo_hi[0] * (1 - _REL_TOL) <= w <= lo_hi[1] * (1 + _REL_TOL)):
            yield (f"pulse width on {terminal}", w, lo_hi[0] if w < lo_hi[0] else lo_hi[1], True)
        inst_range = ranges.get("width")
        if inst_range is not None and not (
            inst_range[0] * (1 - _REL_TOL) <= w <= inst_range[1] * (1 + _REL_TOL)
        ):
            yield (
                f"pulse width on {terminal}",
                w,
                inst_range[0] if w < inst_range[0] else inst_range[1],
                False,
            )
    elif kind == "count":
        result.checked["pulse counts"] += 1
        yield from _beyond(f"pulse count on {terminal}", values[0],
                           limits.get("pulses_per_call_max"), ranges.get("count"))  # fmt: skip


def _beyond(
    what: str, value: float, station: float | None, instrument: float | None
) -> Iterator[tuple]:
    if station is not None and value > station * (1 + _REL_TOL):
        yield (what, value, float(station), True)
    if instrument is not None and value > instrument * (1 + _REL_TOL):
        yield (what, value, float(instrument), False)


def _terminal_limit(limits: dict[str, Any], model: str, inst: str, channel: str) -> float | None:
    terminals = limits.get("terminals") or {}
    names = [f"{inst}.{channel}"]
    if model == "keithley2636b":
        names.append(
            f"{inst}.{'ab'.index(channel) + 1}" if channel in "ab" else f"{inst}.{channel}"
        )
    found = [float(terminals[n]) for n in names if n in terminals]
    return min(found) if found else None


def audit_all(recorders: Iterable[CommandRecorder]) -> AuditResult:
    total = AuditResult()
    for rec in recorders:
        total.add(audit(rec))
    return total
