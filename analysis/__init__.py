"""Analysis of reramlab HDF5 logs: pandas loading, metrics, figures, reports, comparisons.

`open_log(path)` gives runs, run tables and the per-operation timeseries as DataFrames;
`METRICS` and `FIGURES` hold each protocol's metrics and figures (`metrics_for`, `figures_for`
register more); `write_report` writes the HTML report; `compare` puts runs of several logs in one
table. The figure and report names load matplotlib on first use only.
"""

from __future__ import annotations

import importlib
from typing import Any

from .compare import combined_runs, compare, comparison, load_summaries
from .load import Log, open_log
from .metrics import METRICS, distribution, metrics_for, run_metrics, summarize

_LAZY = {name: "figures" for name in ("FIGURES", "cell_map", "figures_for", "histogram", "lines",
                                      "style", "traces", "xy_logx")} | {"write_report": "report"}  # fmt: skip

__all__ = ["METRICS", "Log", "combined_runs", "compare", "comparison", "distribution", "load_summaries",
           "metrics_for", "open_log", "run_metrics", "summarize", *_LAZY]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
