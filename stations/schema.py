"""The station file schema: instruments, chip, wiring, safety limits (validated with pydantic).

Unknown keys, wrong types and inconsistent wiring are load-time errors naming the file and the
key. Units are SI and spelled in the key (`v_bl_max`, `i_compliance_max_a`, `width_s`).
"""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TERMINAL_RE = re.compile(r"^(gnd|[A-Za-z_][\w-]*\.\w+)$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InstrumentSpec(Strict):
    """One instrument: pymeasure-style driver class, VISA address, connection options."""

    driver: str = Field(pattern=r"^[\w.]+:\w+$", description="'module:Class'")
    address: str
    #: keyword arguments for the driver / VISAAdapter (timeout, terminations, ...)
    init: dict[str, str | int | float | bool] = Field(default_factory=dict)
    #: simulated twin model name; defaults from the driver class
    sim: str | None = None


class ChipSpec(Strict):
    name: str
    rows: int = Field(ge=1, le=4096)
    cols: int = Field(ge=1, le=4096)


class LineGroup(Strict):
    """How one kind of chip line (all WLs, all BLs or all SLs) reaches the instruments."""

    #: the line with index i is matrix column first_column + i of this switch
    switch: str | None = None
    first_column: int = Field(default=1, ge=1)
    #: or: every line of this kind is cabled to this terminal (single-device stations)
    terminal: str | None = None
    #: and/or: a pulse board with one channel per line (`ArrayPulser`) cabled to every line of
    #: this kind, line i on channel first_channel + i; it floats them when it is not firing
    board: str | None = None
    first_channel: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _one_way(self) -> LineGroup:
        if (self.switch is None) == (self.terminal is None):
            raise ValueError("give exactly one of 'switch' (matrix) or 'terminal' (cable)")
        return self


class Wiring(Strict):
    """Which instrument channel does what, and how channels reach the chip's lines.

    `functions` names a terminal ("<instrument>.<channel>") for each bench function:
    drive (SMU that sources BL/SL and measures), gate (WL bias), and optionally pulse_bl and
    pulse_sl (pulse-generator channels for SET and RESET pulses).
    `matrix_rows` names the terminal on each matrix row letter (same on every matrix: the
    instrument outputs are teed to all of them).
    `tsplink` gives the TSP-Link node number of each instrument on one TSP-Link network (a 2600B
    script then reaches the others as `node[N]`); `triggers` names, for a digital I/O line of
    an instrument ("smu.dio1"), the instrument whose trigger input it is cabled to. Both are
    optional: with them, a TSP drive SMU can run a write-verify loop on the instrument.
    """

    functions: dict[Literal["drive", "gate", "pulse_bl", "pulse_sl"], str]
    matrix_rows: dict[str, str] = Field(default_factory=dict)
    lines: dict[Literal["WL", "BL", "SL"], LineGroup]
    tsplink: dict[str, int] = Field(default_factory=dict)
    triggers: dict[str, str] = Field(default_factory=dict)

    @field_validator("tsplink")
    @classmethod
    def _nodes(cls, v: dict[str, int]) -> dict[str, int]:
        for name, node in v.items():
            if not 1 <= node <= 64:
                raise ValueError(f"{name}: TSP-Link node {node} outside 1..64")
        if len(set(v.values())) != len(v):
            raise ValueError(f"two instruments share a TSP-Link node number: {v}")
        return v

    @field_validator("triggers")
    @classmethod
    def _trigger_lines(cls, v: dict[str, str]) -> dict[str, str]:
        for line in v:
            if not re.fullmatch(r"[A-Za-z_][\w-]*\.dio([1-9]|1[0-4])", line):
                raise ValueError(
                    f"{line!r}: expected '<instrument>.dio<N>' (a digital I/O line, N = 1..14)"
                )
        return v

    @field_validator("functions", "matrix_rows")
    @classmethod
    def _terminals(cls, v: dict[str, str]) -> dict[str, str]:
        for key, term in v.items():
            if not TERMINAL_RE.match(term):
                raise ValueError(
                    f"{key}: {term!r} is not a terminal ('<instrument>.<channel>' or 'gnd')"
                )
        return v

    @field_validator("matrix_rows")
    @classmethod
    def _rows(cls, v: dict[str, str]) -> dict[str, str]:
        for row in v:
            if not re.fullmatch(r"[A-H]", row):
                raise ValueError(f"matrix row {row!r}: expected a letter A-H")
        return v

    @model_validator(mode="after")
    def _complete(self) -> Wiring:
        for needed in ("drive", "gate"):
            if needed not in self.functions:
                raise ValueError(f"functions.{needed} is missing")
        missing = {"WL", "BL", "SL"} - set(self.lines)
        if missing:
            raise ValueError(f"lines: missing {sorted(missing)}")
        if any(g.switch for g in self.lines.values()):
            routed = set(self.matrix_rows.values())
            for fn, term in self.functions.items():
                if term not in routed and not any(g.terminal == term for g in self.lines.values()):
                    raise ValueError(f"functions.{fn} = {term} is on no matrix row")
        return self


class Limits(Strict):
    """Safety limits: nothing beyond them is ever sent to an instrument."""

    v_bl_max: float = Field(gt=0, le=20, description="max |V| on any bit line")
    v_sl_max: float = Field(gt=0, le=20, description="max |V| on any source line")
    v_wl_max: float = Field(gt=0, le=20, description="max |V| on any word line (gate)")
    i_compliance_max_a: float = Field(gt=0, le=0.1)
    width_s: tuple[float, float] = (1e-9, 10.0)
    pulses_per_call_max: int = Field(default=10_000_000, ge=1)

    @field_validator("width_s")
    @classmethod
    def _width(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (0 < v[0] < v[1] and math.isfinite(v[1])):
            raise ValueError(f"width_s: expected [min, max] with 0 < min < max, got {list(v)}")
        return v


FAULT_KINDS = ("timeout", "garble", "truncate", "error", "disconnect",
               "stuck", "unformable", "short", "forming_spike")  # fmt: skip
_BUS_FAULTS = FAULT_KINDS[:5]
#: the options each fault kind takes besides its target (see sim_backend/faults.py)
_FAULT_OPTIONS = {
    "timeout": {"match", "after", "count", "late"},
    "garble": {"match", "after", "count"},
    "truncate": {"match", "after", "count"},
    "error": {"match", "after", "count", "code", "message"},
    "disconnect": {"match", "after", "ops", "for_s", "power_cycle"},
    "stuck": {"g_s"},
    "unformable": set(),
    "short": {"r_ohm"},
    "forming_spike": {"i_a"},
}


class FaultSpec(Strict):
    """One fault the simulator injects (sim_backend/faults.py); ignored on a real bench.

    Bus faults name an `instrument`; chip faults list `cells` as [row, col] pairs."""

    kind: Literal["timeout", "garble", "truncate", "error", "disconnect",
                  "stuck", "unformable", "short", "forming_spike"]  # fmt: skip
    instrument: str | None = None
    cells: list[tuple[int, int]] | None = Field(default=None, min_length=1)
    #: regex searched in the program message; `after` matching messages pass first
    match: str | None = None
    after: int = Field(default=0, ge=0)
    count: int = Field(default=1, ge=1)
    late: bool = False
    code: int = -300
    message: str = "Device-specific error"
    ops: int | None = Field(default=None, ge=1)
    for_s: float | None = Field(default=None, gt=0)
    power_cycle: bool = False
    g_s: float = Field(default=1e-6, gt=0)
    r_ohm: float = Field(default=50.0, gt=0)
    i_a: float = Field(default=10e-3, gt=0)

    @field_validator("match")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"not a regular expression ({e})") from None
        return v

    @model_validator(mode="after")
    def _target(self) -> FaultSpec:
        bus = self.kind in _BUS_FAULTS
        if bus and (self.instrument is None or self.cells is not None):
            raise ValueError(f"a {self.kind} fault names an 'instrument' (and no 'cells')")
        if not bus and (self.cells is None or self.instrument is not None):
            raise ValueError(f"a {self.kind} fault lists 'cells' (and no 'instrument')")
        extra = self.model_fields_set - {"kind", "instrument", "cells"} - _FAULT_OPTIONS[self.kind]
        if extra:
            raise ValueError(
                f"{', '.join(sorted(extra))}: not an option of a {self.kind} fault "
                f"(options: {', '.join(sorted(_FAULT_OPTIONS[self.kind])) or 'none'})"
            )
        return self

    def resource_args(self) -> dict[str, object]:
        """The fault as the resource file's ``reramsim.faults`` entry."""
        keys = {"kind", "instrument", "cells"} | _FAULT_OPTIONS[self.kind]
        out = self.model_dump(include=keys, exclude_none=True)
        if "cells" in out:
            out["cells"] = [list(c) for c in out["cells"]]
        return out


class SimSpec(Strict):
    """How the simulator builds this bench (ignored on a real bench)."""

    preset: str = "cmo-hfox-130nm"
    #: preset fields to override (e.g. a weaker amplitude nonlinearity for a contrast run)
    preset_overrides: dict[str, float] = Field(default_factory=dict)
    seed: int = 0
    #: seconds per VISA transaction (0 = ideal bus; ~1e-3 for GPIB, see benchmarks/README.md)
    latency_s: float = Field(default=0.0, ge=0)
    #: faults to inject (a list of FaultSpec, or a mapping kind -> options or list of options)
    faults: list[FaultSpec] = Field(default_factory=list)

    @field_validator("faults", mode="before")
    @classmethod
    def _fault_mapping(cls, v: object) -> object:
        if isinstance(v, dict):
            out = []
            for kind, options in v.items():
                for one in options if isinstance(options, list) else [options]:
                    if not isinstance(one, dict):
                        raise ValueError(f"{kind}: expected a mapping of fault options")
                    out.append({"kind": kind, **one})
            return out
        return v


class StationSpec(Strict):
    name: str
    description: str = ""
    #: anything pyvisa accepts ("@ivi", "@py", "file.yaml@reramsim"); "@reramsim" alone means
    #: "simulate this station" (a resource file is generated from the station itself)
    visa_library: str = "@ivi"
    instruments: dict[str, InstrumentSpec]
    chip: ChipSpec
    wiring: Wiring
    limits: Limits
    sim: SimSpec = Field(default_factory=SimSpec)
    #: protocol name -> parameter -> default on this bench (the mounted chip's amplitudes, for
    #: instance); `--set` overrides them; checked against each protocol's parameters at load
    protocol_defaults: dict[str, dict[str, str | int | float | bool | list[float]]] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _references(self) -> StationSpec:
        names = set(self.instruments)
        terms = list(self.wiring.functions.values()) + list(self.wiring.matrix_rows.values())
        terms += [g.terminal for g in self.wiring.lines.values() if g.terminal]
        for term in terms:
            inst = term.split(".")[0]
            if term != "gnd" and inst not in names:
                raise ValueError(
                    f"wiring: terminal {term!r} names no instrument (have {sorted(names)})"
                )
        for key, inst in [(f"tsplink.{n}", n) for n in self.wiring.tsplink] + [
            (f"triggers.{line}", name)
            for line, name in self.wiring.triggers.items()
            for name in (line.split(".")[0], name)
        ]:
            if inst not in names:
                raise ValueError(
                    f"wiring.{key}: no instrument named {inst!r} (have {sorted(names)})"
                )
        board_channels: dict[str, set[int]] = {}
        for kind, group in self.wiring.lines.items():
            if group.switch and group.switch not in names:
                raise ValueError(
                    f"wiring.lines.{kind}.switch: no instrument named {group.switch!r}"
                )
            n = self.chip.cols if kind == "BL" else self.chip.rows
            if group.terminal and n != 1:
                raise ValueError(
                    f"wiring.lines.{kind}: a cabled terminal serves one line, chip has {n}"
                )
            if group.board:
                if group.board not in names:
                    raise ValueError(
                        f"wiring.lines.{kind}.board: no instrument named {group.board!r}"
                    )
                channels = set(range(group.first_channel, group.first_channel + n))
                if channels & board_channels.get(group.board, set()):
                    raise ValueError(f"wiring.lines.{kind}: board channels {group.first_channel}.."
                                     f"{group.first_channel + n - 1} overlap another line kind's")  # fmt: skip
                board_channels.setdefault(group.board, set()).update(channels)
        return self
