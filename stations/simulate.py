"""Turn a station into a simulated bench: a pyvisa-sim resource file with a ``reramsim:`` section.

The same instruments, addresses and wiring as the station, each address bound to the simulated
twin of its driver, and the chip built from the station's chip and ``sim`` keys. Only the VISA
library changes between a bench and its simulation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pyvisa import rname

from reramlab.errors import StationError

from .schema import StationSpec

#: driver class name -> simulated twin model (override per instrument with `sim:`)
DEFAULT_TWINS = {
    "Keithley2450": "keithley2450",
    "Keysight81160A": "keysight81160a",
    "Keithley707B": "keithley707b",
    "KeysightB2902": "keysightb2902",
    "Keithley2636B": "keithley2636b",
    "Keysight33600A": "keysight33600a",
    "Keysight33500B": "keysight33500b",
    "ArrayPulser64": "array-pulser-64",
}


def twin_of(name: str, spec: StationSpec, cls: type) -> str:
    inst = spec.instruments[name]
    model = inst.sim or DEFAULT_TWINS.get(cls.__name__)
    if model is None:
        raise StationError(
            f"instruments.{name}: no simulated twin for driver {inst.driver}; set 'sim:' to one "
            f"of {sorted(set(DEFAULT_TWINS.values()))}"
        )
    return model


def resource_dict(spec: StationSpec, classes: dict[str, type]) -> dict[str, Any]:
    """The resource file's content for `spec` (see sim_backend/library.py for the format)."""
    devices, resources, instruments = {}, {}, {}
    for name, inst in spec.instruments.items():
        parsed = rname.parse_resource_name(inst.address)
        interface = f"{parsed.interface_type} {parsed.resource_class}"
        devices[name] = {"eom": {interface: {"q": "\n", "r": "\n"}}, "dialogues": []}
        resources[inst.address] = {"device": name}
        instruments[inst.address] = {"model": twin_of(name, spec, classes[name]), "name": name}
    w = spec.wiring
    matrix_rows: dict[str, dict[str, str]] = {}
    matrix_columns: dict[str, list[Any]] = {}
    cabled: dict[str, list[str]] = {}
    for kind, group in w.lines.items():
        n = spec.chip.cols if kind == "BL" else spec.chip.rows
        if group.switch:
            matrix_rows[group.switch] = dict(w.matrix_rows)
            for i in range(n):
                matrix_columns[f"{kind}{i}"] = [group.switch, group.first_column + i]
        else:
            cabled.setdefault(group.terminal, []).append(f"{kind}0")
        if group.board:  # one board channel per line
            for i in range(n):
                cabled[f"{group.board}.{group.first_channel + i}"] = [f"{kind}{i}"]
    return {
        "spec": "1.1",
        "devices": devices,
        "resources": resources,
        "reramsim": {
            "chip": {
                "preset": spec.sim.preset,
                "overrides": dict(spec.sim.preset_overrides),
                "rows": spec.chip.rows,
                "cols": spec.chip.cols,
                "seed": spec.sim.seed,
            },
            "latency_s": spec.sim.latency_s,
            "limits": station_limits(spec),
            "faults": sim_faults(spec),
            "instruments": instruments,
            "wiring": {
                "matrix_rows": matrix_rows,
                "matrix_columns": matrix_columns,
                "cabled": cabled,
                "tsplink": dict(w.tsplink),
                "triggers": dict(w.triggers),
            },
        },
    }


def station_limits(spec: StationSpec) -> dict[str, Any]:
    """The station's safety limits per instrument terminal, for the simulator's command audit
    (sim_backend/audit.py): max |V| of each wired output (what its functions may need; a pulse
    board channel: the limit of its line), max compliance, pulse width range and pulses per
    burst."""
    lim = spec.limits
    needs = {"drive": max(lim.v_bl_max, lim.v_sl_max), "gate": lim.v_wl_max,
             "pulse_bl": lim.v_bl_max, "pulse_sl": lim.v_sl_max}  # fmt: skip
    terminals: dict[str, float] = {}
    for fn, term in spec.wiring.functions.items():
        terminals[term] = max(terminals.get(term, 0.0), needs[fn])
    line_max = {"WL": lim.v_wl_max, "BL": lim.v_bl_max, "SL": lim.v_sl_max}
    for kind, group in spec.wiring.lines.items():
        board = getattr(group, "board", None)
        if board:  # a pulse board channel per line: the limit of that line
            n = spec.chip.cols if kind == "BL" else spec.chip.rows
            for i in range(n):
                term = f"{board}.{group.first_channel + i}"
                terminals[term] = max(terminals.get(term, 0.0), line_max[kind])
    return {
        "station": spec.name,
        "terminals": terminals,
        "i_compliance_max_a": lim.i_compliance_max_a,
        "width_s": list(lim.width_s),
        "pulses_per_call_max": lim.pulses_per_call_max,
    }


def sim_faults(spec: StationSpec) -> list[dict[str, Any]]:
    """The station's `sim: faults:` as resource-file entries; targets must exist."""
    out = []
    for k, fault in enumerate(spec.sim.faults):
        where = f"sim.faults.{k}"
        if fault.instrument is not None and fault.instrument not in spec.instruments:
            raise StationError(
                f"{where}.instrument: no instrument named {fault.instrument!r} "
                f"(have {sorted(spec.instruments)})"
            )
        for r, c in fault.cells or ():
            if not (0 <= r < spec.chip.rows and 0 <= c < spec.chip.cols):
                raise StationError(
                    f"{where}.cells: cell [{r}, {c}] is outside the "
                    f"{spec.chip.rows}x{spec.chip.cols} chip"
                )
        out.append(fault.resource_args())
    return out


def write_resource_file(spec: StationSpec, classes: dict[str, type], path: Path) -> None:
    text = yaml.safe_dump(resource_dict(spec, classes), sort_keys=False)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
