"""`reramlab demo`: the protocol suite on the simulated chip -> DIR/demo.h5 and DIR/report/.

Later protocols join the list; each step runs through the same drivers and simulator as a lab
run and lands in DIR/demo.h5.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reramlab.analysis import open_log, summarize

#: (protocol, --set overrides) in the order a device engineer would run them on a fresh chip
DEMO_STEPS: list[tuple[str, dict[str, str]]] = [
    ("forming", {}),
    ("cycling", {"n_cycles": "1", "v_step": "0.05", "dwell_s": "1e-3"}),
    ("pulse-train", {"n_down": "40", "n_up": "40", "n_alt": "16", "n_per_read": "4"}),
    ("program-verify", {"n_levels": "8"}),
    ("read", {"n_reads": "10"}),
    ("retention", {"times_s": "1,60,3600,86400,3.156e8"}),
    ("endurance", {"n_cycles": "1000000", "checkpoints_per_decade": "0.5"}),
    (
        "disturb",
        {
            "mode": "parallel",
            "v_set": "1.35",
            "v_reset": "-1.3",
            "width_s": "1e-6",
            "n_center": "200",
            "n_updates": "2",
        },
    ),
]


def run_demo(
    out_dir: Path, *, cells: str = "0:8,0:8", progress: Callable[..., object]
) -> list[str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "demo.h5"
    from reramlab.runner import open_bench
    from reramlab.simchip import chip_state_path

    for old in (log_path, chip_state_path(log_path)):  # a fresh chip and log every time
        old.unlink(missing_ok=True)
    _, connected, bench = open_bench("sim")
    try:  # the chip is kept with the log: `reramlab run ... --out DIR/demo.h5` continues it
        for protocol, settings in DEMO_STEPS:
            progress(protocol, out=log_path, cells=cells, settings=settings, bench=bench,
                     keep_chip=True)  # fmt: skip
    finally:
        connected.close()
    from reramlab.analysis import write_report

    report = write_report([log_path], out_dir / "report")
    lines = [f"log: {log_path}", f"report: {report}"]
    with open_log(log_path) as log:
        for run in summarize(log)["runs"]:
            metrics = ", ".join(f"{k}={v:.4g}" for k, v in run["metrics"].items())
            lines.append(f"{run['id']} [{run['status']}] {metrics}")
    return lines
