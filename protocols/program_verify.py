"""Program-and-verify: multi-level closed-loop programming of a block of cells.

The targets (`n_levels` evenly spaced from `g_min_s` to `g_max_s`, or an explicit `targets_s`)
are assigned to the cells round-robin in cell order (cell k gets level k mod n). Each cell is
then written and verified on its own with the chosen algorithm (`identical`, `ispva`, `igvva`)
and `mode` (`incremental`, `cumulative`), defined in `programming.py`'s docstring.

Defaults follow [A]'s identical-pulse loop: 32 levels over 10-90 uS, 2 % acceptance, the
amplitude table by target range (+1.35/-1.5 V, +1.35/-1.3 V, +1.5/-1.3 V), SET gate 1.2 V,
RESET gate 3.3 V (a RESET raised on the SL needs a strong gate), 10 us pulses, reads at 0.2 V
over one power-line cycle (an averaged verify read). All are plain parameters.

Bus cost: one iteration is one verify read plus one pulse. With the loop on the host (`loop =
host`, or a station that cannot run it on an instrument) a SET iteration on the `sim` station
costs 2 VISA messages (the read as one message to the drive SMU, the pulse as one to the
generator) and a RESET iteration 6 (also the RESET gate and back, the SL's ground crosspoint
open and closed); about 4 per iteration over a 32-level run. With the loop on the instrument
(`reramlab/onboard.py`, the lab-2636b-81160-707b station) a whole cell is one call.

Logged: every verify read (`read`) and pulse (`set_pulse`, `reset_pulse`, `form_pulse`) as
operations of its cell; one row per cell in the table `cells` (row, col, level, target_g_s,
g_start_s, final_g_s, iterations, n_set, n_reset, converged, formed, algorithm, loop, t_prog_s,
t_final_s). `final_g_s` is the last verify read, i.e. the state at the end of programming.
"""

from __future__ import annotations

from dataclasses import dataclass

from reramlab.bench import Bench
from reramlab.log import Run

from .base import Cell, Progress, ProtocolRun
from .programming import (
    ProgramParams,
    assign_targets,
    check_programming,
    done_cells,
    program_cell,
    remaining,
)

NAME = "program-verify"
TITLE = "Program-and-verify: multi-level closed-loop programming (identical, ISPVA, IGVVA)"


@dataclass(frozen=True)
class Params(ProgramParams):
    """The programming parameters of `programming.ProgramParams`, unchanged."""


def check(params: Params, bench: Bench) -> None:
    """Refuse before the first command anything beyond the station limits."""
    check_programming(params, bench)


def run(bench: Bench, cells: list[Cell], params: Params, log: Run) -> ProtocolRun:
    done = done_cells(log)
    plan = assign_targets(cells, params.targets())
    bench.prepare_dc(i_compliance_a=params.i_compliance_a, nplc=params.nplc)
    for k, cell in enumerate(remaining(cells, done)):
        level, target = plan[cell]
        out = program_cell(bench, cell, target, params, log)
        log.row("cells", row=cell[0], col=cell[1], level=level, **out)
        log.flush()
        state = "converged" if out["converged"] else "not converged"
        yield Progress(
            len(done) + k + 1,
            len(cells),
            f"cell {cell}: {target * 1e6:.3g} uS {state} after {out['iterations']} pulses",
        )
