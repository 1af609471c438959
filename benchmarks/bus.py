"""Bus figures on the simulated `sim` station: VISA transactions and bench time against the
physics floor, for a 1e5-pulse endurance run and a 32-level program-and-verify of a block, and
the cost of reramlab's driver layer over raw pyvisa. Measures, never asserts.

A transaction is one VISA message written to an instrument (a query's write and its read are
one transaction). Bench time is the simulated clock: instrument-side time (pulses, reads, relay
and command times of the simulated instruments) plus `latency_s` per transaction, the bus
latency model of benchmarks/README.md. The physics floor is the time the pulses (whole
periods), the reads (their aperture) and nothing else take.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pyvisa

from reramlab.runner import execute, open_bench
from reramlab.stations.loader import load_station

#: per-transaction latency (s) by bus; sources in benchmarks/README.md
LATENCY_S = {"gpib": 2e-3, "usbtmc": 0.5e-3, "lan_vxi11": 1.5e-3, "lan_socket": 0.35e-3}
ENDURANCE_PAIRS = 50_000  # 1e5 pulses
PV_CELLS = "0:4,0:8"  # 32 cells: one per level of the default 32-level grid
#: the lab stations (with --sim, on the 130 nm chip) whose P&V cost is reported besides `sim`
PV_STATIONS = [
    ("lab-2636b-81160-707b", "_2636b_tsp", {},
     " (--sim, 130 nm chip, verify loop on the 2636B as a TSP script)"),
    ("lab-2636b-81160-707b", "_2636b_host", {"loop": "host"},
     " (--sim, 130 nm chip, verify loop on the host)"),
    ("lab-b2902-33600-707b", "_b2902", {}, " (--sim, 130 nm chip, host loop)"),
    ("lab-2450-81160-707b", "_lab2450", {}, " (--sim, 130 nm chip, host loop)"),
]  # fmt: skip
LINE_FREQ_HZ = 50.0


def _ops(path: Path) -> np.ndarray:
    """Every operation of the last run in the log (one array over all cells)."""
    rows = []
    with h5py.File(path, "r", locking=False) as f:
        f["cells"].visititems(lambda n, o: rows.append(o[()]) if n.endswith("timeseries") else None)
    return np.concatenate(rows) if rows else np.empty(0)


def _table(path: Path, name: str) -> np.ndarray:
    found = []
    with h5py.File(path, "r", locking=False) as f:
        f.visititems(
            lambda n, o: (
                found.append(o[()]) if n.endswith(name) and isinstance(o, h5py.Dataset) else None
            )
        )
    return found[-1]


def _session(tmp: Path, cells: str, station: str = "sim"):
    """A simulated bench with `cells` formed, clock and transaction counter ready to measure.

    A lab station runs with `--sim` on the 130 nm preset of `sim` (the program-verify defaults
    are [A]'s 130 nm levels), so that the stations differ only in instruments and wiring."""
    spec = load_station(station)
    if station != "sim":
        spec = spec.simulating("cmo-hfox-130nm")
    _, connected, bench = open_bench(spec, sim=True, sim_dir=tmp)
    execute("forming", out=tmp / "form.h5", cells=cells, bench=bench)
    return connected, bench


def _measure(connected, bench, protocol: str, out: Path, cells: str, settings: dict,
             latency_s: float) -> tuple[int, float, float]:  # fmt: skip
    sim = connected.simulator
    sim.latency_s = latency_s
    n0, t0, w0 = sim.transactions, sim.clock.now_s, time.perf_counter()
    execute(protocol, out=out, cells=cells, settings=settings, bench=bench)
    return sim.transactions - n0, sim.clock.now_s - t0, time.perf_counter() - w0


#: the lab stations (with --sim, on the 130 nm chip) whose endurance cost is reported besides
#: `sim`, at GPIB only: (station, suffix)
ENDURANCE_STATIONS = [("lab-2636b-81160-707b", "_2636b"), ("lab-b2902-33600-707b", "_b2902"),
                      ("lab-2450-81160-707b", "_lab2450")]  # fmt: skip


def endurance(station: str = "sim", suffix: str = "") -> list[dict]:
    """A 1e5-pulse endurance run on one cell of `station`: transactions per pulse, and bench
    time at each bus latency (`sim`; GPIB only for a lab station) against the physics floor."""
    from reramlab.protocols import endurance as proto  # noqa: F401 - importable or KeyError

    p = proto.Params()
    settings = {"n_cycles": str(ENDURANCE_PAIRS)}
    buses = LATENCY_S if station == "sim" else {"gpib": LATENCY_S["gpib"]}
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        connected, bench = _session(tmp, "0:1,0:1", station)
        line_hz = _line_frequency_hz(connected, bench)
        for k, (bus, lat) in enumerate({"ideal": 0.0, **buses}.items()):
            out = tmp / f"e{k}.h5"
            res[bus] = _measure(connected, bench, "endurance", out, "0:1,0:1", settings, lat)
            if bus == "ideal":
                ops = _ops(out)
        connected.close()
    pair_period = 2 * (p.width_s + p.rise_s + p.fall_s + 20e-9)
    probe_period = max(4 * p.width_s, p.width_s + 2 * (p.rise_s + p.fall_s) + 20e-9)
    op = ops["op"].astype(str)
    n = ops["n"].astype(float)
    pairs = n[op == "pulse_pairs"].sum()
    probes = n[np.isin(op, ["set_pulse", "reset_pulse"])].sum()
    reads = int((op == "read").sum())
    pulses = 2 * pairs + probes
    floor = pairs * pair_period + probes * probe_period + reads * p.nplc / line_hz
    tr, _, wall = res["ideal"]
    note = (f"{station}: {int(pairs)} SET/RESET pairs + {int(probes)} probe pulses, {reads} "
            f"reads (endurance protocol defaults, n_cycles={ENDURANCE_PAIRS}); floor {floor:.4g} s")  # fmt: skip
    out = [
        {"name": f"endurance_transactions_per_pulse{suffix}", "value": tr / pulses, "unit": "1",
         "note": f"{tr} transactions / {int(pulses)} pulses (target <= 0.01); {note}"},
        {"name": f"endurance_wall_s{suffix}", "value": wall, "unit": "s",
         "note": "simulation wall time"},
    ]  # fmt: skip
    for bus, lat in buses.items():
        out.append({"name": f"endurance_bench_time_ratio_{bus}{suffix}", "unit": "1",
                    "value": res[bus][1] / floor, "note": f"bench time at {lat * 1e3:g} "
                    f"ms/transaction / physics floor (target <= 2); {note}"})  # fmt: skip
    return out


def program_verify(station: str = "sim", suffix: str = "", settings: dict | None = None,
                   what: str = "") -> list[dict]:  # fmt: skip
    """P&V of the 32-level default grid on `PV_CELLS` of `station`: transactions per iteration
    and bench time (ideal bus and GPIB) against the floor (pulse periods + read apertures)."""
    res = {}
    settings = settings or {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for bus, lat in {"ideal": 0.0, "gpib": LATENCY_S["gpib"]}.items():
            (tmp / bus).mkdir()
            connected, bench = _session(tmp / bus, PV_CELLS, station)
            line_hz = _line_frequency_hz(connected, bench)
            out = tmp / f"pv-{bus}.h5"
            res[bus] = _measure(connected, bench, "program-verify", out, PV_CELLS, settings, lat)
            cells = _table(out, "cells")
            ops = _ops(out)
            res[bus] += (int(cells["iterations"].sum()), int(cells["converged"].sum()), ops)
            connected.close()
    tr, bench_s, wall, iters, conv, ops = res["ideal"]
    op = ops["op"].astype(str)
    n_pulses = ops["n"][op != "read"].astype(float)
    widths = ops["width_s"][op != "read"].astype(float)
    periods = np.maximum(4 * widths, widths + 2 * 10e-9 + 20e-9)
    reads = int((op == "read").sum())
    floor = float((n_pulses * periods).sum()) + reads * 1.0 / line_hz  # nplc 1
    note = (f"{station}{what}: 32 levels on {PV_CELLS} (32 cells), {iters} iterations, "
            f"{conv}/32 converged")  # fmt: skip
    g_tr, g_bench, *_ = res["gpib"]
    g_iters = res["gpib"][3]
    return [
        {"name": f"pv_transactions_per_iteration{suffix}", "value": tr / max(iters, 1),
         "unit": "1", "note": f"{tr} transactions / {iters} pulse+verify iterations, incl. "
                              f"per-cell set-up (target <= 2); {note}"},
        {"name": f"pv_bench_time_ratio{suffix}",
         "value": g_bench / (floor * g_iters / max(iters, 1)), "unit": "1",
         "note": f"bench time at GPIB {LATENCY_S['gpib'] * 1e3:g} ms/transaction / floor (pulse "
                 f"periods + 1-PLC read apertures at {line_hz:g} Hz); {note}"},
        {"name": f"pv_bench_time_ratio_ideal_bus{suffix}", "value": bench_s / floor, "unit": "1",
         "note": f"the same at latency_s = 0; {note}"},
        {"name": f"pv_wall_s{suffix}", "value": wall, "unit": "s", "note": "simulation wall time"},
    ]  # fmt: skip


def _line_frequency_hz(connected, bench) -> float:
    """The power-line frequency the drive SMU's twin integrates over (its NPLC unit)."""
    name = bench.wiring.functions["drive"].split(".")[0]
    return float(getattr(connected.simulator.instruments[name], "line_frequency_hz", LINE_FREQ_HZ))


def visa_overhead(n: int = 2000, repeats: int = 5) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        _, connected, _ = open_bench(load_station("sim"), sim=True, sim_dir=Path(tmp))
        smu = connected.instruments["smu"]
        raw = pyvisa.ResourceManager(connected.visa_library).open_resource(
            "GPIB0::24::INSTR", read_termination="\n", write_termination="\n"
        )
        best = {"driver": np.inf, "raw": np.inf}
        for _ in range(repeats):
            for kind, fn in (("driver", lambda: smu.current_nplc),
                             ("raw", lambda: float(raw.query(":SENS:CURR:NPLC?")))):  # fmt: skip
                t0 = time.perf_counter()
                for _ in range(n):
                    fn()
                best[kind] = min(best[kind], (time.perf_counter() - t0) / n)
        raw.close()
        connected.close()
    return [
        {"name": "visa_overhead_ratio", "value": best["driver"] / best["raw"], "unit": "1",
         "note": f"Keithley2450.current_nplc vs raw pyvisa query(':SENS:CURR:NPLC?') to the same "
                 f"simulated 2450, best of {repeats} x {n} (target <= 1.5)"},
        {"name": "visa_driver_query_s", "value": best["driver"], "unit": "s",
         "note": f"raw pyvisa: {best['raw']:.3g} s per query"},
    ]  # fmt: skip


def run() -> list[dict]:
    out = []
    try:
        out += endurance()
    except ImportError as e:  # the endurance protocol is not there yet
        out.append({"name": "endurance_transactions_per_pulse", "value": float("nan"),
                    "unit": "1", "note": f"not measured: {e}"})  # fmt: skip
    for station, suffix in ENDURANCE_STATIONS:
        out += endurance(station, suffix)
    out += program_verify()
    for station, suffix, settings, what in PV_STATIONS:
        out += program_verify(station, suffix, settings, what)
    out += visa_overhead()
    return out


if __name__ == "__main__":
    for r in run():
        print(f"{r['name']:40s} {r['value']:>12.5g} {r['unit']:4s} {r['note']}")
