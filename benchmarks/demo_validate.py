"""Wall time of `reramlab demo` and of each `reramlab validate` row (slow: skipped by
`run.py --quick`). Each runs as the CLI does, in a fresh process. Measures, never asserts."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time

SLOW = True
CLI = [sys.executable, "-m", "reramlab.cli"]


def _timed(args: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(CLI + args, capture_output=True, text=True, check=False)
    return time.perf_counter() - t0, proc.stdout


def run() -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        wall, _ = _timed(["demo", "--out", tmp])
        out.append({"name": "demo_wall_s", "value": wall, "unit": "s",
                    "note": "reramlab demo, default cells, fresh process"})  # fmt: skip
    from reramlab.validate import SCENARIOS

    for row in [s.row for s in SCENARIOS]:
        wall, text = _timed(["validate", "--rows", str(row), "--json"])
        try:
            r = json.loads(text)["rows"][0]
            note = f"{r['protocol']} ({r['preset']}), pass={r['pass']}"
        except (ValueError, KeyError, IndexError):
            note = "no JSON row (see reramlab validate)"
        out.append({"name": f"validate_row_{row}_wall_s", "value": wall, "unit": "s",
                    "note": note})  # fmt: skip
    return out
