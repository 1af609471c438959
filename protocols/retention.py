"""Retention: reads of programmed cells at log-spaced times after programming (drift).

Each cell has a time zero and a reference conductance. With `program`, the cell is first
written with program-verify (every `ProgramParams` setting applies): time zero is its last
programming pulse and the reference is its final verify read, the first read after
programming. Without `program`, cells are taken as found: time zero and reference are the
cell's first read in this run. The cell is then read at time zero + each of `times_s`, and
drift = G(t) - reference. A cell that starts inside its window gets no pulse, so its true age
is unknown and it is treated as found; `n_reset_first` > 0 programs every cell afresh.

Reads are scheduled per cell, not per pass: all (cell, time) reads are taken in order of their
due time, and with `program` the reads that fall due while later cells are still being
programmed are taken between cells, so early cells are read on time too. A read that could not
be taken on time (another read or a programming loop was running) is taken as soon as possible
and its actual time since programming is what the table records.

Waiting uses `bench.wait`: on the simulator it advances the simulated clock (ten years take no
wall time), on a real bench it really waits, so choose `times_s` accordingly there.

Resume continues the schedule from the logged time zeros, which are bench-clock times: resume on
the same bench session (a real bench's clock restarts when the station reconnects).

Tables: `cells` (one row per cell: time zero `t0_s`, reference `g_ref_s`, and the P&V outcome
with `program`), `reads` (one row per read: row, col, index of the time `k`, the scheduled
`t_sched_s`, the actual time since time zero `t_s`, `g_s`, `drift_s`).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from reramlab.bench import Bench
from reramlab.errors import ParameterError
from reramlab.log import Run

from . import programming as prog
from .base import Cell, Progress, ProtocolRun, param

NAME = "retention"
TITLE = "Retention: drift of programmed cells at log-spaced times (1 s ... 10 years)"
#: the program-verify settings that only its optional programming step uses
STEP_PARAMS = (prog.PROGRAM_STEP_ONLY, "program step, with program")

YEAR_S = 365.25 * 86400.0


@dataclass(frozen=True)
class Params(prog.ProgramParams):
    times_s: tuple[float, ...] = param(
        (1.0, 10.0, 100.0, 1e3, 3600.0, 1e4, 1e5, 1e6, 1e7, 1e8, 10 * YEAR_S),
        "s",
        "read times after time zero (comma-separated, increasing)",
    )
    program: bool = param(False, "", "program-verify each cell first (settings above)")

    def __post_init__(self) -> None:
        super().__post_init__()
        t = list(self.times_s)
        if not t or t != sorted(t) or t[0] <= 0 or not all(map(math.isfinite, t)):
            raise ParameterError(f"times_s = {self.times_s}: positive, finite and increasing")


def check(params: Params, bench: Bench) -> None:
    """Refuse before the first command anything beyond the station limits."""
    prog.check_reads(params, bench, params.program)


class Schedule:
    """Due reads as a heap of (due bench time, cell, time index)."""

    def __init__(self, params: Params) -> None:
        self.times = params.times_s
        self.heap: list[tuple[float, Cell, int]] = []

    def add(self, cell: Cell, t0: float, skip: set[int] = frozenset()) -> None:
        for k, t in enumerate(self.times):
            if k not in skip:
                heapq.heappush(self.heap, (t0 + t, cell, k))

    def due(self, now: float) -> bool:
        return bool(self.heap) and self.heap[0][0] <= now


def run(bench: Bench, cells: list[Cell], params: Params, log: Run) -> ProtocolRun:
    zero = {(int(r["row"]), int(r["col"])): (float(r["t0_s"]), float(r["g_ref_s"]))
            for r in log.table("cells")} if "cells" in log.group else {}  # fmt: skip
    done_reads: dict[Cell, set[int]] = {}
    for r in log.table("reads") if "reads" in log.group else []:
        done_reads.setdefault((int(r["row"]), int(r["col"])), set()).add(int(r["k"]))
    schedule = Schedule(params)
    for cell, (t0, _) in zero.items():
        schedule.add(cell, t0, done_reads.get(cell, set()))
    total = len(cells) * len(params.times_s)
    n_done = sum(map(len, done_reads.values()))
    plan = prog.assign_targets(cells, params.targets())
    bench.prepare_dc(i_compliance_a=params.i_compliance_a, nplc=params.nplc)

    def read_due(wait: bool) -> ProtocolRun:
        nonlocal n_done
        while schedule.heap and (wait or schedule.due(bench.now_s())):
            due, cell, k = heapq.heappop(schedule.heap)
            bench.wait(due - bench.now_s())
            g, t = prog.verify(bench, cell, params, log)
            t0, g_ref = zero[cell]
            log.row("reads", row=cell[0], col=cell[1], k=k, t_sched_s=params.times_s[k],
                    t_s=t - t0, g_s=g, drift_s=g - g_ref)  # fmt: skip
            log.flush()
            n_done += 1
            yield Progress(n_done, total, f"cell {cell} at t = {t - t0:.3g} s: "
                                          f"drift {(g - g_ref) * 1e6:+.3g} uS")  # fmt: skip

    for cell in [c for c in cells if c not in zero]:
        row: dict = {"row": cell[0], "col": cell[1]}
        if params.program:
            level, target = plan[cell]
            out = prog.program_cell(bench, cell, target, params, log)
            t0, g_ref = prog.time_zero(out), out["final_g_s"]
            row |= {"level": level, **out}
        else:
            g_ref, t0 = prog.verify(bench, cell, params, log)
        zero[cell] = (t0, g_ref)
        log.row("cells", **row, t0_s=t0, g_ref_s=g_ref)
        log.flush()
        schedule.add(cell, t0)
        yield Progress(n_done, total, f"cell {cell}: reference {g_ref * 1e6:.4g} uS")
        yield from read_due(wait=False)
    yield from read_due(wait=True)
