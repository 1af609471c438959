"""Pulse train: open-loop potentiation/depression with identical pulses, a read after each.

Per cell and per cycle (`n_cycles`), the phases named in `phases` run in order:

- `down`: `n_down` identical RESET pulses (`v_reset`, `width_reset_s`, gate `vg_reset`);
- `up`: `n_up` identical SET pulses (`v_set`, `width_set_s`, gate `vg_set`);
- `alt`: `n_alt` pulses alternating RESET, SET, RESET, ...: the conductance converges to the
  symmetry point, where a SET and a RESET step are equal and opposite.

After every `n_per_read` pulses (default 1: after every pulse) the cell is read at `v_read`.
Open loop means no pulse depends on a read, so with `n_per_read` > 1 the pulses between reads
go out as one instrument-side burst (long weak-RESET trains); with 1 each pulse is its own call,
which the read after it requires anyway. The first row of each cell is a read before any pulse.

Progress is yielded at the end of every phase. Logged: each pulse or burst (op "set_pulse" / "reset_pulse", n = count), each read, and one row
per read in the table `train` (cycle, phase, k = pulses so far in the phase, n = pulses so far
on the cell, v = the last pulse's amplitude, g_s). The sequence is fixed by the parameters, so
resume continues each cell after its last logged read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from reramlab.bench import Bench
from reramlab.errors import ParameterError
from reramlab.log import Run

from . import preform as pre
from .base import Cell, Progress, ProtocolRun, check_limits, param
from .resume import logged_rows

NAME = "pulse-train"
TITLE = "Pulse train: open-loop identical-pulse depression/potentiation, read after each pulse"
PHASES = ("down", "up", "alt")
FLUSH_EVERY = 100  # reads between flushes inside a phase (a flush also ends every phase)


@dataclass(frozen=True)
class Params:
    phases: str = param("down,up,alt", "", "phases per cycle, in order: down (RESET pulses), "
                        "up (SET pulses), alt (alternating, symmetry point)")  # fmt: skip
    n_down: int = param(800, "1", "RESET pulses in a down phase", lo=0, hi=10**6)
    n_up: int = param(800, "1", "SET pulses in an up phase", lo=0, hi=10**6)
    n_alt: int = param(500, "1", "pulses in an alternating phase (RESET first)", lo=0, hi=10**6)
    n_cycles: int = param(1, "1", "repetitions of the phase sequence", lo=1, hi=10_000)
    v_set: float = param(1.35, "V", "SET pulse amplitude (BL, SL at 0)", lo=0.0, hi=20.0)
    width_set_s: float = param(1e-6, "s", "SET pulse width", lo=1e-9, hi=10.0)
    vg_set: float = param(1.2, "V", "gate during SET pulses (sets the compliance)", lo=0.0, hi=10.0)
    v_reset: float = param(-1.3, "V", "RESET pulse amplitude (negative: |v| on SL, BL at 0)",
                           lo=-20.0, hi=0.0)  # fmt: skip
    width_reset_s: float = param(1e-6, "s", "RESET pulse width", lo=1e-9, hi=10.0)
    vg_reset: float = param(3.3, "V", "gate during RESET pulses", lo=0.0, hi=10.0)
    rise_s: float = param(5e-9, "s", "pulse rise time", lo=1e-9, hi=1e-3)
    fall_s: float = param(5e-9, "s", "pulse fall time", lo=1e-9, hi=1e-3)
    n_per_read: int = param(1, "1", "pulses between reads (> 1: bursts of identical pulses)",
                            lo=1, hi=10**6)  # fmt: skip
    v_read: float = param(0.2, "V", "read voltage", lo=0.01, hi=0.5)
    vg_read: float = param(1.2, "V", "gate during reads", lo=0.0, hi=10.0)
    i_compliance_a: float = param(1e-3, "A", "SMU current limit for reads", lo=1e-7, hi=0.1)
    nplc: float = param(0.1, "PLC", "read aperture in power-line cycles", lo=0.01, hi=10.0)
    preform: bool = param(False, "", "form pristine cells first (forming protocol defaults)")

    def __post_init__(self) -> None:
        unknown = [p for p in self.phase_list() if p not in PHASES]
        if unknown or not self.phase_list():
            raise ParameterError(
                f"phases = {self.phases!r}: expected a comma-separated list of {', '.join(PHASES)}"
            )
        if self.v_set <= 0 or self.v_reset >= 0:
            raise ParameterError(
                f"v_set = {self.v_set} V must be > 0 and v_reset = {self.v_reset} V < 0"
            )

    def phase_list(self) -> list[str]:
        return [p.strip() for p in self.phases.split(",") if p.strip()]

    def pulse_of(self, phase: str, j: int) -> float:
        """Amplitude of the j-th pulse (0-based) of `phase`."""
        if phase == "alt":
            return self.v_set if j % 2 else self.v_reset
        return self.v_set if phase == "up" else self.v_reset

    def plan(self) -> list[tuple[int, str, int, list[tuple[float, int]]]]:
        """The reads of one cell: (cycle, phase, k, pulses before the read as (v, count) runs).
        The first is the read before any pulse."""
        out: list[tuple[int, str, int, list[tuple[float, int]]]] = [(0, "start", 0, [])]
        total = {"down": self.n_down, "up": self.n_up, "alt": self.n_alt}
        for cycle in range(self.n_cycles):
            for phase in self.phase_list():
                for k0 in range(0, total[phase], self.n_per_read):
                    k1 = min(k0 + self.n_per_read, total[phase])
                    out.append(
                        (cycle, phase, k1, _runs(self.pulse_of(phase, j) for j in range(k0, k1)))
                    )
        return out


def _runs(amplitudes: Iterator[float]) -> list[tuple[float, int]]:
    """Consecutive identical amplitudes as (v, count) runs: each run is one burst."""
    out: list[tuple[float, int]] = []
    for v in amplitudes:
        if out and out[-1][0] == v:
            out[-1] = (v, out[-1][1] + 1)
        else:
            out.append((v, 1))
    return out


def check(params: Params, bench: Bench) -> None:
    """Refuse before the first command anything beyond the station limits."""
    check_limits(params, bench, bl=("v_set", "v_read"), sl=("v_reset",),
                 wl=("vg_set", "vg_reset", "vg_read"), widths=("width_set_s", "width_reset_s"),
                 counts=("n_per_read",))  # fmt: skip
    pre.check(params.preform, bench)


def run(bench: Bench, cells: list[Cell], params: Params, log: Run) -> ProtocolRun:
    plan = params.plan()
    logged = {cell: len(rows) for cell, rows in logged_rows(log, "train").items()}
    todo = [c for c in cells if logged.get(c, 0) < len(plan)]
    yield from pre.preform(bench, todo, params.preform, log)
    bench.prepare_dc(i_compliance_a=params.i_compliance_a, nplc=params.nplc)
    for k, cell in enumerate(todo):
        start = logged.get(cell, 0)
        n = sum(count for *_, runs in plan[:start] for _, count in runs)
        for index in range(start, len(plan)):
            cycle, phase, k_phase, runs = plan[index]
            for v, count in runs:
                _pulses(bench, cell, v, count, params, log)
            n += sum(count for _, count in runs)
            i, g = bench.read(cell, params.v_read, params.vg_read)
            t_s = bench.now_s()
            log.op(cell, "read", t_s=t_s, v=params.v_read, vg=params.vg_read, i_a=i, g_s=g)
            log.row("train", row=cell[0], col=cell[1], cycle=cycle, phase=phase, k=k_phase, n=n,
                    v=runs[-1][0] if runs else 0.0, g_s=float(g), t_s=t_s)  # fmt: skip
            last = index + 1 == len(plan)
            phase_done = last or plan[index + 1][:2] != (cycle, phase)
            if phase_done or (index - start) % FLUSH_EVERY == FLUSH_EVERY - 1:
                log.flush()
            if phase_done:
                yield Progress(k + last, len(todo), f"cell {cell}: cycle {cycle} {phase} done, "
                                                    f"{n} pulses")  # fmt: skip


def _pulses(bench: Bench, cell: Cell, v: float, count: int, params: Params, log: Run) -> None:
    width, vg, op = ((params.width_set_s, params.vg_set, "set_pulse") if v > 0 else
                     (params.width_reset_s, params.vg_reset, "reset_pulse"))  # fmt: skip
    bench.pulse(cell, v, width, vg, count=count, rise_s=params.rise_s, fall_s=params.fall_s)
    log.op(cell, op, t_s=bench.now_s(), v=v, width_s=width, vg=vg, n=count)
