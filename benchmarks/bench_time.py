"""Simulated-bench figures of the forming protocol: transactions and bench time per cell.

Measured on `sim` (the host runs the ramp: level, measure, read level, measure per step) and on
`lab-2636b-81160-707b` with `--sim` (the ramp runs on the 2636B as a TSP script, one call per
cell; `reramlab/onboard.py`)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from reramlab.runner import execute, open_bench
from reramlab.stations.loader import load_station

CELLS, N_CELLS = "0:4,0:4", 16


def _forming(station: str, suffix: str, how: str) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        _, connected, bench = open_bench(load_station(station), sim=True, sim_dir=Path(tmp))
        sim = connected.simulator
        n0, t0 = sim.transactions, time.perf_counter()
        result = execute("forming", out=Path(tmp) / "f.h5", cells=CELLS, bench=bench)
        wall = time.perf_counter() - t0
        n = sim.transactions - n0
        connected.close()
    return [
        {"name": f"forming_transactions_per_cell{suffix}", "value": n / N_CELLS, "unit": "1",
         "note": f"VISA messages per formed cell on {station} ({how})"},
        {"name": f"forming_bench_time_per_cell_s{suffix}", "value": result.bench_time_s / N_CELLS,
         "unit": "s", "note": "simulated bench time per cell at the station's sim latency_s"},
        {"name": f"forming_wall_per_cell_s{suffix}", "value": wall / N_CELLS, "unit": "s",
         "note": "wall time of the simulation per cell"},
    ]  # fmt: skip


def run() -> list[dict]:
    return _forming("sim", "", "ramp on the host, a read after every step") + _forming(
        "lab-2636b-81160-707b", "_2636b_tsp", "--sim; the ramp as a TSP script on the 2636B"
    )


if __name__ == "__main__":
    for r in run():
        print(f"{r['name']:40s} {r['value']:>12.5g} {r['unit']:4s} {r['note']}")
