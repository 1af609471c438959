"""Small helpers shared by tests (importable because tests/ is on sys.path via its conftest)."""

from __future__ import annotations

import pyvisa


def open_raw(rm: pyvisa.ResourceManager, address: str):
    """Open a simulated instrument with plain pyvisa (no reramlab driver in between)."""
    inst = rm.open_resource(address, read_termination="\n", write_termination="\n")
    inst.timeout = 200
    return inst


def drain_errors(inst) -> list[str]:
    """Read a SCPI instrument's error queue until '0,...'."""
    out = []
    while True:
        e = inst.query(":SYST:ERR?")
        if e.startswith("0,"):
            return out
        out.append(e)
