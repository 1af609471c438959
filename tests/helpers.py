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


#: a simulated bench of a 2450, an 81160A and a 707B in pyvisa-sim YAML + the reramsim section:
#: smu on matrix row A, pg.1/pg.2 on C/D, ground on H; BL0, SL0, WL0 on columns 1, 13, 25
BENCH_YAML = """\
spec: "1.1"
devices:
  k2450: {eom: {GPIB INSTR: {q: "\\n", r: "\\n"}}, dialogues: []}
  k81160: {eom: {GPIB INSTR: {q: "\\n", r: "\\n"}}, dialogues: []}
  k707b: {eom: {GPIB INSTR: {q: "\\n", r: "\\n"}}, dialogues: []}
resources:
  GPIB0::24::INSTR: {device: k2450}
  GPIB0::10::INSTR: {device: k81160}
  GPIB0::16::INSTR: {device: k707b}
reramsim:
  chip: {preset: cmo-hfox-130nm, rows: ROWS, cols: COLS, seed: 1}
  instruments:
    GPIB0::24::INSTR: {model: keithley2450, name: smu}
    GPIB0::10::INSTR: {model: keysight81160a, name: pg}
    GPIB0::16::INSTR: {model: keithley707b, name: sw}
  wiring:
    matrix_rows: {sw: {A: smu.1, C: pg.1, D: pg.2, H: gnd}}
    matrix_columns: {BL0: [sw, 1], SL0: [sw, 13], WL0: [sw, 25]}
"""


def bench_yaml(rows: int = 8, cols: int = 8) -> str:
    """The resource file text of the small simulated bench, with a chip of rows x cols."""
    return BENCH_YAML.replace("ROWS", str(rows)).replace("COLS", str(cols))


def interrupted_then_resumed(protocol: str, *, stop_when, **run):
    """Run `protocol` (`run`: `execute`'s keyword arguments), press Ctrl-C from the progress
    callback as soon as `stop_when(progress)` is true, then run it again with `resume=True`;
    the resumed run's result."""
    import pytest

    from reramlab.runner import execute

    def stop(progress) -> None:
        if stop_when(progress):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute(protocol, on_progress=stop, **run)
    return execute(protocol, resume=True, **run)
