"""The bench layer: cell-level operations over a connected station's wiring.

Protocols speak to a ``Bench`` in cells, volts, seconds and amperes; the bench maps a cell to its
word, bit and source lines, routes instrument channels there (switch matrices, break before
make, sources at 0 V while relays move; only the gate keeps its level while nothing but BL/SL
relays off the gate's matrix row move), checks every level against the station's safety
limits before anything is sent, and drives the role interfaces of the instruments. It never
knows whether the instruments are real or simulated.

Polarity convention (1T1R): positive cell voltage = SET direction, applied on the BL with the SL
grounded; negative = RESET direction, applied as +|V| on the SL with the BL grounded.

Bus economy (one VISA message per instrument per step, every check in the message it checks):
a `read` told what comes next (`then`) is one message to the drive that starts and ends at 0 V
and leaves the drive as that pulse needs it; a pulse is one message to the generator (set-up if
it changed, outputs on, trigger, outputs off, error query); a matrix move is one chunk with its
error count; the gate keeps its level while only BL/SL relays move. Nothing is checked later
than in its own message, except that a changed pulse set-up is checked at the end of the
message that also fires it (see `_setup_and_fire` for why that stays within the limits).

Bus faults: the measurement of a `read` (a query at a level already set) is retried after a
timeout or a garbled reply, with the instrument's I/O cleared in between (`reramlab.retry`); a
one-message read is retried whole (it re-applies only the read level). Nothing else that
changes a level or fires a pulse is retried. `safe()` clears every instrument's I/O first and
retries each one's safe state. What was retried is noted in `io_notes`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reramlab.errors import SafetyLimitError
from reramlab.onboard import Onboard
from reramlab.retry import READ_POLICY, SAFE_POLICY, plausible_number
from reramlab.stations.connect import ConnectedStation
from reramlab.stations.schema import Limits

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
        self._drive_on = False
        #: the drive SMU's current limit (prepare_dc)
        self._drive_limit_a = 0.0
        #: pulse set-ups last sent, per channel (unchanged ones are not sent again)
        self._pulse_setup: dict[int, tuple] = {}
        #: SET pulses and positive reads share one route: the drive SMU and the BL pulse channel
        #: both on the cell's BL (different matrix rows), the SMU released (output off, high
        #: impedance) while pulsing and the pulse channel's output relay open while reading
        self._shared_bl = (
            self.pulse_bl is not None
            and hasattr(self.drive, "read_at")
            and hasattr(self.drive, "release_when_off")
            and self.wiring.lines["BL"].switch is not None
            and {fns["drive"], fns["pulse_bl"]} <= set(self._row_of)
        )
        #: RESET pulses, pulse pairs and reads share that route too: the SL stays on the SL pulse
        #: channel (its output relay open while reading), and a read adds the SL's ground
        #: crosspoint, which a RESET pulse or a pair burst opens again (the only relay that
        #: moves). During a RESET pulse the drive SMU holds the BL at 0 V (output on) as its
        #: ground; during a pair burst it is released (high impedance) for the BL channel.
        #: Which of the two a read leaves it in follows the read's `then` hint.
        self._shared_sl = (
            self._shared_bl
            and self.pulse_sl is not None
            and self.wiring.lines["SL"].switch is not None
            and {fns["pulse_sl"], GND} <= set(self._row_of)
        )
        #: both pulse channels armed for their trigger input (`arm_pulse_outputs_external`);
        #: any host-side pulse set-up or fire re-arms them for the bus trigger
        self.pulse_outputs_armed_external = False
        #: what went wrong on the bus and was recovered (retried reads, stale errors at the end)
        self.io_notes: list[str] = []
        self._names = {id(inst): name for name, inst in station.instruments.items()}

    @functools.cached_property
    def onboard(self) -> Onboard | None:
        """The on-instrument write-verify loop of this station (None if it cannot run one)."""
        return Onboard.of(self)

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

        Sources are brought to 0 V before any relay moves (no hot switching); the gate keeps its
        level when only BL/SL relays off the gate's matrix row move (see `_switch_to`)."""
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
        if self._shared_bl:
            self.drive.release_when_off()
        else:
            self.drive.enable()
        self.gate.enable()
        self._drive_on = not self._shared_bl
        self._drive_v = self._gate_v = 0.0
        self._drive_limit_a = i_compliance_a
        self._dc_ready = True

    def _drive_hold(self) -> None:
        """The drive SMU's output on (it sources its present level)."""
        if not self._drive_on:
            self.drive.enable()
            self._drive_on = True

    def _drive_release(self) -> None:
        """The drive SMU's output off (high impedance on a shared BL) before a pulse."""
        if self._drive_on and self._shared_bl:
            with _driver_of(self.drive).batch(check_errors=True):
                self._set_drive(0.0)
                self.drive.disable()
            self._drive_on = False

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
        if v >= 0 and self._shared_bl:
            self.route(cell, self._shared_route(ground_sl=True))
        elif v >= 0:
            self.route(cell, Route(wl=gate, bl=drive, sl=GND))
        else:
            self.route(cell, Route(wl=gate, bl=GND, sl=drive))

    def _shared_route(self, *, ground_sl: bool) -> Route:
        """The shared route (see `_shared_bl` / `_shared_sl`): drive SMU and BL pulse channel on
        the BL; on the SL the SL pulse channel (if shared) and, with `ground_sl`, ground."""
        fns = self.wiring.functions
        bl = (fns["drive"], fns["pulse_bl"])
        if not self._shared_sl:
            return Route(wl=fns["gate"], bl=bl, sl=GND)
        sl = (fns["pulse_sl"], GND) if ground_sl else fns["pulse_sl"]
        return Route(wl=fns["gate"], bl=bl, sl=sl)

    def _smu_can_ground_bl(self) -> bool:
        """Whether a RESET pulse may use the drive SMU (0 V, output on) as the BL's ground: on
        the shared route, with DC prepared and its current limit at the station's maximum (a
        lower limit would let the BL rise in compliance and weaken the pulse); otherwise the
        BL goes to the ground row of its matrix."""
        return (
            self._shared_sl
            and self._dc_ready
            and self._drive_limit_a >= self.limits.i_compliance_max_a
        )

    def _drive_ground(self) -> None:
        """The drive SMU at 0 V with its output on: the BL's ground during a RESET pulse on the
        shared route (level and output in one message when it was off)."""
        if self._drive_on:
            self._set_drive(0.0)
            return
        with _driver_of(self.drive).batch(check_errors=True):
            self._set_drive(0.0)
            self._drive_hold()

    def dc(self, cell: Cell, v: float, vg: float) -> float:
        """Apply cell voltage `v` (sign = polarity) with gate `vg`; return the cell current (A,
        positive from BL to SL)."""
        if not self._dc_ready:
            raise RuntimeError("call prepare_dc() before DC operations")
        self._dc_route(cell, v)
        self._set_gate(vg)
        self._set_drive(abs(v))
        self._drive_hold()
        i = self.drive.measure_current()
        return i if v >= 0 else -i

    def read(
        self, cell: Cell, v_read: float, vg: float, *, then: float | None = None
    ) -> tuple[float, float]:
        """DC read at `v_read`: (current A, conductance S). The measurement is retried if it
        times out or returns garbage (the levels stay as they are; see `reramlab.retry`).

        `then`: what the caller expects to do next with the cell, as a cell voltage whose sign
        is all that counts (> 0: a SET pulse or a pulse-pair burst; < 0: a RESET pulse; 0:
        nothing, e.g. the next cell), or None (unknown: the drive holds `v_read`, as a DC
        bias). With a hint, a drive that can (`read_at`) makes the whole read one message:
        level, output on, measurement, level back to 0 V, output off or (before a RESET pulse
        that the drive grounds, `_smu_can_ground_bl`) on at 0 V, error query. The cell sees the
        same read either way; a wrong hint costs one message to the drive before the pulse,
        never a different pulse. Such a read is retried as a whole (it re-applies only the
        read level)."""
        if not self._dc_ready:
            raise RuntimeError("call prepare_dc() before DC operations")
        self._dc_route(cell, v_read)
        self._set_gate(vg)
        drive = self.drive
        if then is not None and hasattr(drive, "read_at"):
            return self._read_once(cell, v_read, hold=self._hold_after_read(v_read, then))
        if self._shared_bl and not self._drive_on:
            # level and output on in one message, one error check
            with _driver_of(drive).batch(check_errors=True):
                self._set_drive(abs(v_read))
                self._drive_hold()
        else:
            self._set_drive(abs(v_read))
            self._drive_hold()
        measure = drive.measure_current
        i = READ_POLICY.call(
            measure,
            what=f"read of cell {cell} on {self.wiring.functions['drive']}",
            clear=getattr(_driver_of(drive), "clear_io", None),
            wait=self.wait,
            check=plausible_number,
            on_retry=self.io_notes.append,
        )
        i = i if v_read >= 0 else -i
        return i, i / v_read

    def _hold_after_read(self, v_read: float, then: float) -> bool:
        """Whether a one-message read leaves the drive on at 0 V (else off): on a shared BL only
        before a RESET pulse it grounds; elsewhere the drive is never released (it stays on)."""
        if not self._shared_bl:
            return True
        return v_read >= 0 and then < 0 and self._smu_can_ground_bl()

    def _read_once(self, cell: Cell, v_read: float, *, hold: bool) -> tuple[float, float]:
        """`read` in one message to the drive (`read_at`), which ends at 0 V, on if `hold`."""
        drive = self.drive
        try:
            i = READ_POLICY.call(
                functools.partial(drive.read_at, abs(v_read), hold=hold),
                what=f"read of cell {cell} on {self.wiring.functions['drive']}",
                clear=getattr(_driver_of(drive), "clear_io", None),
                wait=self.wait,
                check=plausible_number,
                on_retry=self.io_notes.append,
            )
        except BaseException:
            # level and output unknown (NaN: the next zeroing or level change is sent)
            self._drive_v, self._drive_on = math.nan, True
            raise
        self._drive_v, self._drive_on = 0.0, hold
        i = i if v_read >= 0 else -i
        return i, i / v_read

    def sweep(
        self,
        cell: Cell,
        levels_v: Sequence[float],
        vg: float,
        *,
        delay_s: float = 0.0,
        read_only: bool = False,
    ) -> np.ndarray:
        """Quasi-static sweep through signed cell voltages; instrument-side list sweeps, one per
        run of equal polarity (the routing flips between SET and RESET halves). Returns A.

        `read_only=True` declares the levels reads (they do not change the cell, e.g. a burst
        of reads at `v_read`): a segment that times out or returns garbage is then swept
        again (see `reramlab.retry`). Otherwise nothing is repeated."""
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
            self._drive_hold()
            if read_only:
                currents = READ_POLICY.call(
                    functools.partial(self.drive.sweep, np.abs(seg), delay_s=delay_s),
                    what=f"read sweep of cell {cell} on {self.wiring.functions['drive']}",
                    clear=getattr(_driver_of(self.drive), "clear_io", None),
                    wait=self.wait,
                    check=lambda a: [plausible_number(x) for x in a],
                    on_retry=self.io_notes.append,
                )
            else:
                currents = self.drive.sweep(np.abs(seg), delay_s=delay_s)
            out[start:stop] = sign[start] * currents
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
        smu_ground = v < 0 and self._smu_can_ground_bl()
        if v >= 0 and self._shared_bl:  # the read route: no relay moves, the SMU lets go
            route = self._shared_route(ground_sl=True)
        elif v >= 0:
            route = Route(wl=gate, bl=term, sl=GND)
        elif smu_ground:
            # the read route less the SL's ground; the drive SMU holds the BL at 0 V
            route = self._shared_route(ground_sl=False)
        else:
            route = Route(wl=gate, bl=GND, sl=term)
        self.route(cell, route)
        if smu_ground:
            self._drive_ground()
        else:
            self._drive_release()
        self._set_gate(vg)
        period = period_s or max(4 * width_s, width_s + 2 * (rise_s + fall_s) + 20e-9)
        setup = dict(v_high=abs(v), width_s=width_s, period_s=period, rise_s=rise_s,
                     fall_s=fall_s)  # fmt: skip
        self._setup_and_fire(self._generator_of(term), [(channel, setup)], count, count * period)

    def _setup_and_fire(self, generator, setups: list[tuple[object, dict]], count: int,
                        busy_s: float) -> None:  # fmt: skip
        """Pulse set-ups, outputs on, one bus trigger for `count` periods, outputs off: one
        message with one error check (`generator.batch`), the set-ups only where they changed.

        A channel whose set-up the bench has not sent and checked before (its first, or the
        first after `safe`) is set up first, in messages of its own with their own check: that
        set-up declares the high-impedance load, and no fire may follow a refused load (levels
        meant for a 50-ohm load would double on the cell). Any later set-up rides with the
        fire: a refused unit of it leaves that setting at the value the bench sent before, which
        the station limits allowed and the instrument accepted, and the error query at the end
        of the same message raises before anything else is sent."""
        self.pulse_outputs_armed_external = False
        first = [(ch, setup) for ch, setup in setups if id(ch) not in self._pulse_setup]
        try:
            if first:
                with generator.batch(check_errors=True):
                    for ch, setup in first:
                        self._configure_pulse(ch, **setup)
            t0 = time.monotonic()
            with _timeout_at_least(generator, 2 * busy_s + 5.0), generator.batch(check_errors=True):
                for ch, setup in setups:
                    self._configure_pulse(ch, **setup)
                for ch, _ in setups:
                    ch.enable()
                generator.fire(count)
                for ch, _ in setups:
                    ch.disable()
        except BaseException:
            # what was batched may not have arrived: ask (and send) the set-ups again next time
            for ch, _ in setups:
                self._pulse_setup.pop(id(ch), None)
            raise
        self.station.await_instrument(busy_s, since=t0)

    def _configure_pulse(self, channel, **setup: float) -> None:
        """`channel.configure_pulse(**setup)` unless that set-up is the one last sent to it."""
        self.pulse_outputs_armed_external = False
        key = tuple(sorted(setup.items()))
        last = self._pulse_setup.get(id(channel))
        if last == key:
            return
        self._pulse_setup.pop(id(channel), None)
        if last is not None and _accepts(channel.configure_pulse, "present"):
            # the period and high level it holds are the ones last sent: no need to ask
            was = dict(last)
            channel.configure_pulse(**setup, present=(was["period_s"], was["v_high"]))
        else:
            channel.configure_pulse(**setup)
        self._pulse_setup[id(channel)] = key

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
        if self._shared_sl:  # the read route less the SL's ground, the SMU released first
            self._drive_release()
            self.route(cell, self._shared_route(ground_sl=False))
        else:
            self.route(cell, Route(wl=fns["gate"], bl=fns["pulse_bl"], sl=fns["pulse_sl"]))
        self._set_gate(vg)
        slot = width_s + rise_s + fall_s + 20e-9
        period = 2 * slot
        generator = self._generator_of(fns["pulse_bl"])
        one_generator = generator is self._generator_of(fns["pulse_sl"]) and hasattr(
            generator, "batch"
        )
        shape = dict(width_s=width_s, period_s=period, rise_s=rise_s, fall_s=fall_s)
        setups = [(self.pulse_bl, dict(v_high=v_set, **shape, delay_s=0.0)),
                  (self.pulse_sl, dict(v_high=abs(v_reset), **shape, delay_s=slot))]  # fmt: skip
        if one_generator:  # set-ups, both outputs on, trigger, both off: one message
            self._setup_and_fire(generator, setups, count, count * period)
            return
        for ch, setup in setups:
            self._configure_pulse(ch, **setup)
        self.pulse_bl.enable()
        self.pulse_sl.enable()
        self._fire(generator, count, count * period)
        self.pulse_bl.disable()
        self.pulse_sl.disable()

    def configure_pulse_channel(self, channel, **setup: float) -> None:
        """A pulse channel's shape and levels (`PulseChannel.configure_pulse`; nothing is sent
        if it already holds them). The caller has checked the levels against the limits."""
        self._configure_pulse(channel, **setup)

    def arm_pulse_outputs_external(self) -> None:
        """Both pulse channels armed for the generator's trigger input and their outputs on
        (one message), for a script that pulses that input (`reramlab.onboard`)."""
        channels = [ch for ch in (self.pulse_bl, self.pulse_sl) if ch is not None]
        with _driver_of(channels[0]).batch(check_errors=True):
            for ch in channels:
                ch.enable_external()
        self.pulse_outputs_armed_external = True

    def after_script(self, cell: Cell, *, read_route: str, switch: str, vg: float) -> None:
        """What an on-instrument loop left: the cell on its read route (matrix `switch` holds
        exactly the crosspoints `read_route`), the drive on at 0 V, the gate at `vg`."""
        fns = self.wiring.functions
        self._closed[switch] = frozenset(filter(None, read_route.split(",")))
        self._route = Route(wl=fns["gate"], bl=fns["drive"], sl=GND)
        self._cell = cell
        self._drive_v, self._drive_on, self._gate_v = 0.0, True, vg

    def _fire(self, generator, count: int, busy_s: float) -> None:
        """One bus trigger, then wait for the burst to end before any output changes."""
        self.pulse_outputs_armed_external = False
        t0 = time.monotonic()
        generator.fire(count)
        self.station.await_instrument(busy_s, since=t0)

    def _generator_of(self, term: str):
        return self.station.instruments[term.split(".")[0]]

    # -- safe state --------------------------------------------------------------------------
    def safe(self) -> list[str]:
        """Every source to 0 V and off, every matrix open. Tries everything; returns problems.

        Each instrument's I/O is cleared first (a reply left by an interrupted query must not be
        read as the answer to the safe state's own queries; errors still queued are noted in
        `io_notes`), then its safe state is sent, retried if the bus fails (it is idempotent).
        Sources go first, then the matrices: a source that cannot be reached is at least cut
        off from the chip."""
        problems = []
        seen: set[int] = set()
        for obj in (self.drive, self.gate, *self.pulse_generators,
                    *(self.station.instruments[g.switch] for g in self.wiring.lines.values() if g.switch)):  # fmt: skip
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            driver = _driver_of(obj)
            name = self._names.get(id(driver), type(obj).__name__)
            clear = getattr(driver, "clear_io", None)
            if clear is not None:
                try:
                    stale = clear()
                except Exception as e:  # noqa: BLE001 - the safe state below still gets its tries
                    self.io_notes.append(
                        f"{name}: clearing the I/O before the safe state failed ({type(e).__name__}: {e})"
                    )
                else:
                    if stale:
                        self.io_notes.append(f"{name}: error queue held {stale} at the safe state")
            try:
                SAFE_POLICY.call(obj.safe_state, what=f"{name} safe state", clear=clear,
                                 wait=self.wait, on_retry=self.io_notes.append)  # fmt: skip
            except Exception as e:  # noqa: BLE001 - keep going: every output must be made safe
                problems.append(f"{name}: {e}")
        self._closed.clear()
        self._pulse_setup.clear()
        self.pulse_outputs_armed_external = False
        self._drive_on = False
        self._route = None
        self._dc_ready = False
        self._gate_v = self._drive_v = None
        return problems

    # =============================================================================================
    # Parallel row/column updates (disturb protocol `parallel` and `map` modes)
    #
    # A stochastic update (Gokmen & Vlasov 2016) pulses every row and column of a block at once:
    # in each time slot, the rows (SL) and columns (BL) that carry a bit are driven, and a cell
    # sees the full cell voltage Vs only where a row bit and a column bit coincide, Vs/2 where
    # only one of its lines carries a bit (half-selected), 0 V elsewhere. The gates (WL) of the
    # block's rows are on, the other rows' gates are off (their cells cannot be disturbed).
    # Two executions give every cell the same pulses:
    #
    # - `parallel_update`: a board with one channel per line (`ArrayPulser`, `board:` in the
    #   wiring). Row lines carry -Vs/2 and column lines +Vs/2 in the same slot (the V/2 scheme:
    #   BL - SL = Vs at a crossing); every other line is driven at 0 V. One message per update.
    # - `parallel_update_multiplexed`: a two-channel pulse generator and switch matrices. Each
    #   slot is split into single-channel sub-steps, each hitting a rectangle of cells with the
    #   gates as row selectors: the column half-selects (other block rows x bit columns, Vs/2),
    #   the row half-selects (bit rows x every other column, Vs/2) and the coincidences (bit rows
    #   x bit columns, Vs). SET phases pulse the BLs of the rectangle (SLs grounded, other BLs
    #   grounded); RESET phases pulse the SLs of its rows with its BLs grounded and the other BLs
    #   floating (their cells' gates are off or their BL floats, so no current flows). The same
    #   cells see the same pulses, in a different order within the update, and no two channels
    #   need to fire together. Identical sub-steps of a phase are merged into one burst; every
    #   other one costs a matrix reroute and a trigger (see the disturb protocol's report).
    # =============================================================================================
    @property
    def array_pulser(self):
        """The `ArrayPulser` board cabled to every line kind (None if the station has none).
        Found once, and then also brought to its safe state by `safe()`."""
        names = {g.board for g in self.wiring.lines.values()}
        if len(names) != 1 or None in names:
            return None
        board = self.station.instruments[names.pop()]
        if board not in self.pulse_generators:
            self.pulse_generators.append(board)
        return board

    def check_parallel(self, rows: Sequence[int], cols: Sequence[int],
                       phases: Sequence[UpdatePhase], *, width_s: float, vg: float) -> None:  # fmt: skip
        """Refuse an update whose levels, width, block or slot count the station does not allow."""
        for r in rows:
            self.check_cell((r, 0))
        for c in cols:
            self.check_cell((0, c))
        self.check_width(width_s)
        self.check_level("WL", vg, "gate voltage vg")
        for ph in phases:
            line = "BL" if ph.v_cell >= 0 else "SL"
            self.check_level(line, abs(ph.v_cell), f"{line} update amplitude")
            if ph.row_bits.shape[1] != len(rows) or ph.col_bits.shape[1] != len(cols):
                raise ValueError(f"phase bits {ph.row_bits.shape}/{ph.col_bits.shape} do not match "
                                 f"the block ({len(rows)} rows x {len(cols)} columns)")  # fmt: skip
            self.check_count(ph.slots, "slots per update phase")

    def parallel_update(self, rows: Sequence[int], cols: Sequence[int],
                        phases: Sequence[UpdatePhase], *, width_s: float, vg: float,
                        rise_s: float = 5e-9, fall_s: float = 5e-9) -> None:  # fmt: skip
        """One update of the block rows x cols on the array board: every phase's slots in one
        fire (one message). Row lines carry -v_cell/2, column lines +v_cell/2."""
        board = self.array_pulser
        if board is None:
            raise SafetyLimitError(
                "station has no array board on every line kind (wiring.lines.*.board)"
            )
        self.check_parallel(rows, cols, phases, width_s=width_s, vg=vg)
        lines = self.wiring.lines
        channel = {kind: np.arange(n) + g.first_channel - 1 for kind, g, n in
                   (("WL", lines["WL"], self.rows), ("SL", lines["SL"], self.rows),
                    ("BL", lines["BL"], self.cols))}  # fmt: skip
        if max(int(c.max()) for c in channel.values()) >= board.n_channels:
            raise SafetyLimitError(
                f"the chip needs more lines than the board's {board.n_channels} channels"
            )
        rows, cols = np.asarray(rows, dtype=int), np.asarray(cols, dtype=int)
        segments = []
        for ph in phases:
            levels = np.zeros(board.n_channels)
            bits = np.zeros((ph.slots, board.n_channels), dtype=bool)
            levels[channel["WL"][rows]], bits[:, channel["WL"][rows]] = vg, True
            levels[channel["SL"][rows]], bits[:, channel["SL"][rows]] = -ph.v_cell / 2, ph.row_bits
            levels[channel["BL"][cols]], bits[:, channel["BL"][cols]] = ph.v_cell / 2, ph.col_bits
            segments.append((levels, bits))
        period = self._update_period(width_s, rise_s, fall_s)
        self._isolate_lines()
        if getattr(self, "_board_setup", None) != (width_s, period, rise_s, fall_s):
            board.set_voltage_limit(
                max(self.limits.v_bl_max, self.limits.v_sl_max, self.limits.v_wl_max)
            )
            board.configure_timing(width_s=width_s, period_s=period, rise_s=rise_s, fall_s=fall_s)
            self._board_setup = (width_s, period, rise_s, fall_s)
        t0 = time.monotonic()
        try:
            board.fire_segments(segments)
        finally:
            self.station.await_instrument(sum(ph.slots for ph in phases) * period, since=t0)

    def parallel_update_multiplexed(self, rows: Sequence[int], cols: Sequence[int],
                                    phases: Sequence[UpdatePhase], *, width_s: float, vg: float,
                                    rise_s: float = 5e-9, fall_s: float = 5e-9) -> None:  # fmt: skip
        """The same update on a two-channel pulse generator and switch matrices, slot by slot
        in gate-selected single-channel sub-steps (see the section comment). Needs prepare_dc()
        first (the gate SMU holds the selected word lines)."""
        self.check_parallel(rows, cols, phases, width_s=width_s, vg=vg)
        self.check_multiplexed()
        if not self._dc_ready:
            raise RuntimeError("call prepare_dc() before a multiplexed update (the gate SMU)")
        block_rows, every_col = frozenset(rows), frozenset(range(self.cols))
        period = self._update_period(width_s, rise_s, fall_s)
        for ph in phases:
            half: dict[tuple[frozenset, frozenset], int] = {}
            full: dict[tuple[frozenset, frozenset], int] = {}
            for row_bits, col_bits in zip(ph.row_bits, ph.col_bits, strict=True):
                hit_rows = frozenset(np.asarray(rows)[row_bits].tolist())
                hit_cols = frozenset(np.asarray(cols)[col_bits].tolist())
                for key, counts in (((block_rows - hit_rows, hit_cols), half),
                                    ((hit_rows, every_col - hit_cols), half),
                                    ((hit_rows, hit_cols), full)):  # fmt: skip
                    if key[0] and key[1]:
                        counts[key] = counts.get(key, 0) + 1
            for amplitude, counts in ((ph.v_cell / 2, half), (ph.v_cell, full)):
                if counts:
                    self._substeps(amplitude, counts, vg, width_s, period, rise_s, fall_s)

    def check_multiplexed(self) -> None:
        """Refuse a station that cannot do a multiplexed update (what it needs is missing)."""
        if self.pulse_bl is None or self.pulse_sl is None or GND not in self._row_of:
            raise SafetyLimitError(
                "a multiplexed update needs pulse_bl, pulse_sl and a grounded matrix row"
            )
        if any(g.switch is None for g in self.wiring.lines.values()):
            raise SafetyLimitError("a multiplexed update needs every line kind on a switch matrix")

    def _substeps(self, v_cell: float, counts: dict[tuple[frozenset, frozenset], int], vg: float,
                  width_s: float, period: float, rise_s: float, fall_s: float) -> None:  # fmt: skip
        """Bursts of `v_cell` on the rectangles (gate rows x hit columns) of `counts`."""
        fns = self.wiring.functions
        term = fns["pulse_bl" if v_cell >= 0 else "pulse_sl"]
        channel = self.pulse_bl if v_cell >= 0 else self.pulse_sl
        self._configure_pulse(channel, v_high=abs(v_cell), width_s=width_s, period_s=period,
                              rise_s=rise_s, fall_s=fall_s)  # fmt: skip
        channel.enable()
        try:
            for (gate_rows, hit_cols), count in counts.items():
                assign = {
                    f"WL{r}": fns["gate"] if r in gate_rows else GND for r in range(self.rows)
                }
                if v_cell >= 0:  # SET: BLs of the hit columns pulsed, everything else grounded
                    assign |= {f"SL{r}": GND for r in range(self.rows)}
                    assign |= {f"BL{c}": term if c in hit_cols else GND for c in range(self.cols)}
                else:  # RESET: SLs of the gated rows pulsed, their hit BLs grounded, other BLs open
                    assign |= {f"SL{r}": term if r in gate_rows else GND for r in range(self.rows)}
                    assign |= {f"BL{c}": GND for c in hit_cols}
                self._route_lines(assign)
                self._set_gate(vg)
                self._fire(self._generator_of(term), count, count * period)
        finally:
            channel.disable()

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
            sw = self.station.instruments[s]
            if s not in self._configured:
                sw.configure()
                self._configured.add(s)
            was = self._closed.pop(s, None)  # unknown until the matrix has answered
            only_opens = was is not None and bool(points) and points < was
            if was is not None and points > was:  # only closes: nothing to break first
                sw.close(sorted(points - was))
            elif only_opens and callable(getattr(sw, "open", None)):
                sw.open(sorted(was - points))
            elif points and hasattr(sw, "exclusive_close"):
                sw.exclusive_close(sorted(points))  # break before make: one chunk, one reply
            else:
                sw.open_all()
                if points:
                    sw.close(sorted(points))
            self._closed[s] = points

    @staticmethod
    def _update_period(width_s: float, rise_s: float, fall_s: float) -> float:
        return max(4 * width_s, width_s + 2 * (rise_s + fall_s) + 20e-9)


def _timeout_at_least(driver: object, seconds: float):
    """`driver.timeout_at_least(seconds)` where the driver has it (a query answered only after
    a long burst), else nothing."""
    extend = getattr(driver, "timeout_at_least", None)
    return extend(seconds) if callable(extend) else contextlib.nullcontext()


def _accepts(fn, name: str) -> bool:
    """Whether callable `fn` takes a keyword argument `name`."""
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _driver_of(obj: object) -> object:
    """The instrument behind a role object (a driver, or the parent of a channel)."""
    return obj if hasattr(obj, "clear_io") else getattr(obj, "parent", obj)


# =================================================================================================
# Parallel row/column updates: one polarity phase (see the Bench section above)
# =================================================================================================
@dataclass(frozen=True)
class UpdatePhase:
    """One polarity phase of a parallel update of a block: in slot s, a cell whose row carries a
    bit (`row_bits[s, i]`) and whose column carries one (`col_bits[s, j]`) sees `v_cell` (sign
    = polarity: > 0 SET); a cell on only one such line sees `v_cell`/2."""

    v_cell: float
    row_bits: np.ndarray  # (slots, block rows) bool
    col_bits: np.ndarray  # (slots, block columns) bool

    @property
    def slots(self) -> int:
        return len(self.row_bits)
