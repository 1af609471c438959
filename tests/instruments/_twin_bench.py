"""A small simulated bench for the twin tests: the instruments under test plus a 707B matrix on a
2x2 chip, written as a resource file into the test's tmp_path (a chip of its own per test).

Matrix columns: BL0/BL1 on 1/2 (card 1), SL0/SL1 on 13/14 (card 2), WL0/WL1 on 25/26 (card 3),
so cell (0, 0) is routed by closing ``1<row>01`` (BL), ``2<row>01`` (SL) and ``3<row>01`` (WL).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pyvisa
import yaml
from pyvisa import rname

from reramlab.instruments.roles import GateLevels

SWITCH = "GPIB0::16::INSTR"
COLUMNS = {"BL0": ["sw", 1], "BL1": ["sw", 2], "SL0": ["sw", 13], "SL1": ["sw", 14],
           "WL0": ["sw", 25], "WL1": ["sw", 26]}  # fmt: skip


def write_bench(
    directory: Path,
    instruments: dict[str, tuple[str, str]],
    matrix_rows: dict[str, str],
    preset: str = "cmo-hfox-130nm",
) -> str:
    """Resource file for `instruments` (address -> (twin model, name)) and the matrix; returns
    the pyvisa library spec."""
    devices, resources, sim = {}, {}, {}
    for address, (model, name) in {**instruments, SWITCH: ("keithley707b", "sw")}.items():
        parsed = rname.parse_resource_name(address)
        eom = {f"{parsed.interface_type} {parsed.resource_class}": {"q": "\n", "r": "\n"}}
        devices[name] = {"eom": eom, "dialogues": []}
        resources[address] = {"device": name}
        sim[address] = {"model": model, "name": name}
    content = {
        "spec": "1.1",
        "devices": devices,
        "resources": resources,
        "reramsim": {
            "chip": {"preset": preset, "rows": 2, "cols": 2, "seed": 5},
            "instruments": sim,
            "wiring": {"matrix_rows": {"sw": matrix_rows}, "matrix_columns": COLUMNS},
        },
    }
    path = directory / "bench.yaml"
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return f"{path}@reramsim"


def close(spec: str, channels: str) -> None:
    """Close 707B crosspoints (plain pyvisa, TSP) and check that it took them."""
    sw = pyvisa.ResourceManager(spec).open_resource(SWITCH, read_termination="\n",
                                                     write_termination="\n")  # fmt: skip
    sw.write(f'channel.close("{channels}")')
    assert sw.query("print(errorqueue.count)") == "0"
    sw.close()


def simulator(spec: str):
    """The simulated bench behind `spec` (clock, chip, instruments, test hooks)."""
    return pyvisa.ResourceManager(spec).visalib


def queues_empty(spec: str) -> bool:
    return all(len(inst.errors) == 0 for inst in simulator(spec).instruments.values())


@contextmanager
def driven(driver: type, address: str, spec: str) -> Iterator[Any]:
    """The driver opened on the simulated bench; on leaving, both the driver's and the twin's
    error queues must be empty (what a test provoked, it must have read)."""
    inst = driver(address, visa_library=spec)
    try:
        yield inst
        assert inst.check_errors() == []
        assert queues_empty(spec)
    finally:
        inst.adapter.close()


def check_read_at_on_a_cell(drive, gate, levels: dict, terminal: str, high_z: str) -> None:
    """A drive SMU channel on a routed cell: formed by a sweep, then released (output off in its
    high-impedance mode `high_z`, its `terminal` floating in the simulated bench's `levels`); a
    one-message `read_at` reads what a DC read does and ends at 0 V, off (floating) or, with
    `hold`, on at 0 V. Shared by the twins of the SMUs that have `read_at`."""
    gate.set_voltage(1.2)
    drive.sweep(np.linspace(0.0, 4.0, 41), delay_s=1e-3)  # form
    drive.set_voltage(0.2)
    i_dc = drive.measure_current()
    assert i_dc > 5e-6
    drive.set_voltage(0.0)
    drive.release_when_off()
    assert drive.output_off_mode == high_z and drive.output_enabled is False
    assert levels[terminal] is None
    assert drive.read_at(0.2) == pytest.approx(i_dc, rel=0.05)
    assert drive.output_enabled is False and drive.source_level_v == 0.0
    assert levels[terminal] is None
    assert drive.read_at(0.2, hold=True) == pytest.approx(i_dc, rel=0.05)
    assert drive.output_enabled is True and levels[terminal] == 0.0
    # the gate's levels ride in the message: its read level first, then the next pulse's
    gate.set_voltage(0.0)
    assert drive.read_at(0.2, gate=GateLevels(gate, 1.2, 3.3)) == pytest.approx(i_dc, rel=0.05)
    assert gate.source_level_v == pytest.approx(3.3) and levels[terminal] is None


def check_read_at_refused(drive, levels: dict, terminal: str) -> None:
    """`read_at` a level beyond the drive's 2 V range: the SMU refuses it (-222), the read
    raises, and the drive still ends at 0 V, off (its `terminal` floating)."""
    from reramlab.instruments.base import InstrumentError

    drive.configure_voltage_source(i_compliance_a=1e-4, v_limit_v=2.0)
    drive.release_when_off()
    with pytest.raises(InstrumentError, match="-222"):
        drive.read_at(3.0)
    assert drive.output_enabled is False and drive.source_level_v == 0.0
    assert levels[terminal] is None
