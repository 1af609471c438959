"""Routing: which instrument terminal each of a cell's lines is connected to, and the relay
moves that get it there.

Holds `Cell`, `GND` (the ground row of a matrix), `Route` and the `Routing` mixin of
`reramlab.bench.Bench`: the crosspoints of a route, the shared read/pulse route, the
line-by-line assignment of a multiplexed parallel update, opening every matrix before a board
fire, and `_switch_to`, the one place where the host moves relays (an instrument-side loop of
`reramlab.onboard` moves them from its script, after `configured_switch` has set the matrix's
connect rule, and hands the state back with `after_script`). Its rules: break before make; the
sources go to 0 V before any relay moves (no hot switching), except that the gate keeps its
level while only BL/SL relays off the gate's matrix row move; the closed crosspoints of every
matrix are remembered, so an unchanged route sends nothing and a move sends one chunk; pulse
outputs a script left armed are turned off before the host routes anything.

Kept apart because DC operations, pulses and parallel updates all route through it, and the
rules that keep a moving relay from switching a live line belong in one place.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from reramlab.instruments.roles import SelectiveSwitchMatrix

Cell = tuple[int, int]
GND = "gnd"


@dataclass(frozen=True)
class Route:
    """Which terminal each of a cell's three lines is connected to (None = open; a tuple of
    terminals = all of them at once, on different matrix rows of the line's column)."""

    wl: str | tuple[str, ...] | None
    bl: str | tuple[str, ...] | None
    sl: str | tuple[str, ...] | None


def _terms(term: str | tuple[str, ...] | None) -> tuple[str, ...]:
    return () if term is None else (term,) if isinstance(term, str) else tuple(term)


class Routing:
    """Routing and switching of a `Bench` (mixed into it; `Bench.__init__` sets the state used
    here: the wiring, the matrices' closed crosspoints, the route and cell last set, the
    levels of the drive and gate SMUs)."""

    def route(self, cell: Cell, route: Route) -> None:
        """Connect the cell's lines as asked; everything else on the matrices opens.

        Sources are brought to 0 V before any relay moves (no hot switching); the gate keeps its
        level when only BL/SL relays off the gate's matrix row move (see `_switch_to`)."""
        self.disarm_pulse_outputs()
        if self._route == route and self._cell == cell:
            return
        wanted, _ = self.crosspoints(cell, route)
        self._switch_to(wanted, quiet=self._gate_free)
        self._route, self._cell = route, cell

    @functools.cached_property
    def _gate_free(self) -> frozenset[tuple[str, str]]:
        """(switch, crosspoint) of every BL and SL column on every matrix row but the gate's:
        the relays that never connect or disconnect the gate (see `_switch_to`)."""
        gate_row = self._row_of.get(self.wiring.functions["gate"])
        rows = sorted(set(self._row_of.values()) - {gate_row})
        points = set()
        for kind, n in (("BL", self.cols), ("SL", self.rows)):
            group = self.wiring.lines[kind]
            if group.switch is None:
                continue
            sw = self.station.instruments[group.switch]
            points |= {(group.switch, sw.crosspoint(row, group.first_column + idx))
                       for row in rows for idx in range(n)}  # fmt: skip
        return frozenset(points)

    def crosspoints(
        self, cell: Cell, route: Route
    ) -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
        """The matrix crosspoints of `route` for `cell` ({switch: names}) and the ones that
        would ground the cell's BL and SL ({(switch, name)})."""
        r, c = cell
        wanted: dict[str, set[str]] = {}
        ground: set[tuple[str, str]] = set()  # (switch, crosspoint) grounding the cell's BL/SL
        for kind, idx, term in (("WL", r, route.wl), ("BL", c, route.bl), ("SL", r, route.sl)):
            group = self.wiring.lines[kind]
            if group.switch is None:
                continue
            points = wanted.setdefault(group.switch, set())
            sw = self.station.instruments[group.switch]
            for t in _terms(term):
                points.add(sw.crosspoint(self._row_of[t], group.first_column + idx))
            if kind != "WL" and GND in self._row_of:
                ground.add(
                    (group.switch, sw.crosspoint(self._row_of[GND], group.first_column + idx))
                )
        return wanted, ground

    def _zero_sources(self, *, keep_gate: bool = False) -> None:
        if self._drive_v:
            self.drive.set_voltage(0.0)
            self._drive_v = 0.0
        if self._gate_v and not keep_gate:
            self.gate.set_voltage(0.0)
            self._gate_v = 0.0

    def _shared_route(self, *, ground_sl: bool) -> Route:
        """The shared route (see `_shared_bl` / `_shared_sl`): drive SMU and BL pulse channel on
        the BL; on the SL the SL pulse channel (if shared) and, with `ground_sl`, ground."""
        fns = self.wiring.functions
        bl = (fns["drive"], fns["pulse_bl"])
        if not self._shared_sl:
            return Route(wl=fns["gate"], bl=bl, sl=GND)
        sl = (fns["pulse_sl"], GND) if ground_sl else fns["pulse_sl"]
        return Route(wl=fns["gate"], bl=bl, sl=sl)

    def _route_lines(self, assign: dict[str, str]) -> None:
        """Connect chip lines ('BL3', 'SL0', 'WL2') to terminals through the matrices; every
        line not named floats. Sources go to 0 V before any relay moves."""
        wanted: dict[str, set[str]] = {g.switch: set() for g in self.wiring.lines.values()}
        for line, term in assign.items():
            group = self.wiring.lines[line[:2]]
            sw = self.station.instruments[group.switch]
            wanted[group.switch].add(
                sw.crosspoint(self._row_of[term], group.first_column + int(line[2:]))
            )
        self._switch_to(wanted)

    def _isolate_lines(self) -> None:
        """Open every matrix (the SMUs and generators let go of the lines) before a board fire."""
        self._switch_to({g.switch: set() for g in self.wiring.lines.values() if g.switch})

    def configured_switch(self, name: str):
        """The matrix `name`, its connect rule (break before make) set once per session: by the
        bench before its first move, or before a script moves its relays."""
        sw = self.station.instruments[name]
        if name not in self._configured:
            sw.configure()
            self._configured.add(name)
        return sw

    def _switch_to(
        self, wanted: dict[str, set[str]], *, quiet: set[tuple[str, str]] = frozenset()
    ) -> None:
        """Make each matrix's closed crosspoints exactly `wanted` (break before make): a move
        that only closes or only opens crosspoints of a matrix whose state the bench knows is
        that one `close` / `open` (one relay actuation, nothing to break first); any other is
        one `exclusive_close` (or open-all and close).

        The drive SMU goes to 0 V first, and so does the gate SMU, unless every crosspoint that
        opens or closes is in `quiet` (`route` passes `_gate_free`: the BL/SL columns on every
        matrix row but the gate's, pulse outputs being off there): every BL/SL source is then
        at 0 V or off, so a moving relay carries no current and the line it connects, grounds
        or frees is at 0 V; the gate, none of whose relays (its matrix row, the WL columns)
        moves, keeps its level on the word line. A gate on a word line with every BL and SL
        at 0 V or floating biases no cell."""
        self.disarm_pulse_outputs()
        changed = {
            s: frozenset(p) for s, p in wanted.items() if self._closed.get(s) != frozenset(p)
        }
        if not changed:
            return
        moved = {(s, x) for s, p in changed.items() for x in p ^ self._closed.get(s, frozenset())}
        self._zero_sources(
            keep_gate=bool(quiet) and all(s in self._closed for s in changed) and moved <= quiet
        )
        self._route = self._cell = None
        for s, points in changed.items():
            sw = self.configured_switch(s)
            was = self._closed.pop(s, None)  # unknown until the matrix has answered
            only_opens = was is not None and bool(points) and points < was
            selective = isinstance(sw, SelectiveSwitchMatrix)
            if was is not None and points > was:  # only closes: nothing to break first
                sw.close(sorted(points - was))
            elif only_opens and selective:
                sw.open(sorted(was - points))
            elif points and selective:
                sw.exclusive_close(sorted(points))  # break before make: one chunk, one reply
            else:
                sw.open_all()
                if points:
                    sw.close(sorted(points))
            self._closed[s] = points
