"""A minimal protocol for the fault tests (registered by them as 'probe'): per cell, a read,
one SET pulse, a read. It exercises the read path (retried) and the pulse path (never retried)
through the real runner, bench, drivers and simulator."""

from __future__ import annotations

from dataclasses import dataclass

from reramlab.bench import Bench
from reramlab.log import Run
from reramlab.protocols.base import Cell, Progress, ProtocolRun, param

NAME = "probe"
TITLE = "Fault probe: read, SET pulse, read"


@dataclass(frozen=True)
class Params:
    v_read: float = param(0.2, "V", "read voltage", lo=0.01, hi=0.5)
    vg: float = param(1.2, "V", "gate voltage", lo=0.0, hi=10.0)
    v_set: float = param(1.5, "V", "SET pulse amplitude", lo=0.0, hi=20.0)
    width_s: float = param(100e-9, "s", "pulse width", lo=1e-9, hi=1.0)
    i_compliance_a: float = param(1e-3, "A", "SMU current limit", lo=1e-7, hi=0.1)


def check(params: Params, bench: Bench) -> None:
    bench.check_level("BL", params.v_set, "v_set")
    bench.check_level("BL", params.v_read, "v_read")
    bench.check_level("WL", params.vg, "vg")
    bench.check_width(params.width_s)
    bench.check_compliance(params.i_compliance_a)


def run(bench: Bench, cells: list[Cell], params: Params, log: Run) -> ProtocolRun:
    done = {(int(r["row"]), int(r["col"])) for r in log.table("cells")}
    bench.prepare_dc(i_compliance_a=params.i_compliance_a, nplc=0.1)
    todo = [c for c in cells if c not in done]
    for k, cell in enumerate(todo):
        _, g0 = bench.read(cell, params.v_read, params.vg)
        log.op(cell, "read", t_s=bench.now_s(), v=params.v_read, vg=params.vg, g_s=g0)
        bench.pulse(cell, params.v_set, params.width_s, params.vg)
        log.op(cell, "set_pulse", t_s=bench.now_s(), v=params.v_set, width_s=params.width_s,
               vg=params.vg)  # fmt: skip
        _, g1 = bench.read(cell, params.v_read, params.vg)
        log.op(cell, "read", t_s=bench.now_s(), v=params.v_read, vg=params.vg, g_s=g1)
        log.row("cells", row=cell[0], col=cell[1], g_before=g0, g_after=g1)
        log.flush()
        yield Progress(len(done) + k + 1, len(cells), f"cell {cell}")
