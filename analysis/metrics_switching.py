"""Metrics of the switching protocols: cycling, endurance, pulse-train (REFERENCE_RESULTS rows 3,
4, 5, 12), computed from each run's own tables; partial tables (aborted runs) give what they hold.

Definitions an engineer needs to read the numbers:

- cycling: cycle 0 (the initial RESET half) is left out; ``*_c2c_std`` is the median over cells
  of a cell's cycle-to-cycle standard deviation, ``*_d2d_std`` the standard deviation of the
  cells' medians.
- endurance: per cell, ``window_retained`` = window at the last checkpoint / window at
  checkpoint 0 (window = G_LRS - G_HRS after the probe bursts), ``pulses`` = pairs applied.
- pulse-train, per cell and cycle: G_min / G_max = the level the down / up phase ends at (median
  of its last 5 % of reads: the saturation level of the train, free of the extreme-value bias a
  minimum or maximum of hundreds of noisy reads has), G_sym = median of the second half of the
  alternating phase. ``states`` (up phase; ``states_down`` for the down phase) counts levels
  that are distinguishable: (G_max - G_min) / max(median step, 2 sigma), sigma being the
  pulse-to-pulse noise (read plus cycle-to-cycle) estimated from the differences of successive
  steps (1.4826 MAD / sqrt 2, which removes the smooth soft-bounds trend), capped at the number
  of reads in the phase.
- weak RESET (pulse-train down phase): ln R = ln(1 / G_read) against the pulses of the phase
  (0 = the read before it) is fitted per cell with a continuous two-segment line by least
  absolute deviations (robust to random-telegraph excursions; knee by search, at least a fifth
  of the phase after it): slope before the knee (``ln_r_slope_early``), after it
  (``ln_r_slope_late``), R at pulse 0 from the fit (``r0_mean_ohm``). [D] quotes the slopes as
  the means of their per-device distributions (m1 ~ 7e-4, m2 ~ 3e-5, both exponential, whose
  medians are 0.69 of their means), so the slope metrics are means over cells; the medians are
  given as ``*_median``. R is read through the access transistor (use a high `vg_read`).

Values of a run are aggregated over cells (and cycles) with medians unless named otherwise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .metrics import Tables, distribution, metrics_for

MIN_FIT_READS = 20  # reads in a down phase below which no ln R knee fit is attempted
MIN_LATE_FRACTION = 0.2  # least part of a down phase (in pulses) after the fitted knee
END_FRACTION = 0.05  # last part of a phase whose median is the level the phase ends at


def _median(x: Any) -> float:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else math.nan


def _spread(frame: pd.DataFrame, column: str, name: str) -> dict[str, float]:
    """Cycle-to-cycle (median of per-cell std) and device-to-device (std of per-cell medians)."""
    per_cell = frame.groupby(["row", "col"])[column]
    medians = per_cell.median().dropna()
    return {f"{name}_c2c_std": _median(per_cell.std(ddof=1)),
            f"{name}_d2d_std": float(medians.std(ddof=1)) if len(medians) > 1 else math.nan}  # fmt: skip


@metrics_for("cycling", needs="cycles", empty={"n_cells": 0, "n_cycles": 0})
def cycling_metrics(tables: Tables, parameters: dict[str, Any]) -> dict[str, float]:
    """Switching voltages, LRS/HRS and ON/OFF over all cells and cycles (cycle 0 excluded)."""
    cycles = tables["cycles"]
    c = cycles[cycles["cycle"] >= 1]
    out = {"n_cells": int(cycles.groupby(["row", "col"]).ngroups), "n_cycles": int(len(c))}
    if c.empty:
        return out
    switched = np.isfinite(c["v_set"]) & np.isfinite(c["v_reset"])
    out |= {"v_set_median": _median(c["v_set"]), "v_reset_median": _median(c["v_reset"]),
            "on_off_median": _median(c["on_off"]), "switch_yield": float(switched.mean()),
            "g_lrs_median_uS": _median(c["g_lrs_s"] * 1e6),
            "g_hrs_median_uS": _median(c["g_hrs_s"] * 1e6)}  # fmt: skip
    out |= distribution(c["v_set"], "v_set") | distribution(c["v_reset"], "v_reset")
    out |= {"on_off_p05": float(np.nanpercentile(c["on_off"], 5)),
            "on_off_p95": float(np.nanpercentile(c["on_off"], 95)),
            "g_lrs_std_uS": float(np.nanstd(c["g_lrs_s"] * 1e6, ddof=1)) if len(c) > 1 else math.nan,
            "g_hrs_std_uS": float(np.nanstd(c["g_hrs_s"] * 1e6, ddof=1)) if len(c) > 1 else math.nan}  # fmt: skip
    for column in ("v_set", "v_reset", "on_off"):
        out |= _spread(c, column, column)
    return out


@metrics_for("endurance", needs="window", empty={"n_cells": 0})
def endurance_metrics(tables: Tables, parameters: dict[str, Any]) -> dict[str, float]:
    """Pairs applied and window retained per cell (first vs last checkpoint), medians."""
    w = tables["window"]
    w = w.sort_values(["row", "col", "cycles"], kind="stable")
    per_cell = w.groupby(["row", "col"])
    first, last = per_cell.first(), per_cell.last()
    cells = tables.get("cells")
    stopped = int(cells["stopped_early"].astype(bool).sum()) if cells is not None else 0
    return {
        "n_cells": int(len(last)),
        "pulses": _median(last["cycles"]),
        "pulses_min": float(last["cycles"].min()),
        "window_retained": _median(last["retained"]),
        "window_retained_min": float(last["retained"].min()),
        "window_initial_median_uS": _median(first["window_s"] * 1e6),
        "window_final_median_uS": _median(last["window_s"] * 1e6),
        "g_lrs_initial_median_uS": _median(first["g_lrs_s"] * 1e6),
        "g_hrs_initial_median_uS": _median(first["g_hrs_s"] * 1e6),
        "g_lrs_final_median_uS": _median(last["g_lrs_s"] * 1e6),
        "g_hrs_final_median_uS": _median(last["g_hrs_s"] * 1e6),
        "on_off_final_median": _median(last["g_lrs_s"] / last["g_hrs_s"]),
        "n_stopped_early": stopped,
    }


def knee_fit(n: Any, y: Any, candidates: int = 200, iterations: int = 20) -> tuple[float, ...]:
    """Continuous two-segment line through (n, y) by least absolute deviations: (slope before
    the knee, slope after it, knee position, value at n = 0).

    The knee is searched on `candidates` positions from the third point on, leaving at least
    `MIN_LATE_FRACTION` of the n range after it (a late slope is only quoted over a real stretch
    of the train); the L1 fit (iteratively reweighted least squares) follows the majority of the
    reads, so a random-telegraph excursion does not pass for a knee or a slope."""
    n, y = np.asarray(n, dtype=float), np.asarray(y, dtype=float)
    if len(n) < 6:
        return (math.nan,) * 4
    last = n.max() - MIN_LATE_FRACTION * (n.max() - n.min())
    inner = n[2:][n[2:] <= last]
    if not len(inner):
        return (math.nan,) * 4
    knees = np.unique(np.quantile(inner, np.linspace(0, 1, candidates)))
    h = np.maximum(n[None, :] - knees[:, None], 0.0)  # (knees, points)
    w = np.ones_like(n)
    for _ in range(iterations + 1):
        hw = h * w
        xtx = np.empty((len(knees), 3, 3))
        xtx[:, 0, 0], xtx[:, 0, 1], xtx[:, 1, 1] = w.sum(), w @ n, w @ (n * n)
        xtx[:, 0, 2], xtx[:, 1, 2], xtx[:, 2, 2] = hw.sum(axis=1), hw @ n, (hw * h).sum(axis=1)
        xtx[:, 1, 0], xtx[:, 2, 0], xtx[:, 2, 1] = xtx[:, 0, 1], xtx[:, 0, 2], xtx[:, 1, 2]
        xty = np.stack([np.full(len(knees), w @ y), np.full(len(knees), (w * n) @ y), hw @ y], 1)
        coef = np.linalg.solve(xtx + 1e-12 * np.eye(3), xty[..., None])[..., 0]
        resid = y - coef[:, :1] - coef[:, 1:2] * n - coef[:, 2:] * h
        best = int(np.argmin(np.abs(resid).sum(axis=1)))
        w = 1.0 / np.maximum(np.abs(resid[best]), 1e-6)
    a, b, c = coef[best]
    return float(b), float(b + c), float(knees[best]), float(a)


def _phase_reads(d: pd.DataFrame, cycle: int, phase: str, with_start: bool) -> pd.DataFrame:
    """One cell's reads of one phase in one cycle, optionally with the read just before it."""
    mask = (d["cycle"] == cycle) & (d["phase"] == phase)
    if not mask.any():
        return d.iloc[0:0]
    if with_start:
        first = int(np.argmax(mask.to_numpy()))
        if first > 0:
            mask.iloc[first - 1] = True
    return d[mask]


def down_phase_ln_r(d: pd.DataFrame, cycle: int) -> tuple[np.ndarray, np.ndarray]:
    """One cell's down phase of `cycle` as (pulses into the phase, ln R = ln(1 / G_read)),
    starting with the read before its first pulse (pulse 0); empty if there is none."""
    reads = _phase_reads(d, cycle, "down", True)
    reads = reads[reads["g_s"] > 0]
    k = reads["k"].to_numpy(float)
    if len(k) and reads["phase"].iloc[0] != "down":
        k[0] = 0.0
    return k, -np.log(reads["g_s"].to_numpy(float))


def _end_level(g: np.ndarray) -> float:
    """The level a phase ends at: median of its last `END_FRACTION` of reads (at least 3)."""
    if not len(g):
        return math.nan
    return float(np.median(g[-max(3, int(END_FRACTION * len(g))) :]))


def _states(g: np.ndarray, window: float) -> float:
    """Distinguishable levels along one monotonic phase (module docstring)."""
    steps = np.abs(np.diff(g))
    if len(steps) < 3 or not window > 0:
        return math.nan
    dd = np.diff(np.diff(g))
    sigma = 1.4826 * np.median(np.abs(dd - np.median(dd))) / math.sqrt(2)
    return float(min(len(g), window / max(np.median(steps), 2 * sigma, 1e-30)))


def cells_in_pulse_order(train: pd.DataFrame) -> list[tuple[tuple[int, int], pd.DataFrame]]:
    """Each cell's reads in pulse order (index reset)."""
    train = train.sort_values(["row", "col", "n"], kind="stable")
    return [
        (cell, d.reset_index(drop=True)) for cell, d in train.groupby(["row", "col"], sort=False)
    ]


def train_cells(train: pd.DataFrame) -> pd.DataFrame:
    """Per cell and cycle: G_min, G_max, G_sym (S), states, step sizes and noise (S), and the
    weak-RESET ln R fit of the down phase (NaN where a phase is missing)."""
    rows = []
    for (r, c), d in cells_in_pulse_order(train):
        for cycle in sorted(set(d["cycle"])):
            down = _phase_reads(d, cycle, "down", True)["g_s"].to_numpy()
            up = _phase_reads(d, cycle, "up", True)["g_s"].to_numpy()
            alt = _phase_reads(d, cycle, "alt", False)["g_s"].to_numpy()
            g_min, g_max = _end_level(down), _end_level(up)
            row = {"row": r, "col": c, "cycle": cycle, "g_min_s": g_min, "g_max_s": g_max,
                   "g_sym_s": float(np.median(alt[len(alt) // 2 :])) if len(alt) else math.nan,
                   "states": _states(up, g_max - g_min), "states_down": _states(down, g_max - g_min),
                   "dg_up_s": float(np.median(np.diff(up))) if len(up) > 1 else math.nan,
                   "dg_down_s": float(np.median(np.diff(down))) if len(down) > 1 else math.nan}  # fmt: skip
            n, ln_r = down_phase_ln_r(d, cycle)
            fit = knee_fit(n, ln_r) if len(n) >= MIN_FIT_READS else (math.nan,) * 4
            row |= dict(zip(("ln_r_slope_early", "ln_r_slope_late", "ln_r_knee", "ln_r0"), fit,
                            strict=True))  # fmt: skip
            rows.append(row)
    return pd.DataFrame(rows)


@metrics_for("pulse-train", needs="train", empty={"n_cells": 0})
def pulse_train_metrics(tables: Tables, parameters: dict[str, Any]) -> dict[str, float]:
    """Response range, symmetry point, states and the weak-RESET ln R slopes (medians over
    cells; slopes and R0 as means, see the module docstring)."""
    train = tables["train"]
    per = train_cells(train)
    cell = per.groupby(["row", "col"]).median(numeric_only=True)
    out = {"n_cells": int(len(cell)),
           "pulses_per_cell": _median(train.groupby(["row", "col"])["n"].max()),
           "g_min_uS": _median(cell["g_min_s"] * 1e6), "g_max_uS": _median(cell["g_max_s"] * 1e6),
           "g_sym_uS": _median(cell["g_sym_s"] * 1e6), "states": _median(cell["states"]),
           "states_down": _median(cell["states_down"]),
           "dg_up_median_uS": _median(cell["dg_up_s"] * 1e6),
           "dg_down_median_uS": _median(cell["dg_down_s"] * 1e6)}  # fmt: skip
    out |= distribution(cell["g_sym_s"] * 1e6, "g_sym_uS")
    fitted = cell.dropna(subset=["ln_r_slope_early"])
    if len(fitted):
        r0 = np.exp(fitted["ln_r0"])
        out |= {"ln_r_slope_early": float(fitted["ln_r_slope_early"].mean()),
                "ln_r_slope_late": float(fitted["ln_r_slope_late"].mean()),
                "ln_r_slope_early_median": _median(fitted["ln_r_slope_early"]),
                "ln_r_slope_late_median": _median(fitted["ln_r_slope_late"]),
                "ln_r_knee_median": _median(fitted["ln_r_knee"]),
                "r0_mean_ohm": float(r0.mean()),
                "r0_std_ohm": float(r0.std(ddof=1)) if len(r0) > 1 else math.nan}  # fmt: skip
    return out
