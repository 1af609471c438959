"""`reramlab validate`: the reference scenarios of REFERENCE_RESULTS.md, run on the simulated chip
through the instruments, each metric measured against its target.

Each scenario runs the named protocol with `execute()` (station -> drivers -> pyvisa -> simulator)
into a temporary log and reads the metric back through the analysis layer, exactly as a user
would with `reramlab run` and `reramlab analyze --json`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reramlab.analysis import open_log, summarize
from reramlab.runner import execute, open_bench
from reramlab.stations.loader import load_station


@dataclass(frozen=True)
class Check:
    target: str
    ok: Callable[[float], bool]


def within(center: float, tol: float) -> Check:
    return Check(f"{center:g} ± {tol:g}", lambda x: abs(x - center) <= tol)


def between(lo: float, hi: float) -> Check:
    return Check(f"[{lo:g}, {hi:g}]", lambda x: lo <= x <= hi)


def at_least(lo: float) -> Check:
    return Check(f">= {lo:g}", lambda x: x >= lo)


def at_most(hi: float) -> Check:
    return Check(f"<= {hi:g}", lambda x: x <= hi)


@dataclass(frozen=True)
class Scenario:
    row: int
    protocol: str
    station: str
    preset: str
    cells: str
    checks: dict[str, Check]
    settings: dict[str, str] = field(default_factory=dict)


SCENARIOS: list[Scenario] = [
    Scenario(1, "forming", "sim", "cmo-hfox-130nm", "0:8,0:16", {
        "v_form_mean": within(3.38, 0.1),
        "v_form_std": between(0.075 * 0.7, 0.090 * 1.3),
        "i_form_mean": within(258e-6, 0.2 * 258e-6),
        "yield": at_least(0.99),
    }, {"vg": "1.2"}),
    Scenario(2, "forming", "sim-350nm", "cmo-hfox-350nm", "all", {
        "v_form_mean": within(2.8, 0.15),
    }),
    Scenario(3, "cycling", "sim", "cmo-hfox-130nm", "0,0:8", {
        "v_set_median": between(0.0, 1.5),
        "v_reset_median": between(-1.5, 0.0),
        "on_off_median": between(5.0, 30.0),
    }, {"preform": "1", "n_cycles": "5", "v_set_max": "1.3", "v_reset_max": "-1.5"}),
    Scenario(4, "endurance", "sim-350nm", "cmo-hfox-350nm", "0:4,0:8", {
        "pulses": at_least(1e5),
        "window_retained": at_least(0.5),
    }, {"preform": "1", "n_cycles": "1000000", "v_set": "1.6", "v_reset": "-2.3", "width_s": "60e-9"}),
    Scenario(5, "pulse-train", "sim", "cmo-hfox-130nm", "0,0:4", {
        "g_min_uS": within(10.0, 3.0),
        "g_max_uS": within(100.0, 30.0),
        "g_sym_uS": between(20.0, 40.0),
        "states": Check("> 30", lambda x: x > 30),
    }, {"preform": "1", "phases": "down,up,alt", "n_down": "800", "n_up": "800", "n_alt": "500"}),
    Scenario(6, "program-verify", "sim", "cmo-hfox-130nm", "0:6,0:32", {
        "levels": at_least(32),
        "success_rate": at_least(0.99),
        "sigma_prog_slope": within(1.13e-2, 0.4 * 1.13e-2),
        "sigma_prog_intercept_uS": within(0.011, 0.4 * 0.011),
        "iterations_median": between(10 / 3, 30),
    }, {"v_form": "4.0", "n_reset_first": "50", "acceptance": "0.02"}),
    Scenario(7, "program-verify", "sim", "cmo-hfox-130nm", "0:5,0:8", {
        "sigma_prog_slope": within(1.07e-3, 0.4 * 1.07e-3),
        "sigma_prog_intercept_uS": within(0.0008, 0.4 * 0.0008),
        "iterations_median": between(30, 270),
    }, {"v_form": "4.0", "n_reset_first": "50", "acceptance": "0.002", "n_levels": "8"}),
    Scenario(8, "disturb", "sim-350nm", "cmo-hfox-350nm", "4:8,0:4", {
        "k_set_median": Check("|k| < 0.005", lambda x: abs(x) < 0.005),
        "k_reset_median": Check("|k| < 0.005", lambda x: abs(x) < 0.005),
        "half_select_drift_max": Check("< 0.01", lambda x: x < 0.01),
        "n_half_pulses": at_least(1e5),
    }, {"mode": "half-select", "preform": "1", "n_half": "100000", "n_reads": "64",
        "checkpoints_per_decade": "1"}),
    Scenario(9, "disturb", "sim-350nm-array", "cmo-hfox-350nm", "all", {
        "update_correlation": at_least(0.9),
        "unselected_drift_max": Check("< 0.01", lambda x: x < 0.01),
    }, {"mode": "parallel", "preform": "1", "bit_length": "10", "n_updates": "4"}),
    Scenario(10, "retention", "sim", "cmo-hfox-130nm", "0:6,0:32", {
        "drift_mean_uS_1h": within(-0.73, 0.2 * 0.73),
        "drift_sigma_uS_1h": within(0.76, 0.2 * 0.76),
        "drift_mean_uS_10y": within(-1.74, 0.2 * 1.74),
        "drift_sigma_uS_10y": within(1.23, 0.2 * 1.23),
    }, {"program": "true", "v_form": "4.0", "n_reset_first": "50",
        "times_s": "1,10,100,3600,1e5,1e7,3.15576e8"}),
    Scenario(11, "read", "sim", "cmo-hfox-130nm", "0:2,0:32", {
        "read_noise_uS": within(0.17, 0.3 * 0.17),
    }, {"program": "true", "targets_s": "50e-6", "v_form": "4.0", "n_reset_first": "50",
        "nplc": "0.01", "n_reads": "50"}),
    Scenario(12, "pulse-train", "sim-weak-reset", "hfox-weak-reset", "all", {
        "ln_r_slope_early": within(7e-4, 0.4 * 7e-4),
        "ln_r_slope_late": within(3e-5, 0.4 * 3e-5),
        "r0_mean_ohm": within(7000.0, 0.4 * 7000.0),
    }, {"preform": "1", "phases": "up,down", "n_up": "3", "v_set": "1.5", "n_down": "3000",
        "v_reset": "-1.2", "width_reset_s": "1e-6", "n_per_read": "30", "vg_read": "3.3"}),
]  # fmt: skip


def run_scenario(s: Scenario, directory: Path) -> dict[str, Any]:
    """Run one scenario on a fresh simulated chip of its own (rows never share cells)."""
    out = directory / f"row{s.row:02d}.h5"
    t0 = time.perf_counter()
    _, connected, bench = open_bench(
        load_station(s.station), sim=True, sim_dir=directory / f"row{s.row:02d}"
    )
    try:
        result = execute(s.protocol, out=out, cells=s.cells, settings=s.settings, bench=bench)
    finally:
        connected.close()
    wall_s = time.perf_counter() - t0
    with open_log(out) as log:
        run = next(r for r in summarize(log)["runs"] if r["id"] == result.run_id)
    metrics = run["metrics"]
    checks = {}
    for name, check in s.checks.items():
        value = float(metrics.get(name, float("nan")))
        checks[name] = {"measured": value, "target": check.target, "pass": bool(check.ok(value))}
    return {
        "row": s.row, "protocol": s.protocol, "preset": s.preset, "station": s.station,
        "metrics": metrics, "target": {k: c["target"] for k, c in checks.items()},
        "checks": checks, "pass": all(c["pass"] for c in checks.values()) and run["status"] == "completed",
        "wall_s": wall_s, "bench_time_s": result.bench_time_s,
    }  # fmt: skip


def run_validation(rows: list[int] | None = None) -> list[dict[str, Any]]:
    chosen = [s for s in SCENARIOS if rows is None or s.row in rows]
    missing = sorted(set(rows or []) - {s.row for s in chosen})
    if missing:
        from reramlab.errors import ReramlabError

        raise ReramlabError(
            f"--rows: no scenario yet for row(s) {missing}; available: {[s.row for s in SCENARIOS]}"
        )
    with tempfile.TemporaryDirectory(prefix="reramlab-validate-") as tmp:
        return [run_scenario(s, Path(tmp)) for s in chosen]
