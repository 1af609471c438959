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
from reramlab.runner import execute


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
]  # fmt: skip


def run_scenario(s: Scenario, directory: Path) -> dict[str, Any]:
    out = directory / f"row{s.row:02d}.h5"
    t0 = time.perf_counter()
    result = execute(s.protocol, out=out, station=s.station, cells=s.cells, settings=s.settings)
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
