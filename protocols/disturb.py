"""Disturb: half-select immunity and fully parallel stochastic row/column updates.

Whether an array can be trained in place: every row and column pulsed at once, only the
coincident cells updated, the half-selected ones left alone ([B] Choi 2025, [E] Gokmen & Vlasov
2016). Three modes (`mode`):

``half-select`` (reference row 8). Per cell, two stages: at Gmin (brought there by `n_prep`
full RESET pulses, then `t_settle_s`) and at Gmax (`n_prep` full SET pulses). At each, from the
bound: `n_full` full pulses away from it (dG(Vs)); back to the bound; then half pulses (v/2,
what a half-selected cell sees in the V/2 scheme, gate on) away from the bound, then towards
it, each train up to `n_half` pulses as instrument-side bursts with a read at log-spaced counts.
Every read is the mean of `n_reads` reads (one list sweep). k = dG(v/2)/dG(v) per pulse: SET at Gmin, RESET at Gmax.
dG(v/2) is taken at the first checkpoint whose change is resolved above the read noise (5
standard errors), so a cell that saturates within the train is not under-rated; if none is,
after all `n_half` pulses (then k is bounded by the read noise). Drift = |G/G0 - 1| after each
train. Tables: `half_select` (one row per checkpoint), `k` (one row per cell and bound).

``parallel`` (row 9). The selection is a block (its rows x its columns). Its cells are first
brought to their symmetry point with `n_center` SET/RESET pulse pairs, then read. x (rows) and
delta (columns) are seeded random vectors in [-1, 1] with a fraction `zero_fraction` of zeros;
`n_updates` stochastic updates of `bit_length` slots follow (see `stochastic.py`), each applied
by the bench in one go: on an array board (one channel per line, `execution=board`) or time-
multiplexed on a two-channel pulse generator and matrices (`multiplexed`); `auto` picks the
board if the station has one. Scheme on the 1T1R array: rows = SL (and the gates of the block's
rows on, at `vg_update`), columns = BL; a crossing sees +-Vs, a half-selected cell Vs/2. Then
the block is read again. Tables: `before`, `updates` (one row per update: bench time, slots,
coincidences), `parallel` (per cell: x, delta, coincidences and half-selects of each polarity,
G before and after). Metrics: Pearson r of dG against x*delta; the drift of the cells that never
saw a coincidence.

``map``. Parallel weight mapping: the first `map_rows` x `map_cols` of the selection are
programmed to a target `pattern` between `g_target_lo_s` and `g_target_hi_s` by closed-loop
rounds of rank-one stochastic updates (the singular terms of target - G, each applied as
outer-product updates, the number of updates from a gain per coincidence fitted on the
measured response); the rest of the selection is read before and after to show what the
updates did to it (cells in the block's rows see half-selects; other rows' gates are off).
Tables: `before`, `map_rounds`, `map` (per selected cell: in_block, target, G before and after).

Every mode logs every pulse burst and read as operations of its cell(s) and resumes: finished
cells (stages), updates or rounds are not repeated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reramlab.bench import Bench, UpdatePhase
from reramlab.errors import ParameterError
from reramlab.log import Run

from . import preform as pre
from .base import Cell, Progress, ProtocolRun, check_limits, param
from .programming import pulse
from .resume import logged_rows
from .schedules import bursts, log_counts
from .stochastic import Counts, random_vectors, rank_one_terms, target_pattern, update_phases

NAME = "disturb"
TITLE = "Disturb: half-select k over 1e5 pulses; parallel stochastic row/column update and mapping"
MODES = ("half-select", "parallel", "map")
EXECUTIONS = ("auto", "board", "multiplexed")
PATTERNS = ("checker", "stripes", "ramp")
#: a half-select change counts as resolved beyond this many standard errors of the reads
RESOLVED_SE = 5.0
#: fraction of a singular term of the mapping error corrected per round (damps the noise)
MAP_STEP = 0.7


@dataclass(frozen=True)
class Params:
    mode: str = param("half-select", "", "half-select | parallel | map")
    v_set: float = param(1.4, "V", "full SET pulse Vs (cell voltage, BL)", lo=0.0, hi=20.0)
    v_reset: float = param(-1.9, "V", "full RESET pulse (negative: |v| on SL)", lo=-20.0, hi=0.0)
    width_s: float = param(2.5e-6, "s", "pulse width (flat top)", lo=1e-9, hi=1.0)
    rise_s: float = param(5e-9, "s", "pulse rise time", lo=1e-9, hi=1e-3)
    fall_s: float = param(5e-9, "s", "pulse fall time", lo=1e-9, hi=1e-3)
    vg_set: float = param(1.2, "V", "gate during single-cell SET pulses", lo=0.0, hi=10.0)
    vg_reset: float = param(3.3, "V", "gate during single-cell RESET pulses", lo=0.0, hi=10.0)
    v_read: float = param(0.2, "V", "DC read voltage", lo=0.01, hi=0.5)
    vg_read: float = param(1.2, "V", "gate during reads", lo=0.0, hi=10.0)
    n_reads: int = param(16, "1", "reads averaged per read point (one list sweep)", lo=1, hi=2500)
    nplc: float = param(1.0, "PLC", "read aperture in power-line cycles", lo=0.01, hi=10.0)
    i_compliance_a: float = param(1e-3, "A", "SMU current limit for reads", lo=1e-7, hi=0.1)
    preform: bool = param(False, "", "form pristine cells first (forming protocol defaults)")
    # -- half-select --
    n_half: int = param(100_000, "1", "half pulses per polarity and bound", lo=1, hi=10**10)
    checkpoints_per_decade: int = param(3, "1", "reads per decade of pulses", lo=1, hi=100)
    n_prep: int = param(1000, "1", "full pulses that bring a cell to Gmin / Gmax", lo=0, hi=10**7)
    n_full: int = param(10, "1", "full pulses that measure dG(Vs)", lo=1, hi=10**6)
    t_settle_s: float = param(1.0, "s", "wait after the Gmin/Gmax preparation", lo=0.0, hi=1e5)
    # -- parallel and map --
    execution: str = param("auto", "", "auto | board | multiplexed (see the module docstring)")
    vg_update: float = param(3.3, "V", "gate of the block's rows during updates", lo=0.0, hi=10.0)
    bit_length: int = param(10, "1", "slots per update (stochastic bit length BL)", lo=1, hi=4096)
    n_updates: int = param(4, "1", "stochastic updates (parallel mode)", lo=1, hi=10**5)
    p_max: float = param(1.0, "1", "pulse probability of a line with |x| = 1", lo=0.0, hi=1.0)
    zero_fraction: float = param(0.25, "1", "fraction of rows and of columns with x, delta = 0",
                                 lo=0.0, hi=1.0)  # fmt: skip
    seed: int = param(0, "1", "seed of x, delta and the bit streams", lo=0, hi=2**32 - 1)
    n_center: int = param(1000, "1", "SET/RESET pulse pairs that bring the block's cells to "
                          "their symmetry point first (0: none)", lo=0, hi=10**7)  # fmt: skip
    map_rows: int = param(4, "1", "rows of the mapped block (first of the selection; 0 = all)",
                          lo=0, hi=4096)  # fmt: skip
    map_cols: int = param(4, "1", "columns of the mapped block (0 = all)", lo=0, hi=4096)
    pattern: str = param("checker", "", "target map: checker | stripes | ramp")
    g_target_lo_s: float = param(30e-6, "S", "low target conductance", lo=1e-7, hi=1e-2)
    g_target_hi_s: float = param(60e-6, "S", "high target conductance", lo=1e-7, hi=1e-2)
    n_rounds: int = param(10, "1", "closed-loop mapping rounds at most", lo=1, hi=1000)
    tolerance: float = param(0.05, "1", "stop mapping at rms error / (hi - lo) below this",
                             lo=0.0, hi=1.0)  # fmt: skip
    updates_per_term_max: int = param(20, "1", "updates per singular term and round at most",
                                      lo=1, hi=10**4)  # fmt: skip

    def __post_init__(self) -> None:
        for name, allowed in (("mode", MODES), ("execution", EXECUTIONS), ("pattern", PATTERNS)):
            if getattr(self, name) not in allowed:
                raise ParameterError(
                    f"{name} = {getattr(self, name)!r}: expected one of {', '.join(allowed)}"
                )
        if self.v_set <= 0 or self.v_reset >= 0:
            raise ParameterError(
                f"v_set = {self.v_set} V must be > 0 and v_reset = {self.v_reset} V < 0"
            )
        if self.g_target_hi_s <= self.g_target_lo_s:
            raise ParameterError(
                f"g_target_hi_s = {self.g_target_hi_s} S must exceed g_target_lo_s"
            )

    def full(self, polarity: int) -> tuple[float, float]:
        """(amplitude, gate) of a full pulse of `polarity` (+1 SET, -1 RESET)."""
        return (self.v_set, self.vg_set) if polarity > 0 else (self.v_reset, self.vg_reset)


def execution_of(params: Params, bench: Bench) -> str:
    """'board' or 'multiplexed' for this station (`auto`: the board if there is one)."""
    if params.execution == "auto":
        return "board" if bench.array_pulser is not None else "multiplexed"
    return params.execution


def check(params: Params, bench: Bench) -> None:
    """Refuse before the first command anything beyond the station limits."""
    check_limits(params, bench, bl=("v_set", "v_read"), sl=("v_reset",),
                 wl=("vg_set", "vg_reset", "vg_read", "vg_update"), widths=("width_s",))  # fmt: skip
    needs_pulses = params.mode == "half-select" or params.n_center > 0
    if needs_pulses and (bench.pulse_bl is None or bench.pulse_sl is None):
        raise ParameterError(
            f"disturb {params.mode} needs a station with pulse_bl and pulse_sl channels"
        )
    if params.mode != "half-select":
        bench.check_count(params.bit_length, "bit_length (slots per update phase)")
        execution = execution_of(params, bench)
        if execution == "board" and bench.array_pulser is None:
            raise ParameterError(
                "execution = board: the station has no array board on every line kind "
                "(wiring.lines.*.board); use execution = multiplexed"
            )
        if execution == "multiplexed":
            bench.check_multiplexed()
    pre.check(params.preform, bench)


def run(bench: Bench, cells: list[Cell], params: Params, log: Run) -> ProtocolRun:
    yield from pre.preform(bench, cells, params.preform, log)
    bench.prepare_dc(i_compliance_a=params.i_compliance_a, nplc=params.nplc)
    modes = {"half-select": _half_select, "parallel": _parallel, "map": _map}
    yield from modes[params.mode](bench, cells, params, log)


# -- shared steps -------------------------------------------------------------------------------
def read_mean(bench: Bench, cell: Cell, p: Params, log: Run) -> tuple[float, float]:
    """Mean conductance of `n_reads` reads (one list sweep) and its standard error, in S;
    logged as one read operation standing for `n_reads`."""
    g = bench.sweep(cell, [p.v_read] * p.n_reads, p.vg_read) / p.v_read
    mean = float(g.mean())
    se = float(g.std(ddof=1) / math.sqrt(len(g))) if len(g) > 1 else math.nan
    log.op(cell, "read", t_s=bench.now_s(), v=p.v_read, vg=p.vg_read, g_s=mean, n=p.n_reads)
    return mean, se


def pulses(bench: Bench, cell: Cell, v: float, vg: float, count: int, p: Params, log: Run,
           op: str = "") -> None:  # fmt: skip
    """`count` identical pulses as bursts within the station's per-call limit, logged."""
    for n in bursts(count, bench.limits.pulses_per_call_max):
        pulse(bench, cell, v, p.width_s, vg, log, op, count=n)


def block_of(cells: list[Cell]) -> tuple[list[int], list[int]]:
    """The rows and columns of a rectangular selection; refuses anything else."""
    rows, cols = sorted({r for r, _ in cells}), sorted({c for _, c in cells})
    if len(cells) != len(rows) * len(cols):
        raise ParameterError("the parallel modes need a rectangular selection (ROWS,COLS)")
    return rows, cols


def center(bench: Bench, cells: list[Cell], p: Params, log: Run) -> ProtocolRun:
    """`n_center` SET/RESET pulse pairs per cell (gate `vg_update`, as in the updates): each
    cell settles where a SET and a RESET step balance, so that updates of either sign act."""
    for k, cell in enumerate(cells):
        for n in bursts(p.n_center, bench.limits.pulses_per_call_max):
            bench.pulse_pairs(cell, p.v_set, p.v_reset, p.width_s, p.vg_update, count=n,
                              rise_s=p.rise_s, fall_s=p.fall_s)  # fmt: skip
            log.op(cell, "pulse_pairs", t_s=bench.now_s(), v=p.v_set, width_s=p.width_s,
                   vg=p.vg_update, n=n)  # fmt: skip
        log.flush()
        yield Progress(k + 1, len(cells), f"cell {cell} centred")


def read_before(bench: Bench, cells: list[Cell], p: Params, log: Run) -> dict[Cell, float]:
    """G of every cell before the updates (table `before`), read once and reused on resume."""
    done = {cell: float(r["g_s"][-1]) for cell, r in logged_rows(log, "before").items()}
    for cell in cells:
        if cell not in done:
            done[cell], se = read_mean(bench, cell, p, log)
            log.row("before", row=cell[0], col=cell[1], g_s=done[cell], g_se_s=se)
    log.flush()
    return done


def apply_update(bench: Bench, rows: list[int], cols: list[int], phases: list[UpdatePhase],
                 p: Params, execution: str) -> None:  # fmt: skip
    """One update of the block on the board or time-multiplexed (see reramlab.parallel_update)."""
    kwargs = dict(width_s=p.width_s, vg=p.vg_update, rise_s=p.rise_s, fall_s=p.fall_s)
    if execution == "board":
        bench.parallel_update(rows, cols, phases, **kwargs)
    else:
        bench.parallel_update_multiplexed(rows, cols, phases, **kwargs)


def log_update(log: Run, bench: Bench, rows: list[int], cols: list[int], coinc: np.ndarray,
               p: Params) -> None:  # fmt: skip
    """One operation per block cell: the update, with the coincidences it held for the cell."""
    t = bench.now_s()
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            log.op((r, c), "par_update", t_s=t, v=p.v_set, width_s=p.width_s, vg=p.vg_update,
                   n=int(coinc[i, j]))  # fmt: skip


# -- half-select --------------------------------------------------------------------------------
#: bound, polarity that prepares it, half-train polarities (away from the bound first), full
STAGES = (("gmin", -1, (1, -1), 1), ("gmax", 1, (-1, 1), -1))


def _half_select(bench: Bench, cells: list[Cell], p: Params, log: Run) -> ProtocolRun:
    done = {(int(r["row"]), int(r["col"]), r["bound"].decode()) for r in log.table("k")}
    todo = [(cell, st) for st in STAGES for cell in cells if (*cell, st[0]) not in done]
    for k, (cell, (bound, prep, halves, full)) in enumerate(todo):
        g, se = _prepare(bench, cell, bound, prep, p, log)
        full_train = _train(bench, cell, bound, full, p.n_full, 1.0, g, se, p, log)
        dg_full = (full_train[-1][1] - g) / p.n_full
        g, se = _prepare(bench, cell, bound, prep, p, log)
        trains = {}
        for polarity in halves:
            trains[polarity] = _train(bench, cell, bound, polarity, p.n_half, 0.5, g, se, p, log)
            g, se = trains[polarity][-1][1:]
        n_k, dg_half = _resolved(trains[full])
        k_cell = dg_half / dg_full if dg_full else math.nan
        drift = {pol: abs(t[-1][1] / t[0][1] - 1) for pol, t in trains.items()}
        log.row("k", row=cell[0], col=cell[1], bound=bound, polarity="set" if full > 0 else "reset",
                g0_s=trains[halves[0]][0][1], dg_full_s=dg_full, dg_half_s=dg_half, n_k=n_k,
                k=k_cell, drift_set=drift[1], drift_reset=drift[-1], drift_max=max(drift.values()),
                n_half=p.n_half)  # fmt: skip
        log.flush()
        yield Progress(k + 1, len(todo), f"cell {cell} at {bound}: k = {k_cell:.2g}, "
                                         f"drift {max(drift.values()):.2%}")  # fmt: skip


def _prepare(bench: Bench, cell: Cell, bound: str, polarity: int, p: Params,
             log: Run) -> tuple[float, float]:  # fmt: skip
    """`n_prep` full pulses of `polarity` (to the bound), `t_settle_s`, a read: (G, its error)."""
    v, vg = p.full(polarity)
    pulses(bench, cell, v, vg, p.n_prep, p, log)
    bench.wait(p.t_settle_s)
    g, se = read_mean(bench, cell, p, log)
    _checkpoint(log, cell, bound, "start", 0, g, se, bench)
    return g, se


def _train(bench: Bench, cell: Cell, bound: str, polarity: int, n_max: int, fraction: float,
           g0: float, se0: float, p: Params, log: Run) -> list[tuple[int, float, float]]:  # fmt: skip
    """Pulses of `fraction` x the full amplitude of `polarity`, read at log-spaced counts up to
    `n_max`: [(count, G, standard error)], starting with (0, g0, se0)."""
    v_full, vg = p.full(polarity)
    kind = "half" if fraction < 1 else "full"
    op = f"{kind}_{'set' if polarity > 0 else 'reset'}"
    points, applied = [(0, g0, se0)], 0
    for target in log_counts(n_max, p.checkpoints_per_decade):
        pulses(bench, cell, fraction * v_full, vg, target - applied, p, log, op)
        applied = target
        g, se = read_mean(bench, cell, p, log)
        points.append((applied, g, se))
        _checkpoint(log, cell, bound, op, applied, g, se, bench)
    log.flush()
    return points


def _checkpoint(log: Run, cell: Cell, bound: str, train: str, n: int, g: float, se: float,
                bench: Bench) -> None:  # fmt: skip
    log.row("half_select", row=cell[0], col=cell[1], bound=bound, train=train, n=n, g_s=g,
            g_se_s=se, t_s=bench.now_s())  # fmt: skip


def _resolved(points: list[tuple[int, float, float]]) -> tuple[int, float]:
    """(count, per-pulse change) at the first checkpoint whose change exceeds RESOLVED_SE
    standard errors, else at the last one."""
    _, g0, se0 = points[0]
    for n, g, se in points[1:]:
        noise = math.hypot(se, se0) if math.isfinite(se) and math.isfinite(se0) else 0.0
        if abs(g - g0) > RESOLVED_SE * noise:
            return n, (g - g0) / n
    n, g, _ = points[-1]
    return n, (g - g0) / n


# -- parallel stochastic update -----------------------------------------------------------------
def _parallel(bench: Bench, cells: list[Cell], p: Params, log: Run) -> ProtocolRun:
    rows, cols = block_of(cells)
    execution = execution_of(p, bench)
    if not len(log.table("before")):
        yield from center(bench, cells if p.n_center else [], p, log)
    before = read_before(bench, cells, p, log)
    x, delta = random_vectors(len(rows), len(cols), p.zero_fraction, p.seed)
    counts = Counts.zeros(len(rows), len(cols))
    applied = len(log.table("updates"))
    for u in range(p.n_updates):
        rng = np.random.default_rng([p.seed, 1, u])
        phases = update_phases(x, delta, bit_length=p.bit_length, p_max=p.p_max,
                               v_set=p.v_set, v_reset=p.v_reset, rng=rng)  # fmt: skip
        coinc = counts.add(phases)
        if u < applied:
            continue
        t0 = bench.now_s()
        apply_update(bench, rows, cols, phases, p, execution)
        log_update(log, bench, rows, cols, coinc, p)
        log.row("updates", update=u, execution=execution, phases=len(phases),
                slots=sum(ph.slots for ph in phases), coincidences=int(coinc.sum()),
                t_s=bench.now_s(), bench_dt_s=bench.now_s() - t0)  # fmt: skip
        log.flush()
        yield Progress(u + 1, p.n_updates, f"update {u + 1}: {int(coinc.sum())} coincidences")
    finished = logged_rows(log, "parallel")
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            if (r, c) in finished:
                continue
            g, se = read_mean(bench, (r, c), p, log)
            log.row("parallel", row=r, col=c, x=x[i], delta=delta[j], n_set=counts.set[i, j],
                    n_reset=counts.reset[i, j], n_half_set=counts.half_set[i, j],
                    n_half_reset=counts.half_reset[i, j], g_before_s=before[(r, c)], g_s=g,
                    g_se_s=se)  # fmt: skip
        log.flush()
        yield Progress(i + 1, len(rows), f"row {r} read")


# -- parallel weight mapping --------------------------------------------------------------------
def _map(bench: Bench, cells: list[Cell], p: Params, log: Run) -> ProtocolRun:
    rows, cols = block_of(cells)
    rows, cols = rows[: p.map_rows or len(rows)], cols[: p.map_cols or len(cols)]
    block = [(r, c) for r in rows for c in cols]
    execution = execution_of(p, bench)
    if not len(log.table("before")):
        yield from center(bench, block if p.n_center else [], p, log)
    before = read_before(bench, cells, p, log)
    target = target_pattern(p.pattern, len(rows), len(cols), p.g_target_lo_s, p.g_target_hi_s)
    span = p.g_target_hi_s - p.g_target_lo_s
    logged = log.table("map_rounds")
    gain = float(logged["gain_s"][-1]) if len(logged) else math.nan
    g = _read_block(bench, rows, cols, p, log)
    for k in range(len(logged), p.n_rounds):
        error = target - g
        rms = float(np.sqrt(np.mean(error**2)))
        if rms <= p.tolerance * span:
            break
        counts, n_updates = Counts.zeros(len(rows), len(cols)), 0
        for t, (x, delta, amplitude) in enumerate(rank_one_terms(error, 0.2)):
            n, scale = _updates_for(MAP_STEP * amplitude, p.bit_length * p.p_max**2 * gain,
                                    p.updates_per_term_max)  # fmt: skip
            for u in range(n):
                rng = np.random.default_rng([p.seed, 2, k, t, u])
                phases = update_phases(scale * x, scale * delta, bit_length=p.bit_length,
                                       p_max=p.p_max, v_set=p.v_set, v_reset=p.v_reset,
                                       rng=rng)  # fmt: skip
                coinc = counts.add(phases)
                apply_update(bench, rows, cols, phases, p, execution)
                log_update(log, bench, rows, cols, coinc, p)
                n_updates += 1
        g_new = _read_block(bench, rows, cols, p, log)
        net = counts.net
        fitted = float(np.sum((g_new - g) * net) / np.sum(net**2)) if np.any(net) else math.nan
        if fitted > 0:
            gain = fitted if math.isnan(gain) else math.sqrt(gain * fitted)
        log.row("map_rounds", round=k, rms_error_s=rms, max_error_s=float(np.abs(error).max()),
                updates=n_updates, gain_s=gain, t_s=bench.now_s())  # fmt: skip
        log.flush()
        g = g_new
        yield Progress(k + 1, p.n_rounds, f"round {k + 1}: rms error {rms * 1e6:.2f} uS")
    in_block, finished = set(block), logged_rows(log, "map")
    targets = dict(zip(block, target.ravel().tolist(), strict=True))
    for cell in (c for c in cells if c not in finished):
        g_after, se = read_mean(bench, cell, p, log)
        log.row("map", row=cell[0], col=cell[1], in_block=cell in in_block,
                target_s=targets.get(cell, math.nan), g_before_s=before[cell], g_s=g_after,
                g_se_s=se)  # fmt: skip
    log.flush()
    yield Progress(len(cells), len(cells), "mapped block and the rest read")


def _updates_for(wanted_s: float, per_update_s: float, n_max: int) -> tuple[int, float]:
    """(updates, scale of x and delta) whose expected change is `wanted_s` at `per_update_s`
    per full-probability update: pulse probabilities scale with scale^2. Without a gain yet,
    one probing update at half the probabilities."""
    if not per_update_s > 0:
        return 1, math.sqrt(0.5)
    n = min(max(math.ceil(wanted_s / per_update_s), 1), n_max)
    return n, min(1.0, math.sqrt(wanted_s / (n * per_update_s)))


def _read_block(bench: Bench, rows: list[int], cols: list[int], p: Params, log: Run) -> np.ndarray:
    g = np.array([[read_mean(bench, (r, c), p, log)[0] for c in cols] for r in rows])
    log.flush()
    return g
