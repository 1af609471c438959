"""Metrics per protocol, named as in REFERENCE_RESULTS.md, computed from a run's own tables.

A protocol adds its metrics with a decorated function of the run's tables and parameters::

    @metrics_for("retention")
    def retention_metrics(tables, parameters):
        drift = tables["reads"]["g_s"] - tables["reads"]["g_prog_s"]
        return {"drift_mean_uS_1h": float(drift.mean() * 1e6), **distribution(drift * 1e6, "drift_uS")}

Functions get every table of the run (also of an aborted or still-running run, so they must
accept empty or partial tables) and return plain floats. `needs="cells"` lets the registry
answer `empty` (default {}) when that table is missing or empty, so the function may index it.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from .load import Log

Tables = dict[str, pd.DataFrame]
MetricsFn = Callable[[Tables, dict[str, Any]], dict[str, float]]

#: protocol name -> metrics function(tables, parameters) -> {metric: value}
METRICS: dict[str, MetricsFn] = {}


def has_rows(tables: Tables, name: str) -> bool:
    """Whether the run has table `name` with at least one row."""
    table = tables.get(name)
    return table is not None and len(table) > 0


def metrics_for(
    protocol: str, *, needs: str | None = None, empty: dict[str, float] | None = None
) -> Callable[[MetricsFn], MetricsFn]:
    """Register the decorated function as the metrics of `protocol`; with `needs`, it runs only
    when that table has rows, and `empty` (a copy; default {}) is the answer otherwise."""

    def register(fn: MetricsFn) -> MetricsFn:
        if needs is not None:
            inner = fn

            @functools.wraps(inner)
            def fn(tables: Tables, parameters: dict[str, Any]) -> dict[str, float]:
                if not has_rows(tables, needs):
                    return dict(empty or {})
                return inner(tables, parameters)

        METRICS[protocol] = fn
        return fn

    return register


def distribution(values: Any, name: str) -> dict[str, float]:
    """Summary of a sample: {name}_mean, _std (ddof 1), _min, _max, _median, _p05, _p95, _iqr.

    NaNs are ignored; an empty sample gives NaN everywhere.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if not len(x):
        return {
            f"{name}_{k}": math.nan
            for k in ("mean", "std", "min", "max", "median", "p05", "p95", "iqr")
        }
    p05, q1, median, q3, p95 = np.percentile(x, [5, 25, 50, 75, 95])
    return {f"{name}_mean": float(x.mean()), f"{name}_std": float(x.std(ddof=1)) if len(x) > 1 else 0.0,
            f"{name}_min": float(x.min()), f"{name}_max": float(x.max()),
            f"{name}_median": float(median), f"{name}_p05": float(p05), f"{name}_p95": float(p95),
            f"{name}_iqr": float(q3 - q1)}  # fmt: skip


@metrics_for("forming", needs="cells", empty={"n_cells": 0, "n_formed": 0})
def forming_metrics(tables: Tables, parameters: dict[str, Any]) -> dict[str, float]:
    """Yield and forming-voltage/current/conductance statistics over the run's cells."""
    cells = tables["cells"]
    formed = cells[cells["formed"].astype(bool)]
    out = {
        "n_cells": int(len(cells)),
        "n_formed": int(len(formed)),
        "yield": len(formed) / len(cells),
    }
    if len(formed):
        out |= distribution(formed["v_form"], "v_form")
        out |= {"i_form_mean": float(formed["i_form"].mean()),
                "g_form_median_uS": float(np.median(formed["g_form"]) * 1e6)}  # fmt: skip
    return out


def run_metrics(log: Log, run: str | int) -> dict[str, float]:
    """The metrics of one run of `log` ({} if its protocol has none registered)."""
    run_id = log.run_id(run)
    fn = METRICS.get(str(log.f["runs"][run_id].attrs["protocol"]))
    return fn(log.run(run_id), log.parameters(run_id)) if fn else {}


def summarize(log: Log) -> dict[str, Any]:
    """One log's runs and metrics: {"file", "station", "chip", "runs": [{id, protocol, status,
    error, bench_time_s, metrics}]}; the runs are what `analyze --json` prints.

    A metrics function that fails leaves that run's metrics empty and its message under
    "analysis_error", with a warning, so one plug-in cannot stop a whole analysis.
    """
    runs = []
    for r in log.runs.itertuples(index=False):
        entry = {"id": r.id, "protocol": r.protocol, "status": r.status, "error": r.error,
                 "bench_time_s": r.bench_time_s, "metrics": {}}  # fmt: skip
        try:
            entry["metrics"] = run_metrics(log, r.id)
        except Exception as e:  # noqa: BLE001 - reported in the summary, not raised
            entry["analysis_error"] = f"{type(e).__name__}: {e}"
            warnings.warn(
                f"{log.path} {r.id}: metrics failed: {entry['analysis_error']}", stacklevel=2
            )
        runs.append(entry)
    info = log.info
    return {"file": str(log.path), "station": info.get("station_name", ""),
            "chip": info.get("chip_name", ""), "runs": runs}  # fmt: skip


# Each protocol family registers its metrics on import.
from . import metrics_disturb, metrics_programming, metrics_switching  # noqa: E402,F401
