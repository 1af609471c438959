"""Array-model throughput: cell-pulse updates per second for full-array pulses.

Every call is one pulse (count=1) on every cell of the array, alternating SET (+1.35 V on all
BLs, VG 1.2 V) and RESET (1.3 V on all SLs, VG 3.3 V), so every cell is integrated pulse by
pulse: forming check, rate lookup, soft-bounds step, c2c noise, wear and relaxation bookkeeping.
Bursts (count > 1) use the closed form and are far faster per pulse; that figure goes in the note.
Measures only; asserts nothing.

Single pulses run CmoCells.pulse: blocks of cells small enough for the temporaries to stay in
cache, the dose from per-bias tables of node doses (no per-cell exp), q = 1 - exp(-A) from its
series, and the noisy step as one fused expression. It agrees with the reference arithmetic
(_step_det + c2c_sigma) to float32 rounding: tests/model/test_model_fast_pulse.py.
The figure is load-sensitive: this machine's two vCPUs give about one core of throughput, and
other jobs running at the same time can slow it by up to 2x; compare before/after in one run.
"""

from __future__ import annotations

import json
import time

import numpy as np

from reramlab.sim_backend.array_model import ArrayModel


def _pulse_lines(n: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if k % 2:
        return np.full(n, 1.35), np.zeros(n), np.full(n, 1.2)
    return np.zeros(n), np.full(n, 1.3), np.full(n, 3.3)


def _cell_updates_per_s(n: int, n_pulses: int) -> tuple[float, float]:
    """(single-pulse rate, burst rate) on an n x n array, median over repetitions."""
    m = ArrayModel("cmo-hfox-130nm", n, n, seed=0)
    m.program(np.ones((n, n), dtype=bool), 50e-6)
    for k in range(2):  # build the rate tables once
        m.apply(*_pulse_lines(n, k), 1e-6)
    times = []
    for k in range(n_pulses):
        t0 = time.perf_counter()
        m.apply(*_pulse_lines(n, k), 1e-6)
        times.append(time.perf_counter() - t0)
        m.clock.advance(2e-6)
    single = n * n / float(np.median(times))
    count = 1000
    t0 = time.perf_counter()
    m.apply(*_pulse_lines(n, 1), 1e-6, count=count)
    burst = n * n * count / (time.perf_counter() - t0)
    return single, burst


def run() -> list[dict]:
    out = []
    for n, reps in ((64, 400), (1024, 15)):
        single, burst = _cell_updates_per_s(n, reps)
        out.append(
            {
                "name": f"model_cell_updates_per_s_{n}",
                "value": single,
                "unit": "1/s",
                "note": (
                    f"{n}x{n} cmo-hfox-130nm, one full-array 1 us pulse per apply() call "
                    f"(median of {reps}); a count=1000 burst runs at {burst:.3g} cell-pulses/s "
                    "via the closed form"
                ),
            }
        )
    return out


if __name__ == "__main__":
    print(json.dumps({"benchmarks": run()}, indent=2))
