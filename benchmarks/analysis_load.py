"""Analysis load speed: `open_log(p).timeseries()` of a 1e7-operation log vs plain h5py.

The synthetic log has the writer's layout exactly: root attrs and runs from `reramlab.log.LogFile`,
one `/cells/rRRcCC/timeseries` per cell appended with the writer's own `_append`, the first flush
of a cell (a 200-step forming ramp) setting its chunk size as in a real session. The plain h5py
baseline reads the same datasets whole (`ds[()]` per cell). Measures, never asserts.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from reramlab.analysis import open_log
from reramlab.log import TIMESERIES_DTYPE, LogFile, _append  # _append: the writer's own layout

N_OPS = 10_000_000  # documented default; `run(n_ops=...)` / run.py --analysis-ops for less
SHAPE = (64, 64)
FIRST_FLUSH = 200
OPS = np.array([b"form_step", b"read", b"set_pulse", b"read", b"reset_pulse", b"read"])
REPEATS = 3


def build_log(path: Path, n_ops: int = N_OPS, shape: tuple[int, int] = SHAPE) -> None:
    """A log of `n_ops` operations spread over every cell of a `shape` chip, three runs."""
    with LogFile(path, station_name="bench", chip_name="synthetic", chip_shape=shape) as log:
        for protocol in ("forming", "cycling", "endurance"):
            log.new_run(protocol, {}, "all", t_s=0.0).finish("completed", t_s=1.0)
    n_cells = shape[0] * shape[1]
    per_cell = n_ops // n_cells
    rng = np.random.default_rng(0)
    rows = np.zeros(per_cell, dtype=TIMESERIES_DTYPE)
    k = np.arange(per_cell)
    rows["op"] = OPS[k % len(OPS)]
    rows["run"] = 1 + 3 * k // per_cell
    rows["n"] = 1
    rows["width_s"] = 1e-6
    rows["vg"] = 1.2
    with h5py.File(path, "r+", locking=False) as f:
        for cell in range(n_cells):
            rows["t_s"] = cell * per_cell + k * 1e-3
            rows["v"] = rng.uniform(-2.0, 3.5, per_cell)
            rows["i_a"] = rng.lognormal(-10.0, 1.0, per_cell)
            rows["g_s"] = rows["i_a"] / 0.2
            group = f["cells"].create_group(f"r{cell // shape[1]:02d}c{cell % shape[1]:02d}")
            _append(group, "timeseries", rows[:FIRST_FLUSH])
            _append(group, "timeseries", rows[FIRST_FLUSH:])


def read_h5py(path: Path) -> int:
    with h5py.File(path, "r", locking=False) as f:
        return sum(len(g["timeseries"][()]) for g in f["cells"].values())


def read_analysis(path: Path) -> int:
    with open_log(path) as log:
        return len(log.timeseries())


def best_of(fns: list[Callable[[Path], int]], path: Path) -> list[tuple[float, int]]:
    """Best wall time of each of `fns`, the repeats interleaved so both meet the same load."""
    times: list[list[float]] = [[] for _ in fns]
    counts = [0] * len(fns)
    for _ in range(REPEATS):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            counts[k] = fn(path)
            times[k].append(time.perf_counter() - t0)
    return [(min(t), n) for t, n in zip(times, counts, strict=True)]


def run(n_ops: int = N_OPS) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.h5"
        build_log(path, n_ops)
        read_h5py(path)  # warm the page cache for both
        (t_h5, n), (t_pd, n_pd) = best_of([read_h5py, read_analysis], path)
    note = f"{n_pd:.3g} operations on {SHAPE[0]}x{SHAPE[1]} cells, best of {REPEATS}"
    return [
        {"name": "analysis_load_ratio", "value": t_pd / t_h5, "unit": "1",
         "note": f"open_log(p).timeseries() / plain h5py read of the same datasets (target <= 3); {note}"},
        {"name": "analysis_load_s", "value": t_pd, "unit": "s", "note": f"pandas timeseries; {note}"},
        {"name": "analysis_h5py_read_s", "value": t_h5, "unit": "s", "note": f"plain h5py, {n:.3g} rows"},
    ]  # fmt: skip


if __name__ == "__main__":
    for r in run():
        print(f"{r['name']:28s} {r['value']:10.4g} {r['unit']:3s} {r['note']}")
