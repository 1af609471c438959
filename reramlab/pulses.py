"""Pulses of the bench: the pulse generator channels on a single cell.

Holds the `Pulses` mixin of `reramlab.bench.Bench`: `pulse` (a burst of identical pulses),
`pulse_pairs` (SET/RESET pairs in one burst), the cache of the set-up last sent to each
channel (an unchanged set-up is not sent again), set-up, outputs, trigger and error check in
one message (`_setup_and_fire`), a bare bus trigger (`_fire`), and arming the outputs for the
generator's trigger input for an on-instrument script (`reramlab.onboard`), together with
what such a script leaves behind (`after_script`).

Kept apart because the rules for what may ride in one message with a fire (see
`_setup_and_fire`) concern pulses alone.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator

from reramlab.bus import accepts, driver_of, timeout_at_least
from reramlab.errors import SafetyLimitError
from reramlab.routing import GND, Cell, Route


class Pulses:
    """Pulses of a `Bench` (mixed into it; `Bench.__init__` sets the state used here)."""

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
        with self._drive_and_gate():
            if smu_ground:
                self._drive_ground()
            else:
                self._drive_release()
            self._set_gate(vg)
        period = period_s or max(4 * width_s, width_s + 2 * (rise_s + fall_s) + 20e-9)
        setup = dict(v_high=abs(v), width_s=width_s, period_s=period, rise_s=rise_s,
                     fall_s=fall_s)  # fmt: skip
        self._setup_and_fire(self._generator_of(term), [(channel, setup)], count, count * period)

    @contextlib.contextmanager
    def _drive_and_gate(self) -> Iterator[None]:
        """Where the gate is a channel of the drive's instrument (`_gate_rides_with_drive`),
        what the block sends to both goes as one message with one error check (the checks of
        the changes inside fold into it; no change, nothing sent); if it fails, their levels
        and outputs are unknown (the next change to each is sent)."""
        if not self._gate_rides_with_drive:
            yield
            return
        try:
            with driver_of(self.drive).batch():
                yield
        except BaseException:
            self._drive_v, self._drive_on, self._gate_v = math.nan, True, math.nan
            raise

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
        first = [(ch, setup) for ch, setup in setups if id(ch) not in self._pulse_setup]
        try:
            if first:
                with generator.batch(check_errors=True):
                    for ch, setup in first:
                        self._configure_pulse(ch, **setup)
            t0 = time.monotonic()
            with timeout_at_least(generator, 2 * busy_s + 5.0), generator.batch(check_errors=True):
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

    def _configure_pulse(self, channel, **setup: float) -> bool:
        """`channel.configure_pulse(**setup)` unless that set-up is the one last sent to it;
        whether it was sent (a set-up arms the channel for the bus trigger)."""
        key = tuple(sorted(setup.items()))
        last = self._pulse_setup.get(id(channel))
        if last == key:
            return False
        self._pulse_setup.pop(id(channel), None)
        if last is not None and accepts(channel.configure_pulse, "present"):
            # the period and high level it holds are the ones last sent: no need to ask
            was = dict(last)
            channel.configure_pulse(**setup, present=(was["period_s"], was["v_high"]))
        else:
            channel.configure_pulse(**setup)
        self._pulse_setup[id(channel)] = key
        return True

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

    # -- pulses fired by an instrument-side script (`reramlab.onboard`) -----------------------
    def arm_pulse_outputs_external(self, setups: list[tuple[object, dict]]) -> None:
        """Both pulse channels at their `setups`, armed for the generator's trigger input, their
        outputs on (idling at 0 V), for a script that pulses that input. Sent only when a
        set-up changed or the outputs are not armed (a set-up re-arms a channel for the bus
        trigger). Until `disarm_pulse_outputs` (which every host-side route change calls
        first), the bench keeps the generator rows off the cell's lines."""
        sent = [self._configure_pulse(ch, **setup) for ch, setup in setups]
        if any(sent) or not self.pulse_outputs_armed_external:
            with driver_of(setups[0][0]).batch(check_errors=True):
                for ch, _ in setups:
                    ch.enable_external()
            self.pulse_outputs_armed_external = True

    def disarm_pulse_outputs(self) -> None:
        """Outputs of externally armed pulse channels off (one message): before the host routes
        anything, a pulse output must not sit on a line as a 50-ohm path to 0 V."""
        if not self.pulse_outputs_armed_external:
            return
        channels = [ch for ch in (self.pulse_bl, self.pulse_sl) if ch is not None]
        with driver_of(channels[0]).batch(check_errors=True):
            for ch in channels:
                ch.disable()
        self.pulse_outputs_armed_external = False

    def after_script(self, cell: Cell, *, read_route: str, switch: str, vg: float) -> None:
        """What an on-instrument loop left: the cell on its read route (matrix `switch` holds
        exactly the crosspoints `read_route`), the drive on at 0 V, the gate at `vg`."""
        fns = self.wiring.functions
        self._closed[switch] = frozenset(filter(None, read_route.split(",")))
        self._route = Route(wl=fns["gate"], bl=fns["drive"], sl=GND)
        self._cell = cell
        self._drive_v, self._drive_on, self._gate_v = 0.0, True, vg

    def after_failed_script(self, switch: str) -> None:
        """An on-instrument loop failed or was interrupted part-way: the matrix's crosspoints and
        the source levels are unknown (the next route re-sends them, sources to 0 V first)."""
        self._closed.pop(switch, None)
        self._route = self._cell = None
        self._drive_v = self._gate_v = None
        self._drive_on = True

    def _fire(self, generator, count: int, busy_s: float) -> None:
        """One bus trigger, then wait for the burst to end before any output changes."""
        t0 = time.monotonic()
        generator.fire(count)
        self.station.await_instrument(busy_s, since=t0)

    def _generator_of(self, term: str):
        return self.station.instruments[term.split(".")[0]]
