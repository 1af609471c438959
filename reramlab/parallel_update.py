"""Parallel row/column updates of a block (disturb protocol `parallel` and `map` modes).

A stochastic update (Gokmen & Vlasov 2016) pulses every row and column of a block at once:
in each time slot, the rows (SL) and columns (BL) that carry a bit are driven, and a cell
sees the full cell voltage Vs only where a row bit and a column bit coincide, Vs/2 where
only one of its lines carries a bit (half-selected), 0 V elsewhere. The gates (WL) of the
block's rows are on, the other rows' gates are off (their cells cannot be disturbed).
Two executions give every cell the same pulses:

- `parallel_update`: a board with one channel per line (`ArrayPulser`, `board:` in the
  wiring). Row lines carry -Vs/2 and column lines +Vs/2 in the same slot (the V/2 scheme:
  BL - SL = Vs at a crossing); every other line is driven at 0 V. One message per update.
- `parallel_update_multiplexed`: a two-channel pulse generator and switch matrices. Each
  slot is split into single-channel sub-steps, each hitting a rectangle of cells with the
  gates as row selectors: the column half-selects (other block rows x bit columns, Vs/2),
  the row half-selects (bit rows x every other column, Vs/2) and the coincidences (bit rows
  x bit columns, Vs). SET phases pulse the BLs of the rectangle (SLs grounded, other BLs
  grounded); RESET phases pulse the SLs of its rows with its BLs grounded and the other BLs
  floating (their cells' gates are off or their BL floats, so no current flows). The same
  cells see the same pulses, in a different order within the update, and no two channels
  need to fire together. Identical sub-steps of a phase are merged into one burst; every
  other one costs a matrix reroute and a trigger (see the disturb protocol's report).

Holds `UpdatePhase` (one polarity phase of an update) and the `ParallelUpdate` mixin of
`reramlab.bench.Bench` with both executions and their checks. Kept apart because they work
on whole blocks, not on one cell like the rest of the bench.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reramlab.errors import SafetyLimitError
from reramlab.routing import GND


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


class ParallelUpdate:
    """Parallel updates of a `Bench` (mixed into it; `Bench.__init__` sets the state used
    here)."""

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
        in gate-selected single-channel sub-steps (see the module docstring). Needs prepare_dc()
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

    @staticmethod
    def _update_period(width_s: float, rise_s: float, fall_s: float) -> float:
        return max(4 * width_s, width_s + 2 * (rise_s + fall_s) + 20e-9)
