"""The simulated bench: instrument outputs, their wiring to the chip's lines, and the chip.

Instruments set the level of their output terminals ("smu.1", "pg.2"); switch matrices close
crosspoints between terminals (matrix rows) and chip lines (matrix columns); fixed cabling ties a
terminal straight to lines. From that the bench knows, at every moment, the voltage on every
word, bit and source line (NaN = floating) and hands it to the array model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .array_model import ArrayModel
from .clock import SimClock

GROUND = "gnd"


@dataclass
class BenchEvent:
    """Something a careful engineer would want to know happened on the bench (e.g. a short)."""

    t_s: float
    kind: str
    detail: str


@dataclass
class SimBench:
    """One simulated bench: one chip, one clock, the wiring, and every instrument's outputs."""

    model: ArrayModel
    clock: SimClock
    #: switch name -> matrix row letter -> terminal ("smu.1", "pg.2", "gnd")
    matrix_rows: dict[str, dict[str, str]] = field(default_factory=dict)
    #: chip line ("BL3") -> (switch name, global column number, 1-based)
    matrix_columns: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: terminal -> chip lines cabled to it permanently
    cabled: dict[str, list[str]] = field(default_factory=dict)
    levels: dict[str, float | None] = field(default_factory=dict)
    closed: dict[str, set[tuple[str, int]]] = field(default_factory=dict)
    events: list[BenchEvent] = field(default_factory=list)
    #: every (instrument, message) received, for audits; None disables recording
    command_log: list[tuple[str, str]] | None = None
    #: TSP-Link network: instrument name -> node number
    tsplink: dict[str, int] = field(default_factory=dict)
    #: trigger cables: "<instrument>.dio<N>" -> name of the instrument whose trigger input it drives
    triggers: dict[str, str] = field(default_factory=dict)
    #: name -> simulated instrument (set by the library once they exist)
    instruments: dict[str, Any] = field(default_factory=dict)
    #: called with every event as it happens (the library hands hazards to the safety audit)
    on_event: Callable[[BenchEvent], None] | None = None

    def __post_init__(self) -> None:
        self._by_column = {v: k for k, v in self.matrix_columns.items()}
        self._connections: dict[str, set[str]] | None = None

    # -- what instruments call -------------------------------------------------------------
    def set_level(self, terminal: str, v: float | None) -> None:
        """Set a terminal's output voltage; None = output relay open (floating)."""
        self.levels[terminal] = None if v is None else float(v)

    def set_closed(self, switch: str, crosspoints: Iterable[tuple[str, int]]) -> None:
        """Replace the set of closed crosspoints (row letter, global column) of one matrix. A
        relay that moves while a source on its own line or matrix row, or on any bit or source
        line (whose cells it could make or break a current through), is away from 0 V switches
        hot: noted as a "hot-switch" event (the contacts arc, the line steps)."""
        new = set(crosspoints)
        self._note_hot_switches(switch, new ^ self.closed.get(switch, set()))
        self.closed[switch] = new
        self._connections = None

    def _note_hot_switches(self, switch: str, moved: set[tuple[str, int]]) -> None:
        if not moved:
            return
        connections = self.connections()
        rows = self.matrix_rows.get(switch, {})
        on_cells = {t for line, terms in connections.items() if line[:2] in ("BL", "SL")
                    for t in terms}  # fmt: skip
        for row, col in sorted(moved):
            line = self._by_column.get((switch, col))
            terms = set(connections.get(line, ())) | {rows.get(row)} | on_cells
            live = sorted(f"{t} at {self.levels[t]:g} V" for t in terms - {None, GROUND}
                          if self.levels.get(t) not in (None, 0.0))  # fmt: skip
            if live:
                detail = f"{switch} row {row} column {col} ({line}) moved with {', '.join(live)}"
                self.note(BenchEvent(self.clock.now_s, "hot-switch", detail))

    def note(self, event: BenchEvent) -> None:
        """Record an event (and tell `on_event`)."""
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def dwell(self, duration_s: float) -> None:
        """Hold the present DC bias on the chip for `duration_s` and advance the clock."""
        if duration_s <= 0:
            return
        v_bl, v_sl, v_wl = self.line_voltages()
        if _any_bias(v_bl, v_sl):
            self.model.apply(v_bl, v_sl, v_wl, duration_s)
        self.clock.advance(duration_s)

    def current_into(self, terminal: str, aperture_s: float | None) -> float:
        """DC current flowing out of `terminal` into the chip, measured over `aperture_s`."""
        lines = self.lines_of(terminal)
        if not lines:
            return 0.0
        v_bl, v_sl, v_wl = self.line_voltages()
        i_bl, i_sl = self.model.currents(v_bl, v_sl, v_wl, aperture_s=aperture_s)
        total = 0.0
        for line in lines:
            kind, idx = line[:2], int(line[2:])
            if kind == "BL":
                total += float(i_bl[idx])
            elif kind == "SL":
                total += float(i_sl[idx])
        return total

    def pulse_sequence(
        self,
        steps: list[tuple[dict[str, float], float, float, float]],
        repeat: int = 1,
    ) -> None:
        """Apply pulses: each step overrides some terminals' levels for (width, rise, fall) s.

        The other terminals keep their DC level. The caller advances the clock by the real
        period of the train (pulses are usually much shorter than their period).
        """
        seq = []
        for overrides, width_s, rise_s, fall_s in steps:
            v_bl, v_sl, v_wl = self.line_voltages(overrides)
            seq.append(
                {"v_bl": v_bl, "v_sl": v_sl, "v_wl": v_wl, "duration_s": width_s,
                 "rise_s": rise_s, "fall_s": fall_s}
            )  # fmt: skip
        if any(_any_bias(s["v_bl"], s["v_sl"]) for s in seq):
            self.model.apply_sequence(seq, repeat=repeat)

    def assert_trigger(self, source: str) -> None:
        """A digital I/O line (`source`, "smu.dio1") pulses: the instrument cabled to it (if any)
        gets an external trigger."""
        target = self.instruments.get(self.triggers.get(source, ""))
        if target is not None:
            target.external_trigger()

    def tsplink_node(self, caller: str, node: int) -> Any:
        """The instrument at TSP-Link `node` of `caller`'s network (None if there is none)."""
        if caller not in self.tsplink:
            return None
        for name, number in self.tsplink.items():
            if number == node:
                return self.instruments.get(name)
        return None

    # -- wiring ------------------------------------------------------------------------------
    def connections(self) -> dict[str, set[str]]:
        """chip line -> terminals connected to it now (cables plus closed crosspoints)."""
        if self._connections is None:
            conn: dict[str, set[str]] = {}
            for term, lines in self.cabled.items():
                for line in lines:
                    conn.setdefault(line, set()).add(term)
            for switch, points in self.closed.items():
                rows = self.matrix_rows.get(switch, {})
                for row, col in points:
                    line = self._by_column.get((switch, col))
                    term = rows.get(row)
                    if line is not None and term is not None:
                        conn.setdefault(line, set()).add(term)
            self._connections = conn
        return self._connections

    def lines_of(self, terminal: str) -> list[str]:
        return [line for line, terms in self.connections().items() if terminal in terms]

    def line_voltages(
        self, overrides: dict[str, float] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Voltages on (BL[cols], SL[rows], WL[rows]); NaN where a line floats."""
        m = self.model
        v = {"BL": np.full(m.cols, np.nan), "SL": np.full(m.rows, np.nan),
             "WL": np.full(m.rows, np.nan)}  # fmt: skip
        for line, terms in self.connections().items():
            levels = []
            for t in terms:
                lvl = 0.0 if t == GROUND else (overrides or {}).get(t, self.levels.get(t))
                if lvl is not None:
                    levels.append(lvl)
            if not levels:
                continue
            if max(levels) - min(levels) > 1e-9:
                self.note(
                    BenchEvent(self.clock.now_s, "short", f"{line} driven by {sorted(terms)}")
                )
            v[line[:2]][int(line[2:])] = levels[0]
        return v["BL"], v["SL"], v["WL"]

    def open_everything(self) -> None:
        """Bench reset: every terminal floating, every matrix open."""
        self.levels.clear()
        self.closed.clear()
        self._connections = None


def _any_bias(v_bl: np.ndarray, v_sl: np.ndarray) -> bool:
    """True if some cell has both terminals driven and a non-zero voltage across it."""
    bl = v_bl[~np.isnan(v_bl)]
    sl = v_sl[~np.isnan(v_sl)]
    if bl.size == 0 or sl.size == 0:
        return False
    return bool(np.abs(bl).max() > 0 or np.abs(sl).max() > 0)
