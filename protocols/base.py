"""What every protocol shares: parameter handling, cell selections, progress, the registry.

A protocol is a module with a frozen parameter dataclass ``Params`` (SI units, safe defaults,
field metadata ``unit`` and ``help``), a ``check(params, bench)`` that refuses anything beyond
the station limits before the first command, and ``run(bench, cells, params, run)`` — a
generator yielding ``Progress`` — that does the measurement and writes as it goes. What to do
is kept apart from how it is executed (the runner handles logging, safety and Ctrl-C).
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from reramlab.errors import CellSelectionError, ParameterError, UnknownProtocolError

Cell = tuple[int, int]

#: protocol name (as typed on the command line) -> module
PROTOCOL_MODULES = {
    "forming": "reramlab.protocols.forming",
    "cycling": "reramlab.protocols.cycling",
    "endurance": "reramlab.protocols.endurance",
    "pulse-train": "reramlab.protocols.pulse_train",
    "program-verify": "reramlab.protocols.program_verify",
    "read": "reramlab.protocols.read",
    "retention": "reramlab.protocols.retention",
    "disturb": "reramlab.protocols.disturb",
}


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    message: str = ""


def param(default: Any, unit: str, help: str, *, lo: float | None = None,
          hi: float | None = None) -> Any:  # fmt: skip
    """A parameter field with its unit, help text and valid range (checked at construction)."""
    return field(default=default, metadata={"unit": unit, "help": help, "lo": lo, "hi": hi})


def validate_ranges(params: Any) -> None:
    """Check every numeric field against its declared range; raise ParameterError naming it."""
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if not math.isfinite(value):
            raise ParameterError(f"{f.name} = {value}: must be a finite number")
        if lo is not None and value < lo or hi is not None and value > hi:
            unit = f.metadata.get("unit", "")
            raise ParameterError(f"{f.name} = {value} {unit}: valid range is [{lo}, {hi}] {unit}")


def check_limits(
    params: Any,
    bench: Any,
    *,
    bl: tuple[str, ...] = (),
    sl: tuple[str, ...] = (),
    wl: tuple[str, ...] = (),
    widths: tuple[str, ...] = (),
    counts: tuple[str, ...] = (),
    compliance: str = "i_compliance_a",
) -> None:
    """Check the named parameters against the station limits before the first command:
    voltages on bit, source (sign ignored: RESET levels are negative) and word lines, pulse
    widths, pulse counts and the current limit. Errors name the parameter, value and limit."""
    for line, names in (("BL", bl), ("SL", sl), ("WL", wl)):
        for name in names:
            bench.check_level(line, abs(getattr(params, name)), name)
    for name in widths:
        bench.check_width(getattr(params, name), name)
    for name in counts:
        bench.check_count(getattr(params, name), name)
    bench.check_compliance(getattr(params, compliance))


def get_protocol(name: str) -> types.ModuleType:
    key = name.replace("_", "-")
    if key not in PROTOCOL_MODULES:
        raise UnknownProtocolError(
            f"unknown protocol {name!r}; known: {', '.join(PROTOCOL_MODULES)}"
        )
    return importlib.import_module(PROTOCOL_MODULES[key])


def _coerce(name: str, raw: str, typ: Any) -> Any:
    typ = typing.get_origin(typ) or typ
    try:
        if typ is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if typ is int:
            return int(float(raw)) if float(raw).is_integer() else int(raw)
        if typ is float:
            return float(raw)
        if typ is tuple:
            return tuple(float(x) for x in raw.split(",") if x.strip())
        return raw
    except ValueError:
        raise ParameterError(
            f"{name} = {raw!r}: expected {getattr(typ, '__name__', typ)}"
        ) from None


def make_params(module: types.ModuleType, overrides: dict[str, str] | None = None) -> Any:
    """Build a protocol's Params from `--set key=value` strings (typed, range-checked)."""
    cls = module.Params
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for key, raw in (overrides or {}).items():
        if key not in known:
            raise ParameterError(
                f"unknown parameter {key!r} for protocol {module.NAME}; known: {', '.join(sorted(known))}"
            )
        values[key] = _coerce(key, raw, hints[key])
    params = cls(**values)
    validate_ranges(params)
    return params


def describe(module: types.ModuleType) -> list[dict[str, Any]]:
    """Parameters of a protocol with units, defaults and help (for `reramlab protocols`).

    A protocol whose Params take parameters that only a step of it uses names them in
    `STEP_PARAMS` = (names, the step): their help starts with the step."""
    stepped, step = getattr(module, "STEP_PARAMS", (frozenset(), ""))
    out = []
    for f in dataclasses.fields(module.Params):
        text = f.metadata.get("help", "")
        out.append({"name": f.name, "default": f.default, "unit": f.metadata.get("unit", ""),
                    "help": f"[{step}] {text}" if f.name in stepped else text,
                    "min": f.metadata.get("lo"), "max": f.metadata.get("hi")})  # fmt: skip
    return out


def parse_cells(spec: str, rows: int, cols: int) -> list[Cell]:
    """'all', or 'ROWS,COLS' in Python slice form ('0:8,0:8', '3,5', '0:64:2,1')."""
    text = spec.strip().lower()
    if text == "all":
        return [(r, c) for r in range(rows) for c in range(cols)]
    parts = text.split(",")
    if len(parts) != 2:
        raise CellSelectionError(f"--cells {spec!r}: expected 'ROWS,COLS' (e.g. 0:8,0:8) or 'all'")
    idx = [
        _slice(p, n, spec, axis)
        for p, n, axis in zip(parts, (rows, cols), ("rows", "cols"), strict=True)
    ]
    cells = [(r, c) for r in idx[0] for c in idx[1]]
    if not cells:
        raise CellSelectionError(f"--cells {spec!r} selects no cell on a {rows}x{cols} chip")
    return cells


def _slice(text: str, n: int, spec: str, axis: str) -> range:
    text = text.strip()
    if not re.fullmatch(r"-?\d*(:-?\d*){0,2}", text) or text == "":
        raise CellSelectionError(f"--cells {spec!r}: {axis} part {text!r} is not an index or slice")
    if ":" not in text:
        i = int(text)
        if not 0 <= i < n:
            raise CellSelectionError(f"--cells {spec!r}: {axis} index {i} outside 0..{n - 1}")
        return range(i, i + 1)
    bits = [int(b) if b else None for b in text.split(":")]
    s = slice(*bits)
    if (s.start is not None and not -n <= s.start < n) or (s.stop is not None and s.stop > n):
        raise CellSelectionError(
            f"--cells {spec!r}: {axis} slice {text!r} reaches outside 0..{n - 1}"
        )
    return range(*s.indices(n))


ProtocolRun = Iterator[Progress]
