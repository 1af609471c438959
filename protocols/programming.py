"""Closed-loop programming shared by `program-verify`, `read` and `retention`.

`ProgramParams` holds what to program (target levels, acceptance) and how (algorithm, mode,
pulse amplitudes and gates, verify read); `program_cell` runs the write-verify loop on one cell
through the bench and logs every verify read and every pulse as an operation of the cell.

Algorithms (research notes section 4), chosen by `algorithm`; every iteration is one verify read
and, unless G is already inside the acceptance window Gt ± AR (AR = `acceptance` x Gt), one
pulse: SET (positive, BL) if G < Gt - AR, RESET (negative, SL) if G > Gt + AR.

- ``identical`` ([A]'s loop, notes 4.2): every pulse of a polarity is identical: the amplitude
  of `v_table` for the target's range, gate `vg_set` / `vg_reset`.
- ``ispva`` (incremental step pulse with verify, notes 4.1): the gate is fixed; the pulse
  amplitude of a polarity climbs a ladder from `v_set_start` / `v_reset_start` in steps of
  `v_step` and stops climbing at the `v_table` amplitude of the target's range.
- ``igvva`` (incremental gate voltage with verify, notes 4.1): the amplitude is the `v_table`
  one; the gate of a polarity climbs from `vg_set_start` / `vg_reset_start` in steps of
  `vg_step` and stops climbing at `vg_set` / `vg_reset`.

Each polarity has its own ladder position k (amplitude or gate = start + k x step). `mode`
says what happens to it when the loop changes polarity (an overshoot):

- ``incremental``: nothing. Each ladder only climbs over the whole loop, from wherever it
  stopped: the literature's ISPVA/IGVVA, which never steps back down.
- ``cumulative``: the ladder of the new polarity restarts at its start value, so corrections
  after an overshoot begin gently and accumulate pulses again.

For ``identical`` the step is zero, so `mode` changes nothing: its identical pulses accumulate.
`iterations` counts programming pulses (0 if the cell starts inside the window); a cell that
is still outside the window after `max_iterations` pulses is reported as not converged.

Optional preparation per cell: a cell reading below `g_formed_s` gets one gate-limited forming
pulse of `v_form` at gate `vg_set` (0 = do not form; the cell is reported unformed and skipped).
This is not the `forming` ramp that `preform` runs in other protocols: P&V needs formed cells,
not their forming voltage, and one pulse costs a few bus transactions where the ~100-step ramp
costs hundreds. Then `n_reset_first` RESET pulses (one burst, the first `v_table` row's
RESET amplitude) bring every cell to a common low start state, so that no level starts inside
its window by accident and every cell approaches its target the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from reramlab.bench import Bench
from reramlab.errors import ParameterError
from reramlab.log import Run
from reramlab.onboard import Onboard, ScriptAborted

from .base import Cell, param
from .preform import G_PRISTINE_MAX_S

ALGORITHMS = ("identical", "ispva", "igvva")
MODES = ("incremental", "cumulative")
LOOPS = ("auto", "host", "instrument")


@dataclass(frozen=True)
class ProgramParams:
    g_min_s: float = param(10e-6, "S", "lowest target conductance", lo=1e-7, hi=1e-2)
    g_max_s: float = param(90e-6, "S", "highest target conductance", lo=1e-7, hi=1e-2)
    n_levels: int = param(32, "1", "target levels, evenly spaced g_min_s..g_max_s", lo=1, hi=4096)
    targets_s: tuple[float, ...] = param(
        (), "S", "explicit target list (comma-separated; overrides g_min_s/g_max_s/n_levels)"
    )
    acceptance: float = param(
        0.02, "1", "acceptance range AR relative to the target (|G - Gt| <= AR Gt)", lo=1e-5, hi=0.5
    )
    algorithm: str = param("identical", "", "identical | ispva | igvva")
    mode: str = param("cumulative", "", "incremental | cumulative (ladder after a polarity change)")
    max_iterations: int = param(1000, "1", "programming pulses per cell before giving up", lo=1,
                                hi=1_000_000)  # fmt: skip
    width_s: float = param(10e-6, "s", "programming pulse width", lo=1e-9, hi=1.0)
    v_table: tuple[float, ...] = param(
        (10e-6, 1.35, -1.5, 30e-6, 1.35, -1.3, 60e-6, 1.5, -1.3),
        "S,V,V",
        "amplitudes by target range: rows g_from_s, v_set, v_reset (a row holds from its g_from_s "
        "up to the next row's)",
    )
    vg_set: float = param(1.2, "V", "gate voltage of SET pulses (sets the compliance)", lo=0.0,
                          hi=10.0)  # fmt: skip
    vg_reset: float = param(3.3, "V", "gate voltage of RESET pulses", lo=0.0, hi=10.0)
    v_set_start: float = param(1.0, "V", "ispva: first SET amplitude", lo=0.0, hi=20.0)
    v_reset_start: float = param(-1.0, "V", "ispva: first RESET amplitude", lo=-20.0, hi=0.0)
    v_step: float = param(0.02, "V", "ispva: amplitude step per pulse", lo=0.0, hi=1.0)
    vg_set_start: float = param(0.9, "V", "igvva: first SET gate voltage", lo=0.0, hi=10.0)
    vg_reset_start: float = param(1.5, "V", "igvva: first RESET gate voltage", lo=0.0, hi=10.0)
    vg_step: float = param(0.02, "V", "igvva: gate step per pulse", lo=0.0, hi=1.0)
    v_read: float = param(0.2, "V", "read voltage", lo=0.01, hi=0.5)
    vg: float = param(1.2, "V", "gate voltage of reads", lo=0.0, hi=10.0)
    nplc: float = param(1.0, "PLC", "read aperture in power-line cycles", lo=0.0001, hi=10.0)
    i_compliance_a: float = param(1e-3, "A", "SMU current limit (backup to the gate)", lo=1e-7,
                                  hi=0.1)  # fmt: skip
    v_form: float = param(
        0.0, "V", "forming pulse for cells reading below g_formed_s (0 = skip them)", lo=0.0,
        hi=20.0,
    )  # fmt: skip
    form_width_s: float = param(100e-6, "s", "forming pulse width (gate vg_set)", lo=1e-9, hi=1.0)
    g_formed_s: float = param(
        G_PRISTINE_MAX_S, "S", "below this a cell counts as unformed", lo=0.0, hi=1e-3
    )
    n_reset_first: int = param(0, "1", "RESET pulses (one burst) before the loop: a common low "
                               "start state", lo=0, hi=100_000)  # fmt: skip
    loop: str = param(
        "auto", "", "where the verify loop runs: host | instrument (a TSP script on the drive "
        "SMU; identical and igvva) | auto (instrument when the station can)",
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ParameterError(f"algorithm = {self.algorithm!r}: one of {', '.join(ALGORITHMS)}")
        if self.mode not in MODES:
            raise ParameterError(f"mode = {self.mode!r}: one of {', '.join(MODES)}")
        if self.loop not in LOOPS:
            raise ParameterError(f"loop = {self.loop!r}: one of {', '.join(LOOPS)}")
        if self.loop == "instrument" and self.algorithm == "ispva":
            raise ParameterError(
                "loop = 'instrument': ispva changes the pulse amplitude, which only the host can "
                "set on the pulse generator; use loop = host (or identical / igvva)"
            )
        if self.g_max_s < self.g_min_s:
            raise ParameterError(f"g_max_s = {self.g_max_s} S is below g_min_s = {self.g_min_s} S")
        if any(not 0 < g < 1e-2 for g in self.targets_s):
            raise ParameterError(f"targets_s = {self.targets_s}: every target in (0, 0.01) S")
        rows = self.table_rows()
        if not rows or len(self.v_table) % 3:
            raise ParameterError(
                f"v_table = {self.v_table}: expected rows of 3 values (g_from_s, v_set, v_reset)"
            )
        if any(v_set <= 0 or v_reset >= 0 for _, v_set, v_reset in rows):
            raise ParameterError(f"v_table = {self.v_table}: v_set must be > 0 and v_reset < 0")
        if [g for g, _, _ in rows] != sorted(g for g, _, _ in rows):
            raise ParameterError(f"v_table = {self.v_table}: g_from_s must increase row by row")

    def table_rows(self) -> list[tuple[float, float, float]]:
        t = self.v_table
        return [(t[k], t[k + 1], t[k + 2]) for k in range(0, len(t) - len(t) % 3, 3)]

    def targets(self) -> np.ndarray:
        """The target levels in S (ascending for the grid; as given for `targets_s`)."""
        if self.targets_s:
            return np.asarray(self.targets_s, dtype=float)
        return np.linspace(self.g_min_s, self.g_max_s, self.n_levels)

    def amplitudes(self, target_s: float) -> tuple[float, float]:
        """(v_set, v_reset) of the `v_table` row holding `target_s` (the first row below it)."""
        rows = self.table_rows()
        chosen = rows[0]
        for row in rows:
            if target_s >= row[0]:
                chosen = row
        return chosen[1], chosen[2]


def assign_targets(cells: list[Cell], targets: np.ndarray) -> dict[Cell, tuple[int, float]]:
    """Round-robin: the k-th cell gets level k mod n -> {cell: (level index, target S)}."""
    return {
        cell: (k % len(targets), float(targets[k % len(targets)])) for k, cell in enumerate(cells)
    }


def check_programming(p: ProgramParams, bench: Bench) -> None:
    """Refuse, before the first command, any programming level beyond the station limits."""
    rows = p.table_rows()
    bench.check_level("BL", max(v for _, v, _ in rows), "v_table SET amplitude")
    bench.check_level("SL", max(-v for _, _, v in rows), "v_table RESET amplitude")
    if p.algorithm == "ispva":
        bench.check_level("BL", p.v_set_start, "v_set_start")
        bench.check_level("SL", -p.v_reset_start, "v_reset_start")
    for name in ("vg_set", "vg_reset", "vg", "vg_set_start", "vg_reset_start"):
        bench.check_level("WL", getattr(p, name), name)
    bench.check_level("BL", p.v_read, "v_read")
    bench.check_level("BL", p.v_form, "v_form")
    bench.check_width(p.width_s)
    if p.v_form > 0:
        bench.check_width(p.form_width_s, "form_width_s")
    bench.check_count(p.n_reset_first, "n_reset_first")
    bench.check_compliance(p.i_compliance_a)
    if p.loop == "instrument" and not (bench.onboard and bench.onboard.can_pulse):
        raise ParameterError(
            "loop = 'instrument': this station cannot run the verify loop on an instrument (it "
            "needs a TSP drive SMU holding drive and gate, the matrix on its TSP-Link network "
            "(wiring.tsplink) and the pulse generator's trigger input on one of its digital I/O "
            "lines (wiring.triggers)); use loop = host or auto"
        )


#: the ProgramParams that set reads (verify reads, and the reads of `read` and `retention`)
READ_SETTINGS = frozenset({"v_read", "vg", "nplc", "i_compliance_a"})
#: the ProgramParams that only the programming step uses (`read`/`retention` with `program`)
PROGRAM_STEP_ONLY = frozenset(f.name for f in fields(ProgramParams)) - READ_SETTINGS


def onboard_runner(bench: Bench, p: ProgramParams) -> Onboard | None:
    """The on-instrument loop runner to use for `p` on `bench` (None: the host runs it)."""
    if p.loop == "host" or p.algorithm == "ispva":
        return None
    runner = bench.onboard
    return runner if runner is not None and runner.can_pulse else None


def check_reads(p: ProgramParams, bench: Bench, program: bool) -> None:
    """The read levels (and, with `program`, every programming level) against the limits."""
    bench.check_level("BL", p.v_read, "v_read")
    bench.check_level("WL", p.vg, "vg")
    bench.check_compliance(p.i_compliance_a)
    if program:
        check_programming(p, bench)


class Ladder:
    """Amplitude and gate of the next pulse of each polarity (see the module docstring)."""

    def __init__(self, p: ProgramParams, target_s: float) -> None:
        self.p = p
        self.v = dict(zip((1, -1), p.amplitudes(target_s), strict=True))
        self.k = {1: 0, -1: 0}
        self.last = 0

    def next(self, polarity: int) -> tuple[float, float]:
        """(amplitude V, gate V) of the next pulse of `polarity`, a step up its ladder."""
        step = self.peek(polarity)
        self.k[polarity], self.last = self._rung(polarity) + 1, polarity
        return step

    def peek(self, polarity: int) -> tuple[float, float]:
        """What `next(polarity)` would return, without taking the step."""
        p, k = self.p, self._rung(polarity)
        v, vg = self.v[polarity], p.vg_set if polarity > 0 else p.vg_reset
        if p.algorithm == "ispva":
            start = p.v_set_start if polarity > 0 else -p.v_reset_start
            v = polarity * min(start + k * p.v_step, abs(v))
        elif p.algorithm == "igvva":
            start = p.vg_set_start if polarity > 0 else p.vg_reset_start
            vg = min(start + k * p.vg_step, vg)
        return v, vg

    def _rung(self, polarity: int) -> int:
        """The ladder step the next `polarity` pulse takes (cumulative: 0 after a change)."""
        restart = self.p.mode == "cumulative" and polarity != self.last
        return 0 if restart else self.k[polarity]


class NextPulse:
    """The polarity the next verify read of a cell will most likely call for, guessed before
    the read is sent, so that the bench can leave the drive as that pulse needs it
    (`Bench.read`'s `then`). A right guess saves one bus message, a wrong one costs it back;
    the reads and pulses the cell sees are the same either way.

    The guess: G after the pulse just applied ~ G before it x the geometric mean of the ratio
    G after / G before that the cell's last three pulses of that polarity made (none yet: G
    unchanged, i.e. the same polarity again); then the polarity that G calls for."""

    def __init__(self, target_s: float, window_s: float) -> None:
        self.target_s, self.window_s = target_s, window_s
        self.ratios: dict[int, list[float]] = {1: [], -1: []}

    def after(self, polarity: int, g_before: float) -> float:
        """The guessed polarity (+1.0 / -1.0) of the pulse after a `polarity` pulse applied at
        `g_before`."""
        last = self.ratios[polarity][-3:]
        g = g_before * math.exp(sum(map(math.log, last)) / len(last)) if last else g_before
        if abs(g - self.target_s) <= self.window_s:
            return float(polarity)  # most likely done: any guess is as good
        return 1.0 if g < self.target_s else -1.0

    def learn(self, polarity: int, g_before: float, g_after: float) -> None:
        """Note what a `polarity` pulse did (G before and after it, S)."""
        if g_before > 0 and g_after > 0 and math.isfinite(g_before / g_after):
            self.ratios[polarity].append(g_after / g_before)


def verify(bench: Bench, cell: Cell, p: ProgramParams, log: Run, *, then: float | None = None,
           then_vg: float | None = None) -> tuple[float, float]:  # fmt: skip
    """One read at `v_read`, logged: (G in S, bench time of the read). `then`, `then_vg`: the
    polarity and gate of the pulse expected next (`Bench.read`; None: unknown)."""
    i, g = bench.read(cell, p.v_read, p.vg, then=then, then_vg=then_vg)
    t = bench.now_s()
    log.op(cell, "read", t_s=t, v=p.v_read, vg=p.vg, i_a=i, g_s=g)
    return g, t


def pulse(bench: Bench, cell: Cell, v: float, width_s: float, vg: float, log: Run, op: str = "",
          count: int = 1) -> float:  # fmt: skip
    """`count` pulses of `v` in one burst, logged; returns the bench time at its end."""
    bench.pulse(cell, v, width_s, vg, count=count)
    t = bench.now_s()
    op = op or ("set_pulse" if v > 0 else "reset_pulse")
    log.op(cell, op, t_s=t, v=v, width_s=width_s, vg=vg, n=count)
    return t


def program_cell(
    bench: Bench, cell: Cell, target_s: float, p: ProgramParams, log: Run
) -> dict[str, Any]:
    """Form (if asked), precondition (if asked) and write-verify one cell to `target_s`.

    Returns the cell's outcome: target, start and final G, pulses, convergence, where the loop
    ran, and the bench times of its last pulse (`t_prog_s`, NaN if none) and final verify read
    (`t_final_s`).
    """
    runner = onboard_runner(bench, p)
    if runner is not None:
        return _program_cell_onboard(runner, bench, cell, target_s, p, log)
    window = p.acceptance * target_s
    guess = NextPulse(target_s, window)
    g_start, g, t_read, t_prog, formed = _prepare(bench, cell, p, log, final_read=True)
    ladder = Ladder(p, target_s)
    n = {1: 0, -1: 0}
    while formed and abs(g - target_s) > window and n[1] + n[-1] < p.max_iterations:
        polarity = 1 if g < target_s else -1
        v, vg = ladder.next(polarity)
        t_prog = pulse(bench, cell, v, p.width_s, vg, log)
        n[polarity] += 1
        g_before = g
        then = guess.after(polarity, g_before)
        g, t_read = verify(bench, cell, p, log, then=then, then_vg=ladder.peek(int(then))[1])
        guess.learn(polarity, g_before, g)
    return _outcome(p, target_s, g_start, g, n, formed, "host", t_prog, t_read)


def _prepare(bench: Bench, cell: Cell, p: ProgramParams, log: Run, *,
             final_read: bool) -> tuple[float, float, float, float, bool | None]:  # fmt: skip
    """The cell's read, then (if asked) a forming pulse for an unformed cell and the RESET burst
    for a formed one, each followed by a read: (G at the start, G now, its read time, time of
    the last pulse (NaN if none), formed). Without `final_read` the read after the last pulse
    is left to the caller's loop (G NaN, formed None: that read decides)."""
    # a formed cell starts near its LRS: most targets lie below it (the first pulse is a RESET)
    g, t_read = verify(bench, cell, p, log, then=-1.0)
    g_start, t_prog = g, math.nan
    if g < p.g_formed_s and p.v_form > 0:
        t_prog = pulse(bench, cell, p.v_form, p.form_width_s, p.vg_set, log, "form_pulse")
        if not final_read and not p.n_reset_first:
            return g_start, math.nan, t_read, t_prog, None
        g, t_read = verify(bench, cell, p, log, then=-1.0)
    formed = g >= p.g_formed_s
    if formed and p.n_reset_first:
        v_reset = p.table_rows()[0][2]
        t_prog = pulse(bench, cell, v_reset, p.width_s, p.vg_reset, log, count=p.n_reset_first)
        if not final_read:
            return g_start, math.nan, t_read, t_prog, None
        g, t_read = verify(bench, cell, p, log, then=1.0)  # from the low start state: SET
    return g_start, g, t_read, t_prog, formed


def _outcome(p: ProgramParams, target_s: float, g_start: float, g: float, n: dict[int, int],
             formed: bool, loop: str, t_prog: float, t_read: float) -> dict[str, Any]:  # fmt: skip
    """One cell's row of the `cells` table (see `program_cell`)."""
    return {
        "target_g_s": target_s, "g_start_s": g_start, "final_g_s": g,
        "iterations": n[1] + n[-1], "n_set": n[1], "n_reset": n[-1],
        "converged": bool(formed and abs(g - target_s) <= p.acceptance * target_s),
        "formed": bool(formed), "algorithm": p.algorithm, "loop": loop, "t_prog_s": t_prog,
        "t_final_s": t_read,
    }  # fmt: skip


def _program_cell_onboard(runner: Onboard, bench: Bench, cell: Cell, target_s: float,
                          p: ProgramParams, log: Run) -> dict[str, Any]:  # fmt: skip
    """`program_cell` with the write-verify loop on the instrument (`reramlab.onboard`): the
    optional forming pulse and RESET burst stay on the host, then one call runs the loop; every
    verify read and pulse it made is logged as if the host had made it, also when the loop
    stopped part-way (`ScriptAborted`, logged, then raised). The loop's first read is the
    cell's read after its preparation (and decides whether a forming pulse formed it)."""
    g_start = t_prog = math.nan
    if p.v_form > 0 or p.n_reset_first:
        g_start, g, t_read, t_prog, formed = _prepare(bench, cell, p, log, final_read=False)
        if formed is False:
            return _outcome(p, target_s, g_start, g, {1: 0, -1: 0}, False, "instrument", t_prog,
                            t_read)  # fmt: skip
    v_set, v_reset = p.amplitudes(target_s)
    ladder = p.algorithm == "igvva"
    try:
        steps = runner.program(
            cell, target_s=target_s, window_s=p.acceptance * target_s, v_set=v_set,
            v_reset=v_reset, width_s=p.width_s, vg_set=p.vg_set, vg_reset=p.vg_reset,
            vg_set_start=p.vg_set_start if ladder else p.vg_set,
            vg_reset_start=p.vg_reset_start if ladder else p.vg_reset,
            vg_step=p.vg_step if ladder else 0.0, cumulative=p.mode == "cumulative",
            v_read=p.v_read, vg_read=p.vg, g_formed_s=p.g_formed_s,
            max_iterations=p.max_iterations,
        )  # fmt: skip
    except ScriptAborted as e:
        _log_steps(e.steps, cell, p, v_set, v_reset, log)
        raise
    n, t_last = _log_steps(steps, cell, p, v_set, v_reset, log)
    first, last = steps[0], steps[-1]
    g_start = first.g_s if math.isnan(g_start) else g_start
    t_prog = t_last if math.isfinite(t_last) else t_prog
    return _outcome(p, target_s, g_start, last.g_s, n, first.g_s >= p.g_formed_s, "instrument",
                    t_prog, last.t_s)  # fmt: skip


def _log_steps(steps: list, cell: Cell, p: ProgramParams, v_set: float, v_reset: float,
               log: Run) -> tuple[dict[int, int], float]:  # fmt: skip
    """Log an on-instrument loop's pulses and reads; (pulses by polarity, time of the last)."""
    n, t_prog = {1: 0, -1: 0}, math.nan
    for step in steps:
        if step.polarity:
            v = v_set if step.polarity > 0 else v_reset
            op = "set_pulse" if step.polarity > 0 else "reset_pulse"
            log.op(cell, op, t_s=step.t_pulse_s, v=v, width_s=p.width_s, vg=step.vg_pulse, n=1)
            n[step.polarity] += 1
            t_prog = step.t_pulse_s
        if math.isfinite(step.t_s):
            log.op(cell, "read", t_s=step.t_s, v=p.v_read, vg=p.vg, i_a=step.g_s * p.v_read,
                   g_s=step.g_s)  # fmt: skip
    return n, t_prog


def time_zero(outcome: dict[str, Any]) -> float:
    """When a programmed cell's clock starts: its last pulse, or (if it got none, having started
    inside its window) its final verify read."""
    t = outcome["t_prog_s"]
    return t if math.isfinite(t) else outcome["t_final_s"]


def done_cells(log: Run, table: str = "cells") -> set[Cell]:
    """Cells already in the run's `table` (resume skips them)."""
    return (
        {(int(r["row"]), int(r["col"])) for r in log.table(table)} if table in log.group else set()
    )


def remaining(cells: Iterable[Cell], done: set[Cell]) -> list[Cell]:
    return [c for c in cells if c not in done]
