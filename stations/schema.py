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
    """

    functions: dict[Literal["drive", "gate", "pulse_bl", "pulse_sl"], str]
    matrix_rows: dict[str, str] = Field(default_factory=dict)
    lines: dict[Literal["WL", "BL", "SL"], LineGroup]

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


class SimSpec(Strict):
    """How the simulator builds this bench (ignored on a real bench)."""

    preset: str = "cmo-hfox-130nm"
    #: preset fields to override (e.g. a weaker amplitude nonlinearity for a contrast run)
    preset_overrides: dict[str, float] = Field(default_factory=dict)
    seed: int = 0
    #: seconds per VISA transaction (0 = ideal bus; ~1e-3 for GPIB, see benchmarks/README.md)
    latency_s: float = Field(default=0.0, ge=0)


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
        return self
