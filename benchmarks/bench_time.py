"""Simulated-bench figures of the forming protocol: transactions and bench time per cell."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from reramlab.runner import execute, open_bench
from reramlab.stations.loader import load_station


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        _, connected, bench = open_bench(load_station("sim"), sim=True, sim_dir=Path(tmp))
        sim = connected.simulator
        t0 = time.perf_counter()
        result = execute("forming", out=Path(tmp) / "f.h5", cells="0:4,0:4", bench=bench)
        wall = time.perf_counter() - t0
        n = 16
        out = [
            {"name": "forming_transactions_per_cell", "value": sim.transactions / n, "unit": "1",
             "note": "VISA writes per formed cell (ramp with a read after every step)"},
            {"name": "forming_bench_time_per_cell_s", "value": result.bench_time_s / n, "unit": "s",
             "note": "simulated bench time per cell at an ideal bus (latency_s = 0)"},
            {"name": "forming_wall_per_cell_s", "value": wall / n, "unit": "s",
             "note": "wall time of the simulation per cell"},
        ]  # fmt: skip
        connected.close()
    return out
