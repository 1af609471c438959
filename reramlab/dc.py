"""DC operations of the bench: the drive and gate SMUs.

Holds the `DcOperations` mixin of `reramlab.bench.Bench`: `prepare_dc`, `dc`, `read` (in one
message to the drive when told what comes next, its measurement retried on a bus fault),
`sweep`, and the bookkeeping of the drive's and gate's levels and the drive's output (hold,
release before a pulse on a shared BL, ground for a RESET pulse), which pulses use as well.

Kept apart from routing (which only asks these sources to go to 0 V before relays move) and
from pulses (which only hold, release or ground the drive), so that what a read sends and
when it is retried can be read in one place.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from reramlab.bus import driver_of
from reramlab.instruments.roles import GateLevels, SharedLineSourceMeter
from reramlab.retry import READ_POLICY, plausible_number
from reramlab.routing import GND, Cell, Route


class DcOperations:
    """DC operations of a `Bench` (mixed into it; `Bench.__init__` sets the state used here)."""

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
            with driver_of(self.drive).batch(check_errors=True):
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
        with driver_of(self.drive).batch(check_errors=True):
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
        self,
        cell: Cell,
        v_read: float,
        vg: float,
        *,
        then: float | None = None,
        then_vg: float | None = None,
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
        read level).

        `then_vg`: the gate the expected next pulse needs (None: the read's `vg`). Where the
        gate is a channel of the drive's own instrument (`_gate_rides_with_drive`), the gate's
        read level and then this one ride in the read's message (`GateLevels`): the read costs
        no gate message before it and the pulse none after it. A wrong guess costs the pulse one
        gate message, as without the hint."""
        if not self._dc_ready:
            raise RuntimeError("call prepare_dc() before DC operations")
        self._dc_route(cell, v_read)
        drive = self.drive
        if then is not None and isinstance(drive, SharedLineSourceMeter):
            hold = self._hold_after_read(v_read, then)
            after = vg if then_vg is None else then_vg
            if self._gate_rides_with_drive and (self._gate_v, after) != (vg, vg):
                self.check_level("WL", vg, "gate voltage vg")
                self.check_level("WL", after, "gate voltage of the next pulse")
                return self._read_once(cell, v_read, hold=hold, gate=(vg, after))
            self._set_gate(vg)
            return self._read_once(cell, v_read, hold=hold)
        self._set_gate(vg)
        if self._shared_bl and not self._drive_on:
            # level and output on in one message, one error check
            with driver_of(drive).batch(check_errors=True):
                self._set_drive(abs(v_read))
                self._drive_hold()
        else:
            self._set_drive(abs(v_read))
            self._drive_hold()
        measure = drive.measure_current
        i = READ_POLICY.call(
            measure,
            what=f"read of cell {cell} on {self.wiring.functions['drive']}",
            clear=getattr(driver_of(drive), "clear_io", None),
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

    @functools.cached_property
    def _gate_rides_with_drive(self) -> bool:
        """Whether the gate is another channel of the drive's instrument (B2902, 2636B), so
        that its levels can ride in a read's message (`read`'s `then_vg`)."""
        return self.gate is not self.drive and driver_of(self.gate) is driver_of(self.drive)

    def _read_once(
        self, cell: Cell, v_read: float, *, hold: bool, gate: tuple[float, float] | None = None
    ) -> tuple[float, float]:
        """`read` in one message to the drive (`read_at`), which ends at 0 V, on if `hold`;
        `gate` = (read level, level after) of a gate on the drive's instrument."""
        drive = self.drive
        # `gate` only when there is one: a driver whose gate is never its own channel (a 2450,
        # or a third-party driver) need not take it
        extra = {} if gate is None else {"gate": GateLevels(self.gate, *gate)}
        try:
            i = READ_POLICY.call(
                functools.partial(drive.read_at, abs(v_read), hold=hold, **extra),
                what=f"read of cell {cell} on {self.wiring.functions['drive']}",
                clear=getattr(driver_of(drive), "clear_io", None),
                wait=self.wait,
                check=plausible_number,
                on_retry=self.io_notes.append,
            )
        except BaseException:
            # level and output unknown (NaN: the next zeroing or level change is sent)
            self._drive_v, self._drive_on = math.nan, True
            if gate is not None:
                self._gate_v = math.nan
            raise
        self._drive_v, self._drive_on = 0.0, hold
        if gate is not None:
            self._gate_v = gate[1]
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
                    clear=getattr(driver_of(self.drive), "clear_io", None),
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
