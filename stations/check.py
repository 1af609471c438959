"""`reramlab station check`: connect, identify, verify roles, limits and error queues."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reramlab.instruments.roles import PulseChannel, PulseGenerator, SourceMeter, SwitchMatrix

from .connect import connect
from .loader import load_station

ROLE_OF_FUNCTION = {"drive": SourceMeter, "gate": SourceMeter, "pulse_bl": PulseChannel,
                    "pulse_sl": PulseChannel}  # fmt: skip


@dataclass
class InstrumentRow:
    name: str
    address: str
    identity: str = ""
    roles: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.identity) and not self.errors


@dataclass
class CheckReport:
    name: str
    library: str
    rows: list[InstrumentRow]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.ok for r in self.rows)


def check_station(station: str | Path, *, sim: bool = False) -> CheckReport:
    st = load_station(station)  # validates keys, types, wiring references, limits vs drivers
    connected = connect(st, sim=sim)
    problems: list[str] = []
    rows = {name: InstrumentRow(name, spec.address) for name, spec in st.spec.instruments.items()}
    try:
        for name, inst in connected.instruments.items():
            try:
                rows[name].identity = str(inst.id).strip()
            except Exception as e:  # noqa: BLE001 - report every instrument, not the first failure
                rows[name].errors.append(f"no answer to *IDN?: {e}")
        for fn, term in st.spec.wiring.functions.items():
            role = ROLE_OF_FUNCTION[fn]
            obj = connected.terminal(term)
            inst = term.split(".")[0]
            if isinstance(obj, role):
                rows[inst].roles.append(f"{fn}={term}")
            else:
                problems.append(
                    f"wiring.functions.{fn}: {term} ({type(obj).__name__}) is not a {role.__name__}"
                )
            if fn.startswith("pulse") and not isinstance(
                connected.instruments[inst], PulseGenerator
            ):
                problems.append(
                    f"wiring.functions.{fn}: {inst} cannot fire bursts (not a PulseGenerator)"
                )
        for kind, group in st.spec.wiring.lines.items():
            if group.switch:
                sw = connected.instruments[group.switch]
                if not isinstance(sw, SwitchMatrix):
                    problems.append(
                        f"wiring.lines.{kind}.switch: {group.switch} is not a SwitchMatrix"
                    )
                    continue
                rows[group.switch].roles.append(f"{kind} lines")
                n = st.spec.chip.cols if kind == "BL" else st.spec.chip.rows
                last = group.first_column + n - 1
                capacity = getattr(sw, "n_columns", None)
                if capacity is not None and last > capacity:
                    problems.append(
                        f"wiring.lines.{kind}: needs column {last}, {group.switch} has {capacity}"
                    )
                sw.safe_state()
                if sw.closed():
                    problems.append(f"{group.switch}: crosspoints still closed after open_all")
        if st.spec.wiring.tsplink:
            from reramlab.bench import Bench  # the bench layer sits above the station layer

            onboard = Bench(connected).onboard
            if onboard is None:
                problems.append(
                    "wiring.tsplink: declared, but the drive and gate are not on one TSP SMU with "
                    "every line on one matrix of its network (no instrument-side loops)"
                )
            else:
                problems.extend(onboard.check_links())
                rows[onboard.switch_name].roles.append(f"TSP-Link node {onboard.node}")
        for name, inst in connected.instruments.items():
            try:
                errs = inst.check_errors()
            except Exception as e:  # noqa: BLE001
                errs = [str(e)]
            rows[name].errors.extend(str(e) for e in errs)
    finally:
        connected.close()
    return CheckReport(st.name, connected.visa_library, list(rows.values()), problems)
