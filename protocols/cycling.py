"""Cycling: quasi-static bipolar I-V sweeps, SET and RESET halves, reads after each half.

Per cell, `n_cycles` cycles after one initial RESET half (cycle 0, which brings a freshly formed
or programmed cell to HRS so that cycle 1 starts with a real SET):

- SET half: BL 0 -> `v_set_max` -> 0 in `v_step` steps with SL at 0 and the gate at `vg_set`
  (in a 1T1R cell the gate sets the SET compliance), one instrument-side list sweep;
- read at `v_read` (gate `vg_read`): G_LRS;
- RESET half: SL 0 -> |`v_reset_max`| -> 0 with BL at 0 and the gate at `vg_reset` (higher: in
  RESET the transistor's source is the internal node, so a low gate would starve the cell);
- read: G_HRS. ON/OFF = G_LRS / G_HRS.

Switching voltages (`switching_voltage`): on the outgoing branch of a half (0 -> extreme), the
chord conductance |I / V| is taken from its value at |V| = `v_read` (where G_HRS/G_LRS are
defined) to its extreme on that branch (max for SET, min for RESET); V_SET / V_RESET is the
first voltage at which it has moved half-way (linear in G), which is insensitive to the I-V
nonlinearity, to noise at tiny currents and to how abrupt or gradual the device switches. A
half whose chord conductance changes by less than `g_ratio_switch` did not switch: NaN.

Logged: every sweep point (op "sweep", signed V and I, width = dwell), every read, and one row
per cycle in the table `cycles`. Resume continues each cell after its last logged cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reramlab.bench import Bench
from reramlab.errors import ParameterError
from reramlab.log import Run

from . import preform as pre
from .base import Cell, Progress, ProtocolRun, check_limits, param
from .resume import logged_rows

NAME = "cycling"
TITLE = "Cycling: quasi-static bipolar I-V sweeps, V_SET/V_RESET, LRS/HRS reads per cycle"


@dataclass(frozen=True)
class Params:
    n_cycles: int = param(10, "1", "SET/RESET cycles per cell (after the initial RESET half)",
                          lo=1, hi=100_000)  # fmt: skip
    v_set_max: float = param(1.3, "V", "SET half: BL sweep 0 -> v_set_max -> 0", lo=0.05, hi=20.0)
    v_reset_max: float = param(-1.5, "V", "RESET half: sweep to this negative cell voltage "
                               "(|v| on SL) and back", lo=-20.0, hi=-0.05)  # fmt: skip
    v_step: float = param(0.01, "V", "sweep step", lo=1e-3, hi=0.5)
    dwell_s: float = param(10e-3, "s", "dwell per sweep step (source delay)", lo=0.0, hi=10.0)
    vg_set: float = param(1.2, "V", "gate during the SET half (sets the compliance)", lo=0.0,
                          hi=10.0)  # fmt: skip
    vg_reset: float = param(3.3, "V", "gate during the RESET half", lo=0.0, hi=10.0)
    v_read: float = param(0.2, "V", "read voltage after each half", lo=0.01, hi=0.5)
    vg_read: float = param(1.2, "V", "gate during reads", lo=0.0, hi=10.0)
    i_compliance_a: float = param(1e-3, "A", "SMU current limit (backup to the gate)", lo=1e-7,
                                  hi=0.1)  # fmt: skip
    nplc: float = param(0.1, "PLC", "measurement aperture in power-line cycles", lo=0.01, hi=10.0)
    g_ratio_switch: float = param(2.0, "1", "chord-conductance change across a half that counts "
                                  "as switching", lo=1.0, hi=1e6)  # fmt: skip
    preform: bool = param(False, "", "form pristine cells first (forming protocol defaults)")

    def __post_init__(self) -> None:
        for name in ("v_set_max", "v_reset_max"):
            if abs(getattr(self, name)) < 2 * self.v_step:
                raise ParameterError(
                    f"{name} must span at least two steps of v_step = {self.v_step} V"
                )

    def half(self, v_max: float) -> np.ndarray:
        """Signed levels of one half: v_step, ..., v_max, ..., v_step (sign of v_max; the bench
        returns the source to 0 V after each list sweep)."""
        n = int(np.floor(abs(v_max) / self.v_step + 1e-9))
        out = np.r_[self.v_step * np.arange(1, n + 1), abs(v_max)]
        out = np.unique(np.round(out, 9))
        return math.copysign(1.0, v_max) * np.r_[out, out[-2::-1]]


def check(params: Params, bench: Bench) -> None:
    """Refuse before the first command anything beyond the station limits."""
    check_limits(params, bench, bl=("v_set_max", "v_read"), sl=("v_reset_max",),
                 wl=("vg_set", "vg_reset", "vg_read"))  # fmt: skip
    pre.check(params.preform, bench)


def switching_voltage(v: np.ndarray, i: np.ndarray, v_from: float, ratio_min: float) -> float:
    """Half-way crossing of the chord conductance on the outgoing branch of one half (see the
    module docstring); NaN if the half did not switch by `ratio_min`."""
    av = np.abs(v)
    out = slice(0, int(np.argmax(av)) + 1)
    start = int(np.searchsorted(av[out], v_from - 1e-9)) if av[out][-1] >= v_from else 0
    sv = v[out][start:]
    g = np.abs(i[out][start:]) / np.maximum(np.abs(sv), 1e-12)
    if len(g) < 2 or not np.all(np.isfinite(g)) or g[0] <= 0:
        return math.nan
    rising = bool(sv[-1] > 0)  # SET polarity raises G, RESET polarity lowers it
    extreme = g.max() if rising else g.min()
    if (extreme / g[0] if rising else g[0] / max(extreme, 1e-15)) < ratio_min:
        return math.nan
    half = 0.5 * (g[0] + extreme)
    return float(sv[int(np.argmax(g >= half if rising else g <= half))])


#: the `cycles` table, in column order (cycle 0 is the initial RESET half: no SET columns)
COLUMNS = ("row", "col", "cycle", "v_set", "v_reset", "g_lrs_s", "g_hrs_s", "on_off",
           "i_set_max_a", "i_reset_max_a", "t_s")  # fmt: skip


def run(bench: Bench, cells: list[Cell], params: Params, log: Run) -> ProtocolRun:
    logged = logged_rows(log, "cycles")
    todo = [c for c in cells if len(logged.get(c, ())) < params.n_cycles + 1]
    yield from pre.preform(bench, todo, params.preform, log)
    bench.prepare_dc(i_compliance_a=params.i_compliance_a, nplc=params.nplc)
    for k, cell in enumerate(todo):
        for cycle in range(len(logged.get(cell, ())), params.n_cycles + 1):
            row = {"row": cell[0], "col": cell[1], "cycle": cycle}
            if cycle > 0:
                row |= _switch(bench, cell, params.v_set_max, params.vg_set, params, log, "set")
                row["g_lrs_s"] = _read(bench, cell, params, log)
            row |= _switch(bench, cell, params.v_reset_max, params.vg_reset, params, log, "reset")
            row["g_hrs_s"] = _read(bench, cell, params, log)
            g_lrs, g_hrs = row.get("g_lrs_s", math.nan), row["g_hrs_s"]
            row["on_off"] = g_lrs / g_hrs if g_hrs > 0 else math.nan
            log.row("cycles", **{key: row.get(key, math.nan) for key in COLUMNS[:-1]},
                    t_s=bench.now_s())  # fmt: skip
            log.flush()
        yield Progress(k + 1, len(todo), f"cell {cell}: {params.n_cycles} cycles")


def _switch(bench: Bench, cell: Cell, v_max: float, vg: float, params: Params, log: Run,
            name: str) -> dict[str, float]:  # fmt: skip
    """One half sweep: its switching voltage and peak current, as `v_<name>`, `i_<name>_max_a`."""
    levels = params.half(v_max)
    i = _half(bench, cell, levels, vg, params, log)
    return {f"v_{name}": switching_voltage(levels, i, params.v_read, params.g_ratio_switch),
            f"i_{name}_max_a": float(np.abs(i).max())}  # fmt: skip


def _half(bench: Bench, cell: Cell, levels: np.ndarray, vg: float, params: Params,
          log: Run) -> np.ndarray:  # fmt: skip
    """One list sweep; its points are logged with times spread over the sweep's duration."""
    t0 = bench.now_s()
    i = bench.sweep(cell, levels, vg, delay_s=params.dwell_s)
    t = np.linspace(t0, bench.now_s(), len(levels) + 1)[1:]
    g = np.divide(i, levels, out=np.full_like(i, np.nan), where=levels != 0)
    log.ops(cell, [(float(t[n]), "sweep", float(levels[n]), params.dwell_s, vg, float(i[n]),
                    float(g[n]), 1) for n in range(len(levels))])  # fmt: skip
    return i


def _read(bench: Bench, cell: Cell, params: Params, log: Run) -> float:
    i, g = bench.read(cell, params.v_read, params.vg_read)
    log.op(cell, "read", t_s=bench.now_s(), v=params.v_read, vg=params.vg_read, i_a=i, g_s=g)
    return float(g)
