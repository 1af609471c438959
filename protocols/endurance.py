"""Endurance: 60 ns SET/RESET pulse pairs in instrument-side bursts, window read at log-spaced counts.

Per cell, checkpoints at 0 and at log-spaced pair counts up to `n_cycles`
(`checkpoints_per_decade`). Between checkpoints the pairs run as one burst per call
(`bench.pulse_pairs(count=...)`, split only at the station's pulses_per_call_max), so a 1e6-pair
run costs a few dozen bus round trips per cell. A current read inside a 60 ns pulse is
impossible on HRS ranges, and one 60 ns pulse moves an analog cell by about its own
cycle-to-cycle noise, so each checkpoint reads both states after probe bursts:

1. `n_probe` SET pulses (same amplitude and width, gate `vg_set`), DC read at `v_read`: G_LRS;
2. `n_probe` RESET pulses (gate `vg_reset`), DC read: G_HRS.

Checkpoint 0 is preceded by one RESET probe burst, so that it starts from the same state as every
later one (the end of a RESET probe and a pair burst), not from the post-forming state.
Window = G_LRS - G_HRS; retained = window / window at checkpoint 0. A cell stops early when
its retained window falls below `stop_retained` (0 never stops). The pair bursts hold the gate
at `vg` (one DC gate for both pulses, so it must be high enough for the RESET pulse on SL).

Logged: each burst as one operation (op "pulse_pairs" / "set_pulse" / "reset_pulse", n = count),
each read, one row per checkpoint in `window`, and one row per finished cell in `cells`
(`pulses` = pairs applied, probe pulses not counted). Resume continues an unfinished cell after
its last logged checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reramlab.bench import Bench
from reramlab.errors import ParameterError
from reramlab.log import Run

from . import preform as pre
from .base import Cell, Progress, ProtocolRun, check_limits, param
from .resume import logged_rows
from .schedules import bursts, log_counts

NAME = "endurance"
TITLE = "Endurance: SET/RESET pulse-pair bursts, LRS/HRS window at log-spaced cycle counts"


@dataclass(frozen=True)
class Params:
    n_cycles: int = param(1_000_000, "1", "SET/RESET pulse pairs per cell", lo=1, hi=10**12)
    v_set: float = param(1.6, "V", "SET pulse amplitude (BL, SL at 0)", lo=0.0, hi=20.0)
    v_reset: float = param(-2.3, "V", "RESET pulse amplitude (negative: |v| on SL, BL at 0)",
                           lo=-20.0, hi=0.0)  # fmt: skip
    width_s: float = param(60e-9, "s", "pulse width (flat top)", lo=1e-9, hi=1.0)
    rise_s: float = param(5e-9, "s", "pulse rise time", lo=1e-9, hi=1e-3)
    fall_s: float = param(5e-9, "s", "pulse fall time", lo=1e-9, hi=1e-3)
    vg: float = param(3.3, "V", "gate during pair bursts (must let the RESET pulse through)",
                      lo=0.0, hi=10.0)  # fmt: skip
    n_probe: int = param(200, "1", "SET (then RESET) pulses before each LRS (HRS) read", lo=1,
                         hi=10**9)  # fmt: skip
    vg_set: float = param(1.2, "V", "gate during SET probe pulses (sets the compliance)", lo=0.0,
                          hi=10.0)  # fmt: skip
    vg_reset: float = param(3.3, "V", "gate during RESET probe pulses", lo=0.0, hi=10.0)
    checkpoints_per_decade: float = param(3.0, "1", "window checkpoints per decade of cycles "
                                          "(0.5: every second decade)", lo=0.1, hi=100.0)  # fmt: skip
    stop_retained: float = param(0.1, "1", "stop a cell when window / initial window falls "
                                 "below this (0: never)", lo=0.0, hi=1.0)  # fmt: skip
    v_read: float = param(0.2, "V", "DC read voltage", lo=0.01, hi=0.5)
    vg_read: float = param(1.2, "V", "gate during reads", lo=0.0, hi=10.0)
    i_compliance_a: float = param(1e-3, "A", "SMU current limit for reads", lo=1e-7, hi=0.1)
    nplc: float = param(0.1, "PLC", "read aperture in power-line cycles", lo=0.01, hi=10.0)
    preform: bool = param(False, "", "form pristine cells first (forming protocol defaults)")

    def __post_init__(self) -> None:
        if self.v_set <= 0 or self.v_reset >= 0:
            raise ParameterError(
                f"v_set = {self.v_set} V must be > 0 and v_reset = {self.v_reset} V < 0"
            )

    def closed(self, retained: float) -> bool:
        """Whether a retained window (NaN: no initial window to compare with) ends the cell."""
        return self.stop_retained > 0 and not retained >= self.stop_retained

    def checkpoints(self) -> list[int]:
        return [0, *log_counts(self.n_cycles, self.checkpoints_per_decade)]


def check(params: Params, bench: Bench) -> None:
    """Refuse before the first command anything beyond the station limits."""
    check_limits(params, bench, bl=("v_set", "v_read"), sl=("v_reset",),
                 wl=("vg", "vg_set", "vg_reset", "vg_read"), widths=("width_s",),
                 counts=("n_probe",))  # fmt: skip
    if bench.pulse_bl is None or bench.pulse_sl is None:
        raise ParameterError("endurance needs a station with pulse_bl and pulse_sl channels")
    pre.check(params.preform, bench)


def run(bench: Bench, cells: list[Cell], params: Params, log: Run) -> ProtocolRun:
    finished = logged_rows(log, "cells")
    checkpoints = logged_rows(log, "window")
    todo = [c for c in cells if c not in finished]
    yield from pre.preform(bench, todo, params.preform, log)
    bench.prepare_dc(i_compliance_a=params.i_compliance_a, nplc=params.nplc)
    for k, cell in enumerate(todo):
        done = checkpoints.get(cell, ())
        window0 = float(done[0]["window_s"]) if len(done) else math.nan
        applied = int(done[-1]["cycles"]) if len(done) else 0
        retained = float(done[-1]["retained"]) if len(done) else math.nan
        if not len(done):  # start checkpoint 0 where every later one starts: after a RESET probe
            _burst(bench, cell, "reset_pulse", params.v_reset, params.vg_reset, params, log)
        stopped = applied > 0 and params.closed(retained)  # resumed after a stop
        for target in [] if stopped else params.checkpoints()[len(done) :]:
            _pairs(bench, cell, target - applied, params, log)
            applied = target
            g_lrs, g_hrs = _probe(bench, cell, params, log)
            window0 = g_lrs - g_hrs if target == 0 else window0
            retained = (g_lrs - g_hrs) / window0 if window0 > 0 else math.nan
            log.row("window", row=cell[0], col=cell[1], cycles=applied, g_lrs_s=g_lrs,
                    g_hrs_s=g_hrs, window_s=g_lrs - g_hrs, retained=retained,
                    t_s=bench.now_s())  # fmt: skip
            log.flush()
            if target > 0 and params.closed(retained):
                stopped = True
                break
        log.row("cells", row=cell[0], col=cell[1], pulses=applied, window0_s=window0,
                window_retained=retained, stopped_early=stopped)  # fmt: skip
        log.flush()
        yield Progress(k + 1, len(todo), f"cell {cell}: {applied:.3g} pairs, "
                                         f"window retained {retained:.2f}")  # fmt: skip


def _pairs(bench: Bench, cell: Cell, count: int, params: Params, log: Run) -> None:
    for n in bursts(count, bench.limits.pulses_per_call_max):
        bench.pulse_pairs(cell, params.v_set, params.v_reset, params.width_s, params.vg,
                          count=n, rise_s=params.rise_s, fall_s=params.fall_s)  # fmt: skip
        log.op(cell, "pulse_pairs", t_s=bench.now_s(), v=params.v_set, width_s=params.width_s,
               vg=params.vg, n=n)  # fmt: skip


def _probe(bench: Bench, cell: Cell, params: Params, log: Run) -> tuple[float, float]:
    """A SET burst and a read, then a RESET burst and a read: (G_LRS, G_HRS) in S."""
    g = []
    # each read says what follows it (`Bench.read`'s `then`, `then_vg`): the RESET probe after
    # the LRS read, the next pair burst (or the next cell) after the HRS read
    for op, v, vg, then, then_vg in (
        ("set_pulse", params.v_set, params.vg_set, params.v_reset, params.vg_reset),
        ("reset_pulse", params.v_reset, params.vg_reset, params.v_set, params.vg),
    ):
        _burst(bench, cell, op, v, vg, params, log)
        i, gi = bench.read(cell, params.v_read, params.vg_read, then=then, then_vg=then_vg)
        log.op(cell, "read", t_s=bench.now_s(), v=params.v_read, vg=params.vg_read, i_a=i, g_s=gi)
        g.append(float(gi))
    return g[0], g[1]


def _burst(bench: Bench, cell: Cell, op: str, v: float, vg: float, params: Params,
           log: Run) -> None:  # fmt: skip
    """`n_probe` identical pulses of amplitude `v` in one burst."""
    bench.pulse(cell, v, params.width_s, vg, count=params.n_probe, rise_s=params.rise_s,
                fall_s=params.fall_s)  # fmt: skip
    log.op(cell, op, t_s=bench.now_s(), v=v, width_s=params.width_s, vg=vg, n=params.n_probe)
