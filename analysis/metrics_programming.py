"""Metrics of `program-verify`, `read` and `retention` (REFERENCE_RESULTS rows 6, 7, 10, 11).

- program-verify: `levels`, `success_rate`, `iterations_median`, and the programming noise:
  the std of the final G of each level (its converged cells, at the end of programming) fitted
  linearly against the target, `sigma_prog_slope` and `sigma_prog_intercept_uS` (uS vs uS). The
  fit weights each level by 1/G: the scatter of a sample std is proportional to the std, which
  grows with G, so equal weights would let the top levels' scatter swamp the intercept.
  Also the per-level spread in units of the acceptance range (`sigma_per_ar_median`; uniform
  landing inside ±AR gives 1/sqrt 3 = 0.577) and the state separation (the smallest gap
  between adjacent level means over their rms std).
- read: `read_noise_uS`, the mean over cells of the std of their repeated reads.
- retention: drift = G(t) - G at the first read after programming, per cell interpolated in
  ln t at 1 h and 10 years; `drift_mean_uS_*` and `drift_sigma_uS_*` over cells.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .metrics import Tables, metrics_for

YEAR_S = 365.25 * 86400.0
DRIFT_TIMES_S = {"1s": 1.0, "1h": 3600.0, "10y": 10 * YEAR_S}


def level_stats(cells: pd.DataFrame) -> pd.DataFrame:
    """Per target level (converged cells): target_uS, n, mean_uS, std_uS (ddof 1)."""
    ok = cells[cells["converged"].astype(bool)]
    g = ok.assign(target_uS=ok["target_g_s"] * 1e6, final_uS=ok["final_g_s"] * 1e6)
    out = g.groupby("target_uS")["final_uS"].agg(n="count", mean_uS="mean", std_uS="std")
    return out.reset_index()


def sigma_fit(levels: pd.DataFrame) -> tuple[float, float]:
    """(slope, intercept uS) of std_uS vs target_uS over levels with >= 2 cells, weighted 1/G."""
    use = levels[levels["n"] >= 2]
    if len(use) < 2:
        return math.nan, math.nan
    x = use["target_uS"].to_numpy(float)
    slope, intercept = np.polyfit(x, use["std_uS"].to_numpy(float), 1, w=1 / x)
    return float(slope), float(intercept)


def separation(levels: pd.DataFrame) -> float:
    """Smallest (mean_k+1 - mean_k) / rms(std_k, std_k+1) between adjacent levels."""
    use = levels[levels["n"] >= 2].sort_values("target_uS")
    if len(use) < 2:
        return math.nan
    gap = np.diff(use["mean_uS"].to_numpy(float))
    s = use["std_uS"].to_numpy(float)
    rms = np.sqrt((s[1:] ** 2 + s[:-1] ** 2) / 2)
    with np.errstate(divide="ignore"):
        return float(np.min(np.where(rms > 0, gap / rms, np.inf)))


@metrics_for("program-verify", needs="cells", empty={"n_cells": 0})
def program_verify_metrics(tables: Tables, parameters: dict[str, Any]) -> dict[str, float]:
    cells = tables["cells"]
    levels = level_stats(cells)
    slope, intercept = sigma_fit(levels)
    use = levels[levels["n"] >= 2]
    ar = float(parameters.get("acceptance", math.nan))
    per_ar = use["std_uS"] / (ar * use["target_uS"])
    it = cells["iterations"].to_numpy(float)
    return {
        "n_cells": int(len(cells)), "n_converged": int(cells["converged"].astype(bool).sum()),
        "levels": int(len(levels)), "success_rate": float(cells["converged"].astype(bool).mean()),
        "iterations_median": float(np.median(it)), "iterations_p95": float(np.percentile(it, 95)),
        "sigma_prog_slope": slope, "sigma_prog_intercept_uS": intercept,
        "sigma_per_ar_median": float(per_ar.median()) if len(per_ar) else math.nan,
        "state_separation_min": separation(levels),
    }  # fmt: skip


@metrics_for("read", needs="cells", empty={"n_cells": 0})
def read_metrics(tables: Tables, parameters: dict[str, Any]) -> dict[str, float]:
    cells = tables["cells"]
    out = {
        "n_cells": int(len(cells)),
        "g_mean_uS": float(cells["g_mean_s"].mean() * 1e6),
        "read_noise_uS": float(cells["g_std_s"].mean() * 1e6),
        "read_noise_median_uS": float(cells["g_std_s"].median() * 1e6),
        "read_noise_rel": float((cells["g_std_s"] / cells["g_mean_s"]).mean()),
    }
    if "tau_s" in cells and cells["tau_s"].notna().any():
        out["t_after_program_median_s"] = float(cells["tau_s"].median())
    if "converged" in cells:
        out["success_rate"] = float(cells["converged"].astype(bool).mean())
    return out


def drift_at(reads: pd.DataFrame, t_s: float) -> np.ndarray:
    """Each cell's drift (S) at `t_s`, linear in ln t between its reads (NaN outside them,
    allowing 1 % beyond the first and last read)."""
    out = []
    for _, d in reads.sort_values("t_s").groupby(["row", "col"]):
        ln_t = np.log(np.maximum(d["t_s"].to_numpy(float), 1e-12))
        x = math.log(t_s)
        if x < ln_t[0] - 0.01 or x > ln_t[-1] + 0.01:
            out.append(math.nan)
            continue
        out.append(float(np.interp(x, ln_t, d["drift_s"].to_numpy(float))))
    return np.asarray(out, dtype=float)


def drift_by_time(reads: pd.DataFrame) -> pd.DataFrame:
    """Per scheduled time: t_s (median actual), mean_uS, sigma_uS over cells, n."""
    g = reads.assign(drift_uS=reads["drift_s"] * 1e6).groupby("t_sched_s")
    return pd.DataFrame({"t_s": g["t_s"].median(), "mean_uS": g["drift_uS"].mean(),
                         "sigma_uS": g["drift_uS"].std(), "n": g["drift_uS"].count()}).reset_index()  # fmt: skip


@metrics_for("retention")
def retention_metrics(tables: Tables, parameters: dict[str, Any]) -> dict[str, float]:
    reads = tables.get("reads")
    cells = tables.get("cells")
    out: dict[str, float] = {"n_cells": 0 if cells is None else int(len(cells))}
    if reads is None or reads.empty:
        return out
    out["n_reads"] = int(len(reads))
    for name, t in DRIFT_TIMES_S.items():
        d = drift_at(reads, t) * 1e6
        d = d[np.isfinite(d)]
        if len(d) > 1:
            out[f"drift_mean_uS_{name}"] = float(d.mean())
            out[f"drift_sigma_uS_{name}"] = float(d.std(ddof=1))
    if cells is not None and "converged" in cells:
        out["success_rate"] = float(cells["converged"].astype(bool).mean())
    return out
