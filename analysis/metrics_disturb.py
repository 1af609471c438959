"""Metrics of the disturb protocol (reference rows 8 and 9), from its own tables.

- half-select (table `k`): `k_set_median` (at Gmin), `k_reset_median` (at Gmax),
  `half_select_drift_max` (largest |G/G0 - 1| after a half-pulse train, either polarity, either
  bound), `n_half_pulses` (half pulses per train), with means and per-bound drifts;
- parallel (table `parallel`): `update_correlation` (Pearson r of dG against x*delta over the
  block), `update_correlation_counts` (against the signed coincidences each cell received),
  `unselected_drift_max` (largest |G/G0 - 1| of the cells that never saw a coincidence),
  `n_unselected`, and the bench time per update (table `updates`);
- map (table `map`): `map_error_rms_rel` and `map_error_max_rel` (error against the target over
  the mapped block, relative to the target span), `map_rest_drift_max` (largest |G/G0 - 1| of
  the other cells), `map_rounds`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .metrics import Tables, has_rows, metrics_for


def pearson(a: Any, b: Any) -> float:
    """Pearson r of two samples (NaN if either is constant or too short)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def _max(values: Any) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.max()) if len(v) else math.nan


def half_select_metrics(k: Any) -> dict[str, float]:
    gmin, gmax = k[k["bound"] == "gmin"], k[k["bound"] == "gmax"]
    return {
        "k_set_median": float(np.median(gmin["k"])) if len(gmin) else math.nan,
        "k_reset_median": float(np.median(gmax["k"])) if len(gmax) else math.nan,
        "k_set_mean": float(gmin["k"].mean()) if len(gmin) else math.nan,
        "k_reset_mean": float(gmax["k"].mean()) if len(gmax) else math.nan,
        "half_select_drift_max": _max(k["drift_max"]),
        "half_select_drift_max_gmin": _max(gmin["drift_max"]),
        "half_select_drift_max_gmax": _max(gmax["drift_max"]),
        "n_half_pulses": int(k["n_half"].min()),
        "n_cells": int(len({(r, c) for r, c in zip(k["row"], k["col"], strict=True)})),
    }


def parallel_metrics(cells: Any, updates: Any) -> dict[str, float]:
    dg = cells["g_s"] - cells["g_before_s"]
    never = cells[(cells["n_set"] + cells["n_reset"]) == 0]
    out = {
        "update_correlation": pearson(dg, cells["x"] * cells["delta"]),
        "update_correlation_counts": pearson(dg, cells["n_set"] - cells["n_reset"]),
        "unselected_drift_max": _max((never["g_s"] / never["g_before_s"] - 1).abs()),
        "n_unselected": int(len(never)),
        "n_block_cells": int(len(cells)),
        "half_selects_per_cell_mean": float((cells["n_half_set"] + cells["n_half_reset"]).mean()),
    }
    if updates is not None and len(updates):
        out |= {"n_updates": int(len(updates)),
                "bench_s_per_update": float(updates["bench_dt_s"].mean())}  # fmt: skip
    return out


def map_metrics(cells: Any, rounds: Any, span: float) -> dict[str, float]:
    inside = cells[cells["in_block"].astype(bool)]
    rest = cells[~cells["in_block"].astype(bool)]
    error = (inside["g_s"] - inside["target_s"]) / span
    return {
        "map_error_rms_rel": float(np.sqrt(np.mean(error**2))) if len(error) else math.nan,
        "map_error_max_rel": _max(error.abs()),
        "map_rest_drift_max": _max((rest["g_s"] / rest["g_before_s"] - 1).abs()),
        "map_rounds": int(len(rounds)) if rounds is not None else 0,
    }


@metrics_for("disturb")
def disturb_metrics(tables: Tables, parameters: dict[str, Any]) -> dict[str, float]:
    """The metrics of whichever mode the run holds tables of (partial tables allowed)."""
    out: dict[str, float] = {}
    if has_rows(tables, "k"):
        out |= half_select_metrics(tables["k"])
    if has_rows(tables, "parallel"):
        out |= parallel_metrics(tables["parallel"], tables.get("updates"))
    if has_rows(tables, "map"):
        span = float(parameters.get("g_target_hi_s", 1.0)) - float(
            parameters.get("g_target_lo_s", 0.0)
        )
        out |= map_metrics(tables["map"], tables.get("map_rounds"), span)
    return out
