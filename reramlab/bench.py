"""The bench layer: cell-level operations over a connected station's wiring.

Protocols speak to a ``Bench`` in cells, volts, seconds and amperes; the bench maps a cell to its
word, bit and source lines, routes instrument channels there (switch matrices, break before
make, sources at 0 V while relays move), checks every level against the station's safety limits
before anything is sent, and drives the role interfaces of the instruments. It never knows
whether the instruments are real or simulated.

Polarity convention (1T1R): positive cell voltage = SET direction, applied on the BL with the SL
grounded; negative = RESET direction, applied as +|V| on the SL with the BL grounded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reramlab.errors import SafetyLimitError
from reramlab.stations.connect import ConnectedStation
from reramlab.stations.schema import Limits

Cell = tuple[int, int]
GND = "gnd"


@dataclass(frozen=True)
class Route:
    """Which terminal each of a cell's three lines is connected to (None = open)."""

    wl: str | None
    bl: str | None
    sl: str | None


class Bench:
    """Cell-level operations on one connected station."""

    def __init__(self, station: ConnectedStation) -> None:
        self.station = station
        spec = station.station.spec
        self.limits: Limits = spec.limits
        self.rows, self.cols = spec.chip.rows, spec.chip.cols
        self.wiring = spec.wiring
        fns = self.wiring.functions
        self.drive = station.terminal(fns["drive"])
        self.gate = station.terminal(fns["gate"])
        self.pulse_bl = station.terminal(fns["pulse_bl"]) if "pulse_bl" in fns else None
        self.pulse_sl = station.terminal(fns["pulse_sl"]) if "pulse_sl" in fns else None
        pg_names = {fns[k].split(".")[0] for k in ("pulse_bl", "pulse_sl") if k in fns}
        self.pulse_generators = [station.instruments[n] for n in sorted(pg_names)]
        self._row_of = {term: row for row, term in self.wiring.matrix_rows.items()}
        self._closed: dict[str, frozenset[str]] = {}
        self._configured: set[str] = set()
        self._route: Route | None = None
        self._cell: Cell | None = None
        self._dc_ready = False
        self._gate_v: float | None = None
        self._drive_v: float | None = None

    # -- time --------------------------------------------------------------------------------
    def now_s(self) -> float:
        return self.station.now_s()

    def wait(self, seconds: float) -> None:
        self.station.wait(seconds)

    # -- safety ------------------------------------------------------------------------------
    def check_level(self, line: str, v: float, what: str = "") -> None:
        limit = {"BL": self.limits.v_bl_max, "SL": self.limits.v_sl_max,
                 "WL": self.limits.v_wl_max}[line]  # fmt: skip
        if not math.isfinite(v) or abs(v) > limit:
            name = what or f"{line} voltage"
            raise SafetyLimitError(
                f"{name} = {v} V exceeds the station limit limits.v_{line.lower()}_max = {limit} V"
            )

    def check_width(self, width_s: float, what: str = "width_s") -> None:
        lo, hi = self.limits.width_s
        if not lo <= width_s <= hi:
            raise SafetyLimitError(
                f"{what} = {width_s} s outside the station limits.width_s = [{lo}, {hi}] s"
            )

    def check_count(self, count: int, what: str = "pulse count") -> None:
        if count > self.limits.pulses_per_call_max:
            raise SafetyLimitError(
                f"{what} = {count} exceeds limits.pulses_per_call_max = {self.limits.pulses_per_call_max}"
            )

    def check_compliance(self, i_a: float, what: str = "i_compliance_a") -> None:
        if not 0 < i_a <= self.limits.i_compliance_max_a:
            raise SafetyLimitError(
                f"{what} = {i_a} A outside (0, limits.i_compliance_max_a = {self.limits.i_compliance_max_a}] A"
            )

    def check_cell(self, cell: Cell) -> None:
        r, c = cell
        if not (0 <= r < self.rows and 0 <= c < self.cols):
            raise SafetyLimitError(f"cell {cell} is outside the {self.rows}x{self.cols} chip")

    # -- routing -----------------------------------------------------------------------------
    def route(self, cell: Cell, route: Route) -> None:
        """Connect the cell's lines as asked; everything else on the matrices opens.

        Sources are brought to 0 V before any relay moves (no hot switching)."""
        if self._route == route and self._cell == cell:
            return
        r, c = cell
        wanted: dict[str, set[str]] = {}
        for kind, idx, term in (("WL", r, route.wl), ("BL", c, route.bl), ("SL", r, route.sl)):
            group = self.wiring.lines[kind]
            if group.switch is None:
                continue
            points = wanted.setdefault(group.switch, set())
            if term is not None:
                sw = self.station.instruments[group.switch]
                points.add(sw.crosspoint(self._row_of[term], group.first_column + idx))
        changed = {
            s: frozenset(p) for s, p in wanted.items() if self._closed.get(s) != frozenset(p)
        }
        if changed:
            self._zero_sources()
            for s, points in changed.items():
                sw = self.station.instruments[s]
                if s not in self._configured:
                    sw.configure()
                    self._configured.add(s)
                sw.open_all()
                if points:
                    sw.close(sorted(points))
                self._closed[s] = points
        self._route, self._cell = route, cell

    def _zero_sources(self) -> None:
        if self._drive_v:
            self.drive.set_voltage(0.0)
            self._drive_v = 0.0
        if self._gate_v:
            self.gate.set_voltage(0.0)
            self._gate_v = 0.0

    # -- DC operations -----------------------------------------------------------------------
    def prepare_dc(self, *, i_compliance_a: float, nplc: float = 1.0) -> None:
        """Configure drive and gate SMUs (limits first, 0 V, outputs on)."""
        self.check_compliance(i_compliance_a)
        v_drive = max(self.limits.v_bl_max, self.limits.v_sl_max)
        self.drive.configure_voltage_source(
            i_compliance_a=i_compliance_a, v_limit_v=v_drive, nplc=nplc
        )
        self.gate.configure_voltage_source(
            i_compliance_a=min(1e-4, self.limits.i_compliance_max_a),
            v_limit_v=self.limits.v_wl_max,
            nplc=nplc,
        )
        self.drive.enable()
        self.gate.enable()
        self._drive_v = self._gate_v = 0.0
        self._dc_ready = True

    def _set_gate(self, vg: float) -> None:
        self.check_level("WL", vg, "gate voltage vg")
        if self._gate_v != vg:
            self.gate.set_voltage(vg)
            self._gate_v = vg

    def _set_drive(self, v: float) -> None:
        if self._drive_v != v:
            self.drive.set_voltage(v)
            self._drive_v = v

    def _dc_route(self, cell: Cell, v: float) -> None:
        self.check_cell(cell)
        line = "BL" if v >= 0 else "SL"
        self.check_level(line, abs(v), f"{line} voltage")
        drive = self.wiring.functions["drive"]
        gate = self.wiring.functions["gate"]
        if v >= 0:
            self.route(cell, Route(wl=gate, bl=drive, sl=GND))
        else:
            self.route(cell, Route(wl=gate, bl=GND, sl=drive))

    def dc(self, cell: Cell, v: float, vg: float) -> float:
        """Apply cell voltage `v` (sign = polarity) with gate `vg`; return the cell current (A,
        positive from BL to SL)."""
        if not self._dc_ready:
            raise RuntimeError("call prepare_dc() before DC operations")
        self._dc_route(cell, v)
        self._set_gate(vg)
        self._set_drive(abs(v))
        i = self.drive.measure_current()
        return i if v >= 0 else -i

    def read(self, cell: Cell, v_read: float, vg: float) -> tuple[float, float]:
        """DC read at `v_read`: (current A, conductance S)."""
        i = self.dc(cell, v_read, vg)
        return i, i / v_read

    def sweep(
        self, cell: Cell, levels_v: Sequence[float], vg: float, *, delay_s: float = 0.0
    ) -> np.ndarray:
        """Quasi-static sweep through signed cell voltages; instrument-side list sweeps, one per
        run of equal polarity (the routing flips between SET and RESET halves). Returns A."""
        levels = np.asarray(levels_v, dtype=float)
        out = np.empty_like(levels)
        sign = np.where(levels >= 0, 1, -1)
        start = 0
        while start < len(levels):
            stop = start
            while stop < len(levels) and sign[stop] == sign[start]:
                stop += 1
            seg = levels[start:stop]
            self._dc_route(cell, sign[start] * float(np.abs(seg).max()))
            self._set_gate(vg)
            out[start:stop] = sign[start] * self.drive.sweep(np.abs(seg), delay_s=delay_s)
            self._drive_v = None  # the list sweep leaves the level at its last point
            self._set_drive(0.0)
            start = stop
        return out

    # -- pulses ------------------------------------------------------------------------------
    def pulse(
        self,
        cell: Cell,
        v: float,
        width_s: float,
        vg: float,
        *,
        count: int = 1,
        rise_s: float = 5e-9,
        fall_s: float = 5e-9,
        period_s: float | None = None,
    ) -> None:
        """`count` identical pulses of cell voltage `v` (sign = polarity) in one burst."""
        self.check_cell(cell)
        self.check_width(width_s)
        self.check_count(count)
        line = "BL" if v >= 0 else "SL"
        self.check_level(line, abs(v), f"{line} pulse amplitude")
        channel = self.pulse_bl if v >= 0 else self.pulse_sl
        if channel is None:
            raise SafetyLimitError(
                f"station has no pulse channel for {line} pulses (wiring.functions)"
            )
        term = self.wiring.functions["pulse_bl" if v >= 0 else "pulse_sl"]
        gate = self.wiring.functions["gate"]
        route = Route(wl=gate, bl=term, sl=GND) if v >= 0 else Route(wl=gate, bl=GND, sl=term)
        self.route(cell, route)
        self._set_gate(vg)
        period = period_s or max(4 * width_s, width_s + 2 * (rise_s + fall_s) + 20e-9)
        channel.configure_pulse(v_high=abs(v), width_s=width_s, period_s=period,
                                rise_s=rise_s, fall_s=fall_s)  # fmt: skip
        channel.enable()
        self._fire(self._generator_of(term), count, count * period)
        channel.disable()

    def pulse_pairs(
        self,
        cell: Cell,
        v_set: float,
        v_reset: float,
        width_s: float,
        vg: float,
        *,
        count: int,
        rise_s: float = 5e-9,
        fall_s: float = 5e-9,
    ) -> None:
        """`count` SET/RESET pulse pairs in one burst: BL channel then SL channel each period."""
        self.check_cell(cell)
        self.check_width(width_s)
        self.check_count(count, "pulse-pair count")
        self.check_level("BL", v_set, "SET amplitude")
        self.check_level("SL", abs(v_reset), "RESET amplitude")
        if self.pulse_bl is None or self.pulse_sl is None:
            raise SafetyLimitError(
                "station needs both pulse_bl and pulse_sl channels for pulse pairs"
            )
        fns = self.wiring.functions
        self.route(cell, Route(wl=fns["gate"], bl=fns["pulse_bl"], sl=fns["pulse_sl"]))
        self._set_gate(vg)
        slot = width_s + rise_s + fall_s + 20e-9
        period = 2 * slot
        self.pulse_bl.configure_pulse(v_high=v_set, width_s=width_s, period_s=period,
                                      rise_s=rise_s, fall_s=fall_s, delay_s=0.0)  # fmt: skip
        self.pulse_sl.configure_pulse(v_high=abs(v_reset), width_s=width_s, period_s=period,
                                      rise_s=rise_s, fall_s=fall_s, delay_s=slot)  # fmt: skip
        self.pulse_bl.enable()
        self.pulse_sl.enable()
        self._fire(self._generator_of(fns["pulse_bl"]), count, count * period)
        self.pulse_bl.disable()
        self.pulse_sl.disable()

    def _fire(self, generator, count: int, busy_s: float) -> None:
        """One bus trigger, then wait for the burst to end before any output changes."""
        t0 = time.monotonic()
        generator.fire(count)
        self.station.await_instrument(busy_s, since=t0)

    def _generator_of(self, term: str):
        return self.station.instruments[term.split(".")[0]]

    # -- safe state --------------------------------------------------------------------------
    def safe(self) -> list[str]:
        """Every source to 0 V and off, every matrix open. Tries everything; returns problems."""
        problems = []
        seen: set[int] = set()
        for obj in (self.drive, self.gate, *self.pulse_generators,
                    *(self.station.instruments[g.switch] for g in self.wiring.lines.values() if g.switch)):  # fmt: skip
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            try:
                obj.safe_state()
            except Exception as e:  # noqa: BLE001 - keep going: every output must be made safe
                problems.append(f"{type(obj).__name__}: {e}")
        self._closed.clear()
        self._route = None
        self._dc_ready = False
        self._gate_v = self._drive_v = None
        return problems
