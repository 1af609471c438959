"""Open a station's instruments through pyvisa (a real VISA library or the simulator)."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyvisa

from reramlab.errors import StationError
from reramlab.retry import OPEN_POLICY

from .loader import Station


@dataclass
class ConnectedStation:
    """A station whose instruments are open. Also the bench's clock: wall time on a real bench,
    the simulated clock on the simulator (so retention waits cost nothing there)."""

    station: Station
    visa_library: str
    instruments: dict[str, Any]
    simulator: Any | None = None  # the ReramSimLibrary when simulated (clock and test hooks)
    #: what was retried while opening (the first run on the bench logs them, `take_notes`)
    notes: list[str] = field(default_factory=list)
    _t0: float = field(default_factory=time.monotonic)

    def take_notes(self) -> list[str]:
        """The notes not yet handed out (each is handed out once)."""
        notes, self.notes = self.notes, []
        return notes

    def terminal(self, term: str) -> Any:
        """The role object behind "<instrument>.<channel>": a driver or one of its channels."""
        name, _, ch = term.partition(".")
        inst = self.instruments[name]
        if hasattr(inst, "channel") and callable(inst.channel):
            return inst.channel(int(ch) if ch.isdigit() else ch)
        if ch not in ("", "1"):
            raise StationError(f"{self.station.path}: {name} has a single channel, not {ch!r}")
        return inst

    def now_s(self) -> float:
        return self.simulator.clock.now_s if self.simulator else time.monotonic() - self._t0

    def wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.simulator:
            self.simulator.clock.advance(seconds)
        else:
            time.sleep(seconds)

    def await_instrument(self, busy_s: float, since: float) -> None:
        """Wait until an instrument that started a `busy_s`-long task at monotonic time `since`
        is done. A simulated instrument finishes synchronously (its clock already advanced)."""
        if self.simulator is None:
            remaining = busy_s - (time.monotonic() - since)
            if remaining > 0:
                time.sleep(remaining)

    def identities(self) -> dict[str, str]:
        return {name: str(inst.id).strip() for name, inst in self.instruments.items()}

    def close(self) -> None:
        for inst in self.instruments.values():
            with contextlib.suppress(Exception):  # closing must not mask the real error
                inst.adapter.close()


def connect(
    station: Station,
    *,
    sim: bool = False,
    sim_dir: Path | None = None,
    on_simulator: Callable[[Any], None] | None = None,
) -> ConnectedStation:
    """Open every instrument of `station`; `sim=True` runs it against the simulated bench.
    `on_simulator(library)` is called on a simulated bench before any instrument is opened
    (how a run restores the chip saved with its log)."""
    library = station.visa_library(sim=sim, sim_dir=sim_dir)
    simulator = None
    if library.endswith("@reramsim"):
        simulator = pyvisa.ResourceManager(library).visalib
        if on_simulator is not None:
            on_simulator(simulator)
    instruments: dict[str, Any] = {}
    notes: list[str] = []
    for name, spec in station.spec.instruments.items():
        cls = station.driver_classes[name]
        kwargs: dict[str, Any] = {"read_termination": "\n", "write_termination": "\n"}
        kwargs.update(spec.init)
        try:  # a VISA fault is tried again (OPEN_POLICY); what was retried is noted
            instruments[name] = OPEN_POLICY.call(
                functools.partial(cls, spec.address, visa_library=library, **kwargs),
                what=f"opening {name} at {spec.address}",
                wait=None if simulator is not None else time.sleep,
                on_retry=notes.append,
            )
        except Exception as e:  # noqa: BLE001 - any VISA/driver failure gets the same message
            for inst in instruments.values():
                inst.adapter.close()
            raise StationError(
                f"{station.path}: instruments.{name}: cannot open {spec.address} with "
                f"{library}: {e}"
            ) from None
    return ConnectedStation(station, library, instruments, simulator, notes)
