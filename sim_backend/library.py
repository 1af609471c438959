"""The pyvisa backend: ``pyvisa.ResourceManager("bench.yaml@reramsim")``.

The resource file is standard pyvisa-sim YAML (devices, terminations, ``*IDN?`` dialogues,
resources) plus a ``reramsim:`` section that binds each resource to a simulated instrument class
and describes the chip and the physical wiring. One library instance (pyvisa caches one per
absolute path) is one simulated bench: one chip and one clock shared by every instrument opened
through it.

Chip persistence: ``save_chip(path)`` writes the chip's state (``ArrayModel.state()``, the clock
included) to an ``.npz`` file atomically, ``read_chip_state(path)`` reads one back and
``restore_chip(state)`` puts the chip in it, so a chip can outlive its process (reramlab keeps
it next to the log it was measured into; see reramlab/runner.py).

Test hooks: ``reset()``, ``transactions``, ``faults`` (fault injection: timeouts, garbled and
truncated replies, instrument errors, instruments that disappear, stuck/unformable/shorted
cells, forming spikes; see ``faults.py``; a resource file arms some with ``reramsim.faults``),
and command recording for the safety audit (``audit.py``): when ``ReramSimLibrary.recorders``
is a list (the test suite sets it), every library created appends its ``CommandRecorder``
there; in another process, the ``RERAMSIM_RECORD_DIR`` environment variable makes it stream
its recording into that folder instead.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import itertools
import json
import os
import threading
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import yaml
from pyvisa import constants
from pyvisa.errors import VisaIOError
from pyvisa.rname import to_canonical_name
from pyvisa_sim.highlevel import SimVisaLibrary

from .array_model import ArrayModel
from .audit import CommandRecorder
from .bench import SimBench
from .clock import SimClock
from .faults import Faults
from .instrument import SimInstrument
from .instruments import SIM_INSTRUMENTS
from .presets import get_preset

#: chip-state files: an .npz of ArrayModel.state() plus a JSON header under CHIP_STATE_HEADER
CHIP_STATE_FORMAT = "reramsim-chip-state"
CHIP_STATE_VERSION = 1
CHIP_STATE_HEADER = "header"


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
        #: reply chunks waiting to be read: (bytes, END indicator)
        self._output: collections.deque[tuple[bytes, bool]] = collections.deque()
        #: replies held back by a 'late' timeout fault: released after the next message
        self._late: list[bytes] = []
        self._lock = threading.RLock()
        self._pushes = _count_pushes(instrument)

    def write(self, data: bytes) -> None:
        with self._lock:
            self._input.extend(data)
            if not self._input.endswith(self.query_eom):
                return
            message = bytes(self._input[: len(self._input) - len(self.query_eom)])
            self._input.clear()
            library, inst = self.library, self.instrument
            text = message.decode("ascii", errors="replace")
            if not library.faults.before_message(inst, text):
                raise VisaIOError(constants.StatusCode.error_connection_lost)
            library.transaction(inst, message)
            if library.bench.command_log is not None:
                library.bench.command_log.append((inst.name, text))
            pushes = self._pushes[0]
            reply = inst.handle(text)
            if library.recorder is not None:
                library.recorder.record(inst.name, text, self._pushes[0] > pushes)
            for late in self._late:
                self._output.append((late, True))
            self._late.clear()
            outcome = library.faults.after_message(inst, text, reply)
            if outcome.reply is None:
                return
            payload = outcome.reply.encode("ascii", errors="replace")
            if outcome.truncated:
                self._output.append((payload, False))
            elif outcome.late:
                self._late.append(payload + self.response_eom)
            else:
                self._output.append((payload + self.response_eom, True))

    def read(self) -> tuple[bytes, bool]:
        with self._lock:
            if not self._output:
                return b"", False
            return self._output.popleft()

    def reset_io(self) -> None:
        """Device clear: input and output buffers emptied (late replies included)."""
        with self._lock:
            self._input.clear()
            self._output.clear()
            self._late.clear()


def _count_pushes(instrument: SimInstrument) -> list[int]:
    """Count the entries an instrument puts in its error queue (how the recorder tells a
    refused command from an accepted one). Returns the one-element counter."""
    queue = instrument.errors
    counter = getattr(queue, "_reramsim_pushes", None)
    if counter is None:
        counter = [0]
        push = queue.push

        def counting_push(code: int, message: str) -> None:
            counter[0] += 1
            push(code, message)

        queue.push = counting_push  # type: ignore[method-assign]
        queue._reramsim_pushes = counter  # type: ignore[attr-defined]
    return counter


class SimDevices(dict):
    """resource name -> SimDevice, with the one method pyvisa-sim's library calls."""

    def list_resources(self) -> tuple[str, ...]:
        return tuple(self.keys())


class ReramSimLibrary(SimVisaLibrary):
    """pyvisa-sim library whose resources are simulated instruments sharing one simulated chip."""

    #: when a list, every library created from now on records the commands its instruments
    #: receive and appends its CommandRecorder here (the test suite's safety audit)
    recorders: ClassVar[list[CommandRecorder] | None] = None
    #: environment variable naming a folder: libraries in this process stream recordings there
    RECORD_DIR_ENV: ClassVar[str] = "RERAMSIM_RECORD_DIR"
    _stream_ids: ClassVar[itertools.count] = itertools.count()

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
            tsplink={k: int(v) for k, v in wiring.get("tsplink", {}).items()},
            triggers={k: str(v) for k, v in wiring.get("triggers", {}).items()},
        )
        #: seconds added to the clock per VISA write (bus latency model; 0 = ideal bus)
        self.latency_s = float(config.get("latency_s", 0.0))
        self.transactions = 0
        self.instruments: dict[str, SimInstrument] = {}
        self.faults = Faults(clock=self.clock, model=self.model, bench=self.bench,
                             instruments=self.instruments)  # fmt: skip
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
        self.bench.instruments = self.instruments
        self.recorder = self._make_recorder(config)
        if self.recorder is not None:  # what scripts make instruments do, for the audit too
            for inst in self.instruments.values():
                inst.own_command_hook = self.recorder.record
            recorder = self.recorder
            self.bench.on_event = lambda e: recorder.event(e.kind, e.detail)
        self._fault_specs = config.get("faults") or []
        try:
            self.faults.configure(self._fault_specs)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{self.library_path}: reramsim.faults: {e}") from None

    def _make_recorder(self, config: dict[str, Any]) -> CommandRecorder | None:
        registry = ReramSimLibrary.recorders
        folder = os.environ.get(self.RECORD_DIR_ENV)
        if registry is None and not folder:
            return None
        models = {spec.get("name", to_canonical_name(rname)): spec["model"]
                  for rname, spec in config.get("instruments", {}).items()}  # fmt: skip
        recorder = CommandRecorder(str(self.library_path), config.get("limits"), models)
        if registry is not None:
            registry.append(recorder)
        else:
            path = Path(folder) / f"{os.getpid()}-{next(self._stream_ids)}.jsonl"
            recorder.stream_to(path)
            atexit.register(recorder.flush)
        return recorder

    # -- the bus: faults can make an instrument disappear ------------------------------------
    def _sim_device(self, session: Any) -> SimDevice | None:
        device = getattr(self.sessions.get(session), "device", None)
        return device if isinstance(device, SimDevice) else None

    def _bus(self, device: SimDevice | None, op: str) -> None:
        if device is not None and not self.faults.bus_operation(device.instrument.name, op):
            code = constants.StatusCode
            raise VisaIOError(
                code.error_resource_not_found if op == "open" else code.error_connection_lost
            )

    def open(self, session: Any, resource_name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            device = self.devices.get(to_canonical_name(resource_name))
        except Exception:  # noqa: BLE001 - a malformed name: the base class reports it
            device = None
        self._bus(device if isinstance(device, SimDevice) else None, "open")
        return super().open(session, resource_name, *args, **kwargs)

    def write(self, session: Any, data: bytes) -> Any:
        self._bus(self._sim_device(session), "write")
        return super().write(session, data)

    def read(self, session: Any, count: int) -> Any:
        self._bus(self._sim_device(session), "read")
        return super().read(session, count)

    def clear(self, session: Any) -> constants.StatusCode:
        """viClear (device clear): the instrument's input and output buffers are emptied."""
        device = self._sim_device(session)
        if device is None:
            return constants.StatusCode.error_invalid_object
        self._bus(device, "clear")
        device.reset_io()
        return constants.StatusCode.success

    def transaction(self, instrument: SimInstrument, message: bytes) -> None:
        self.transactions += 1
        if self.latency_s:
            self.clock.advance(self.latency_s)

    # -- the chip across processes -----------------------------------------------------------
    def acknowledge(self, kind: str) -> list[str]:
        """Take the bench events of `kind` off the safety audit and return their details: for a
        test that provokes a hazard on purpose (and asserts it happened)."""
        details = [e.detail for e in self.bench.events if e.kind == kind]
        if self.recorder is not None:
            self.recorder.events = [(k, d) for k, d in self.recorder.events if k != kind]
        return details

    def save_chip(self, path: Path, header: Mapping[str, Any] | None = None) -> None:
        """Write the chip's state (clock included) to `path` (see write_chip_state)."""
        write_chip_state(path, self.model.state(), header)

    def restore_chip(self, state: Mapping[str, np.ndarray]) -> None:
        """Put the chip and the clock in a saved state (ArrayModel.load_state: ChipStateError,
        nothing changed, if it is another chip's). The resource file's stuck and unformable
        cells are applied on top (Faults.chip_restored)."""
        self.model.load_state(state)
        self.faults.chip_restored(self._fault_specs)

    def reset(self) -> None:
        """Test isolation: chip pristine, clock at 0, outputs off, relays open, buffers empty."""
        self.model.reset()
        self.clock.now_s = 0.0
        self.bench.open_everything()
        self.bench.events.clear()
        self.transactions = 0
        self.faults.clear()
        for inst in self.instruments.values():
            inst.errors.clear()
            inst.reset()
        for dev in self.devices.values():
            dev.reset_io()
        self.faults.configure(self._fault_specs)  # the resource file's faults are re-armed


def write_chip_state(
    path: Path, state: Mapping[str, np.ndarray], header: Mapping[str, Any] | None = None
) -> None:
    """Write a chip state as an uncompressed .npz (one .npy per state entry, plus the JSON
    header: format, version and the caller's `header`), atomically: a temporary file in the
    same folder, flushed to disk, then renamed over `path`. A reader sees the previous file or
    the new one, never a part of one."""
    path = Path(path)
    head = {"format": CHIP_STATE_FORMAT, "version": CHIP_STATE_VERSION, **(header or {})}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **{CHIP_STATE_HEADER: np.asarray(json.dumps(head))}, **state)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def read_chip_state(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(header, state) of a file write_chip_state wrote; ValueError if it is not one."""
    if not zipfile.is_zipfile(path):
        raise ValueError("not a chip-state file (not an .npz archive)")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a bare .npy
            raise ValueError("a single array, not an .npz")
        with loaded:
            data = {k: loaded[k] for k in loaded.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"not a readable chip-state file ({type(e).__name__}: {e})") from None
    try:
        head = json.loads(str(data.pop(CHIP_STATE_HEADER)[()]))
    except (KeyError, ValueError):
        head = None
    if not isinstance(head, dict) or head.get("format") != CHIP_STATE_FORMAT:
        raise ValueError(f"not a chip-state file (no {CHIP_STATE_FORMAT!r} header)")
    if head.get("version") != CHIP_STATE_VERSION:
        raise ValueError(
            f"chip-state format version {head.get('version')!r}; this reramlab reads version "
            f"{CHIP_STATE_VERSION}"
        )
    return head, data


def load_sim_section(path: Path) -> dict[str, Any]:
    """Read the ``reramsim:`` section of a resource file (pyvisa-sim ignores unknown keys)."""
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    section = data.get("reramsim")
    if not isinstance(section, dict):
        raise ValueError(f"{path}: no 'reramsim:' section (chip, instruments, wiring) found")
    return section


WRAPPER_CLASS = ReramSimLibrary
