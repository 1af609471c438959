"""Read: repeated DC reads of a block of cells; conductance map and read noise.

Per cell: `n_reads` reads at `v_read` with gate `vg`, `interval_s` apart, taken as one
instrument-side list sweep of identical levels (one buffer, a few bus transactions; each read
is logged as a `read` operation, its time spread evenly over the burst). The cell's row in the
table `cells` holds the mean, the standard deviation (ddof 1: the read noise) and the first of
its reads.

The read noise of a ReRAM cell depends on the time since it was programmed and on the
measurement aperture (1/f noise: a longer aperture averages more of it), so both are
parameters: `nplc` sets the SMU aperture (on a 60 Hz Keithley 2450 the shortest, 0.01 PLC, is
167 us), and with `program` each cell is first written with program-verify (every
`ProgramParams` setting applies; verify reads use the same `v_read`, `vg`, `nplc`) and its first
read is taken `t_after_program_s` after its last programming pulse (`bench.wait`: simulated time
on the simulator, a real wait on a bench; a cell that starts inside its window gets no pulse and
is timed from its final verify read, so use `n_reset_first` > 0 to program every cell afresh).
Without `program` cells are read as found.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reramlab.bench import Bench
from reramlab.log import Run

from . import programming as prog
from .base import Cell, Progress, ProtocolRun, param

NAME = "read"
TITLE = "Read: repeated reads per cell (conductance map, read noise), optionally after P&V"
#: the program-verify settings that only its optional programming step uses
STEP_PARAMS = (prog.PROGRAM_STEP_ONLY, "program step, with program")


@dataclass(frozen=True)
class Params(prog.ProgramParams):
    n_reads: int = param(20, "1", "reads per cell", lo=2, hi=100_000)
    interval_s: float = param(0.0, "s", "extra wait between reads of a cell", lo=0.0, hi=3600.0)
    program: bool = param(False, "", "program-verify each cell first (settings above)")
    t_after_program_s: float = param(
        1.0, "s", "with program: first read this long after the cell's last pulse", lo=0.0,
        hi=1e9,
    )  # fmt: skip


def check(params: Params, bench: Bench) -> None:
    """Refuse before the first command anything beyond the station limits."""
    prog.check_reads(params, bench, params.program)


def read_burst(bench: Bench, cell: Cell, p: Params, log: Run, n: int) -> np.ndarray:
    """`n` reads of `cell` as one list sweep; logged one by one. Returns conductances (S)."""
    t0 = bench.now_s()
    i = bench.sweep(cell, [p.v_read] * n, p.vg, delay_s=p.interval_s, read_only=True)
    t1 = bench.now_s()
    g = i / p.v_read
    times = t0 + (t1 - t0) * np.arange(1, n + 1) / n
    log.ops(cell, [(t, "read", p.v_read, math.nan, p.vg, ik, gk, 1)
                   for t, ik, gk in zip(times, i, g, strict=True)])  # fmt: skip
    return g


def run(bench: Bench, cells: list[Cell], params: Params, log: Run) -> ProtocolRun:
    done = prog.done_cells(log)
    plan = prog.assign_targets(cells, params.targets())
    bench.prepare_dc(i_compliance_a=params.i_compliance_a, nplc=params.nplc)
    for k, cell in enumerate(prog.remaining(cells, done)):
        row: dict = {"row": cell[0], "col": cell[1]}
        tau = math.nan
        if params.program:
            level, target = plan[cell]
            out = prog.program_cell(bench, cell, target, params, log)
            t_ref = prog.time_zero(out)
            bench.wait(t_ref + params.t_after_program_s - bench.now_s())
            tau = bench.now_s() - t_ref
            row |= {"level": level, **out}
        g = read_burst(bench, cell, params, log, params.n_reads)
        row |= {"g_mean_s": float(g.mean()), "g_std_s": float(g.std(ddof=1)),
                "g_first_s": float(g[0]), "n_reads": len(g), "tau_s": tau}  # fmt: skip
        log.row("cells", **row)
        log.flush()
        yield Progress(
            len(done) + k + 1,
            len(cells),
            f"cell {cell}: {g.mean() * 1e6:.4g} uS, noise {g.std(ddof=1) * 1e9:.3g} nS",
        )
