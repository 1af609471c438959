"""The pyvisa backend: ``pyvisa.ResourceManager("bench.yaml@reramsim")``.

The resource file is standard pyvisa-sim YAML (devices, terminations, ``*IDN?`` dialogues,
resources) plus a ``reramsim:`` section that binds each resource to a simulated instrument class
and describes the chip and the physical wiring. One library instance (pyvisa caches one per
absolute path) is one simulated bench: one chip and one clock shared by every instrument opened
through it.
"""

from __future__ import annotations

import collections
import threading
from pathlib import Path
from typing import Any

import yaml
from pyvisa.rname import to_canonical_name
from pyvisa_sim.highlevel import SimVisaLibrary

from .array_model import ArrayModel
from .bench import SimBench
from .clock import SimClock
from .instrument import SimInstrument
from .instruments import SIM_INSTRUMENTS
from .presets import get_preset


class SimDevice:
    """The device side of a pyvisa-sim session, backed by a simulated instrument.

    pyvisa-sim sessions need only ``write(bytes)`` and ``read() -> (bytes, end)``. Whole reply
    messages are returned in one read (pyvisa-sim's devices return one byte per call, which is
    quadratic for long buffer reads).
    """

    def __init__(self, instrument: SimInstrument, query_eom: bytes, response_eom: bytes,
                 library: ReramSimLibrary) -> None:  # fmt: skip
        self.instrument = instrument
        self.query_eom = query_eom
        self.response_eom = response_eom
        self.library = library
        self.resource_name: str | None = None
        self._input = bytearray()
        self._output: collections.deque[bytes] = collections.deque()
        self._lock = threading.RLock()

    def write(self, data: bytes) -> None:
        with self._lock:
            self._input.extend(data)
            if not self._input.endswith(self.query_eom):
                return
            message = bytes(self._input[: len(self._input) - len(self.query_eom)])
            self._input.clear()
            self.library.transaction(self.instrument, message)
            text = message.decode("ascii", errors="replace")
            if self.library.bench.command_log is not None:
                self.library.bench.command_log.append((self.instrument.name, text))
            reply = self.library.faults.filter_reply(self.instrument, self.instrument.handle(text))
            if reply is not None:
                self._output.append(reply.encode("ascii") + self.response_eom)

    def read(self) -> tuple[bytes, bool]:
        with self._lock:
            if not self._output:
                return b"", False
            return self._output.popleft(), True

    def reset_io(self) -> None:
        with self._lock:
            self._input.clear()
            self._output.clear()


class SimDevices(dict):
    """resource name -> SimDevice, with the one method pyvisa-sim's library calls."""

    def list_resources(self) -> tuple[str, ...]:
        return tuple(self.keys())


class Faults:
    """Fault injection hooks (garbled replies and the like); empty by default."""

    def __init__(self) -> None:
        self.garble_next: dict[str, int] = {}

    def filter_reply(self, instrument: SimInstrument, reply: str | None) -> str | None:
        n = self.garble_next.get(instrument.name, 0)
        if reply is not None and n > 0:
            self.garble_next[instrument.name] = n - 1
            return reply[: max(1, len(reply) // 2)] + "\x7f#"
        return reply


class ReramSimLibrary(SimVisaLibrary):
    """pyvisa-sim library whose resources are simulated instruments sharing one simulated chip."""

    def _init(self) -> None:
        super()._init()
        config = load_sim_section(Path(str(self.library_path)))
        chip = config.get("chip", {})
        self.clock = SimClock()
        try:
            preset = get_preset(chip.get("preset", "cmo-hfox-130nm"), **chip.get("overrides", {}))
        except (KeyError, TypeError) as e:
            raise ValueError(f"{self.library_path}: reramsim.chip: {e}") from None
        self.model = ArrayModel(
            preset,
            int(chip.get("rows", 64)),
            int(chip.get("cols", 64)),
            seed=int(chip.get("seed", 0)),
            clock=self.clock,
        )
        wiring = config.get("wiring", {})
        self.bench = SimBench(
            model=self.model,
            clock=self.clock,
            matrix_rows={k: dict(v) for k, v in wiring.get("matrix_rows", {}).items()},
            matrix_columns={
                k: (v[0], int(v[1])) for k, v in wiring.get("matrix_columns", {}).items()
            },
            cabled={k: list(v) for k, v in wiring.get("cabled", {}).items()},
        )
        #: seconds added to the clock per VISA write (bus latency model; 0 = ideal bus)
        self.latency_s = float(config.get("latency_s", 0.0))
        self.transactions = 0
        self.faults = Faults()
        self.instruments: dict[str, SimInstrument] = {}
        devices = SimDevices()
        for rname, spec in config.get("instruments", {}).items():
            key = to_canonical_name(rname)
            model_name = spec["model"]
            if model_name not in SIM_INSTRUMENTS:
                raise ValueError(
                    f"{self.library_path}: reramsim.instruments.{rname}.model: unknown simulated "
                    f"instrument {model_name!r}; known: {', '.join(sorted(SIM_INSTRUMENTS))}"
                )
            inst = SIM_INSTRUMENTS[model_name](
                self.bench, spec.get("name", key), spec.get("options")
            )
            self.instruments[inst.name] = inst
            yaml_dev = self.devices[key] if key in self.devices.list_resources() else None
            q, r = (yaml_dev._query_eom, yaml_dev._response_eom) if yaml_dev else (b"\n", b"\n")
            dev = SimDevice(inst, q, r, self)
            dev.resource_name = key
            devices[key] = dev
        self.devices = devices

    def transaction(self, instrument: SimInstrument, message: bytes) -> None:
        self.transactions += 1
        if self.latency_s:
            self.clock.advance(self.latency_s)

    def reset(self) -> None:
        """Test isolation: chip pristine, clock at 0, outputs off, relays open, buffers empty."""
        self.model.reset()
        self.clock.now_s = 0.0
        self.bench.open_everything()
        self.bench.events.clear()
        self.transactions = 0
        for inst in self.instruments.values():
            inst.errors.clear()
            inst.reset()
        for dev in self.devices.values():
            dev.reset_io()


def load_sim_section(path: Path) -> dict[str, Any]:
    """Read the ``reramsim:`` section of a resource file (pyvisa-sim ignores unknown keys)."""
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    section = data.get("reramsim")
    if not isinstance(section, dict):
        raise ValueError(f"{path}: no 'reramsim:' section (chip, instruments, wiring) found")
    return section


WRAPPER_CLASS = ReramSimLibrary
