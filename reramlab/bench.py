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
and leaves the drive as that pulse needs it (and, where the gate is a channel of the drive's
instrument, carries the gate's read level and the next pulse's, `then_vg`); a pulse is one
message to the generator (set-up if it changed, outputs on, trigger, outputs off, error query),
and drive and gate changes before it are one message where they share an instrument; a matrix
move is one chunk with its error count; the gate keeps its level while only BL/SL relays move. Nothing is checked later
than in its own message, except that a changed pulse set-up is checked at the end of the
message that also fires it (see `_setup_and_fire` for why that stays within the limits).

Bus faults: the measurement of a `read` (a query at a level already set) is retried after a
timeout or a garbled reply, with the instrument's I/O cleared in between (`reramlab.retry`); a
one-message read is retried whole (it re-applies only the read level). Nothing else that
changes a level or fires a pulse is retried. `safe()` clears every instrument's I/O first and
retries each one's safe state. What was retried is noted in `io_notes`.

Layout: this module holds `Bench` itself (state, time, the safety-limit checks and the safe
state) and composes it from mixins in modules of their own, each named for what it holds:
`reramlab.routing` (`Route`, `Cell`, `GND`, crosspoints and relay moves), `reramlab.dc` (DC
operations on the drive and gate SMUs), `reramlab.pulses` (pulses, pulse pairs, set-up
caching, external arming) and `reramlab.parallel_update` (`UpdatePhase` and both executions
of a parallel update); `reramlab.bus` has the driver look-ups they share. `Route`, `Cell`,
`GND` and `UpdatePhase` are re-exported here, so `from reramlab.bench import ...` stays the
one import for protocols.
"""

from __future__ import annotations

import functools
import math

from reramlab.bus import driver_of
from reramlab.dc import DcOperations
from reramlab.errors import SafetyLimitError
from reramlab.instruments.roles import SharedLineSourceMeter
from reramlab.onboard import Onboard
from reramlab.parallel_update import ParallelUpdate, UpdatePhase
from reramlab.pulses import Pulses
from reramlab.retry import SAFE_POLICY
from reramlab.routing import GND, Cell, Route, Routing
from reramlab.stations.connect import ConnectedStation
from reramlab.stations.schema import Limits

__all__ = ["GND", "Bench", "Cell", "Route", "UpdatePhase"]


class Bench(Routing, DcOperations, Pulses, ParallelUpdate):
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
            and isinstance(self.drive, SharedLineSourceMeter)
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
            driver = driver_of(obj)
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
