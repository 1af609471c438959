"""Run every benchmark in one process and print figures and ratios (never asserts).

Each module in this folder with a ``run() -> list[dict]`` contributes entries
``{"name", "value", "unit", "note"}``. ``--json`` prints ``{"benchmarks": [...]}``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent


def discover() -> list:
    modules = []
    for path in sorted(HERE.glob("*.py")):
        if path.name in ("run.py", "__init__.py"):
            continue
        spec = importlib.util.spec_from_file_location(f"benchmarks.{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if hasattr(module, "run"):
            modules.append(module)
    return modules


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="skip the slow benchmarks (modules with SLOW = True: demo, validate)",
    )
    parser.add_argument(
        "--analysis-ops",
        type=float,
        default=None,
        help="operations in the analysis_load log (default 1e7)",
    )
    args = parser.parse_args(argv)
    results = []
    for module in discover():
        if args.quick and getattr(module, "SLOW", False):
            continue
        if module.__name__.endswith("analysis_load") and args.analysis_ops:
            results.extend(module.run(n_ops=int(args.analysis_ops)))
        else:
            results.extend(module.run())
    if args.json:
        print(json.dumps({"benchmarks": results}, indent=1))
    else:
        for r in results:
            print(f"{r['name']:40s} {r['value']:>14.6g} {r['unit']:8s} {r.get('note', '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
