"""Forming: gate-limited BL voltage ramp with a read after every step.

Per cell: the gate is held at `vg` (in a 1T1R cell the access transistor, not the SMU, limits
the forming current); the BL steps from `v_start` to `v_stop` in `v_step` with SL grounded, and
after each step the cell is read at `v_read`. The ramp stops at the first step whose read
conductance reaches `g_formed_s` (the SkyWater/Ielmini incremental-forming practice: no
over-forming), and the BL returns to 0 V. Logged per cell: forming voltage (the applied 1T1R
voltage of that step), the current during it, the conductance after it.

Each step's stop decision depends on its read, so from the host every step costs round trips
(level, measure, read level, measure). On a station whose drive SMU runs scripts with the matrix
on its TSP-Link network (`reramlab.onboard`), the whole ramp of a cell runs on the SMU as one
call (`loop = auto` or `instrument`), the same steps and reads, logged the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reramlab.bench import Bench
from reramlab.errors import ParameterError
from reramlab.log import Run
from reramlab.onboard import Onboard, ScriptAborted

from .base import Cell, Progress, ProtocolRun, check_limits, param

LOOPS = ("auto", "host", "instrument")

NAME = "forming"
TITLE = "Forming: gate-limited BL ramp, read after each step, stop when formed"


@dataclass(frozen=True)
class Params:
    v_start: float = param(1.5, "V", "first BL step (applied 1T1R voltage)", lo=0.0, hi=20.0)
    v_stop: float = param(4.0, "V", "last BL step if the cell has not formed", lo=0.0, hi=20.0)
    v_step: float = param(0.02, "V", "BL voltage increment", lo=1e-3, hi=1.0)
    vg: float = param(1.2, "V", "gate voltage (sets the forming current)", lo=0.0, hi=10.0)
    v_read: float = param(0.2, "V", "read voltage after each step", lo=0.01, hi=0.5)
    g_formed_s: float = param(
        20e-6, "S", "read conductance that counts as formed", lo=1e-7, hi=1e-2
    )
    i_compliance_a: float = param(
        1e-3, "A", "SMU current limit (backup to the gate)", lo=1e-7, hi=0.1
    )
    nplc: float = param(0.1, "PLC", "measurement aperture in power-line cycles", lo=0.01, hi=10.0)
    loop: str = param(
        "auto", "", "where the ramp runs: host | instrument (a TSP script on the drive SMU) | "
        "auto (instrument when the station can)",
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.v_stop <= self.v_start:
            raise ParameterError(f"v_stop = {self.v_stop} V must exceed v_start = {self.v_start} V")
        if self.loop not in LOOPS:
            raise ParameterError(f"loop = {self.loop!r}: one of {', '.join(LOOPS)}")

    def steps(self) -> np.ndarray:
        n = int(np.floor((self.v_stop - self.v_start) / self.v_step + 1e-9)) + 1
        return np.round(self.v_start + self.v_step * np.arange(n), 9)


def check(params: Params, bench: Bench) -> None:
    """Refuse before the first command anything beyond the station limits."""
    check_limits(params, bench, bl=("v_stop",), wl=("vg",))
    if params.loop == "instrument" and bench.onboard is None:
        raise ParameterError(
            "loop = 'instrument': this station cannot run the forming ramp on an instrument (it "
            "needs a TSP drive SMU holding drive and gate and the matrix on its TSP-Link network, "
            "wiring.tsplink); use loop = host or auto"
        )


def run(bench: Bench, cells: list[Cell], params: Params, log: Run) -> ProtocolRun:
    done = (
        {(int(r["row"]), int(r["col"])) for r in log.table("cells")}
        if "cells" in log.group
        else set()
    )
    todo = [c for c in cells if c not in done]
    bench.prepare_dc(i_compliance_a=params.i_compliance_a, nplc=params.nplc)
    onboard = None if params.loop == "host" else bench.onboard
    for k, cell in enumerate(todo):
        if onboard is not None:
            formed, v_form, i_form, g_form = _ramp_on_instrument(onboard, cell, params, log)
        else:
            formed, v_form, i_form, g_form = _ramp_on_host(bench, cell, params, log)
        log.row("cells", row=cell[0], col=cell[1], formed=formed, v_form=v_form,
                i_form=i_form, g_form=g_form)  # fmt: skip
        log.flush()
        yield Progress(
            len(done) + k + 1,
            len(cells),
            f"cell {cell}: " + (f"formed at {v_form:.2f} V" if formed else "not formed"),
        )


Outcome = tuple[bool, float, float, float]  # formed, v_form, i_form, g_form


def _ramp_on_host(bench: Bench, cell: Cell, params: Params, log: Run) -> Outcome:
    for v in params.steps():
        i_step = bench.dc(cell, float(v), params.vg)
        log.op(cell, "form_step", t_s=bench.now_s(), v=float(v), vg=params.vg, i_a=i_step)
        i_read, g = bench.read(cell, params.v_read, params.vg)
        log.op(cell, "read", t_s=bench.now_s(), v=params.v_read, vg=params.vg, i_a=i_read, g_s=g)
        if g >= params.g_formed_s:
            return True, float(v), i_step, g
    return False, np.nan, np.nan, np.nan


def _ramp_on_instrument(onboard: Onboard, cell: Cell, params: Params, log: Run) -> Outcome:
    steps = params.steps()
    try:
        ramp = onboard.form(cell, v_start=float(steps[0]), v_step=params.v_step,
                            n_steps=len(steps), vg=params.vg, v_read=params.v_read,
                            g_formed_s=params.g_formed_s)  # fmt: skip
    except ScriptAborted as e:  # what the ramp measured before it stopped is logged too
        _log_ramp(e.steps, cell, params, log)
        raise
    _log_ramp(ramp, cell, params, log)
    if ramp and ramp[-1].g_s >= params.g_formed_s:
        return True, ramp[-1].v, ramp[-1].i_a, ramp[-1].g_s
    return False, np.nan, np.nan, np.nan


def _log_ramp(ramp: list, cell: Cell, params: Params, log: Run) -> None:
    for step in ramp:
        log.op(cell, "form_step", t_s=step.t_s, v=step.v, vg=params.vg, i_a=step.i_a)
        log.op(cell, "read", t_s=step.t_read_s, v=params.v_read, vg=params.vg,
               i_a=step.g_s * params.v_read, g_s=step.g_s)  # fmt: skip
