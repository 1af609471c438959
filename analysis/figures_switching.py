"""Figures of the switching protocols: cycling (I-V loops, V_SET/V_RESET histograms, LRS/HRS per
cycle), endurance (window and LRS/HRS against log cycles), pulse-train (response curves,
symmetry-point convergence, ln R of weak-RESET trains with their two-segment fits)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .figures import (
    Tables,
    figures_for,
    histogram,
    lines,
    of_cells,
    pick_cells,
    style,
    traces,
    xy_logx,
)
from .metrics_switching import (
    MIN_FIT_READS,
    cells_in_pulse_order,
    down_phase_ln_r,
    knee_fit,
    train_cells,
)

Figures = list[tuple[str, Figure]]
N_CELLS = 3  # cells drawn as individual curves


def _label(cell: tuple[int, int]) -> str:
    return f"cell ({cell[0]}, {cell[1]})"


def _halves(d: pd.DataFrame) -> pd.Series:
    """Half-sweep index of each sweep point of one cell: every half is followed by its read, so
    the reads before a point count the halves before it (0 = the initial RESET half)."""
    is_read = (d["op"] == "read").to_numpy()
    is_sweep = (d["op"] == "sweep").to_numpy()
    first = int(np.argmax(is_sweep)) if is_sweep.any() else 0
    reads = np.cumsum(is_read) - np.cumsum(is_read)[first]
    return pd.Series(reads, index=d.index)[is_sweep]


@figures_for("cycling", needs="cycles")
def cycling_figures(
    tables: Tables, timeseries: pd.DataFrame, parameters: dict[str, Any]
) -> Figures:
    """I-V loops on log |I| (first and last cycle of a few cells), switching-voltage histograms,
    LRS/HRS against cycle."""
    cycles = tables["cycles"]
    c = cycles[cycles["cycle"] >= 1]
    out = []
    per_cell = c.groupby(["row", "col"], as_index=False)["v_set"].median()
    ops = timeseries[timeseries["op"].isin(["sweep", "read"])]
    series = {}
    for cell, d in of_cells(ops, pick_cells(per_cell, "v_set", N_CELLS)).items():
        half = _halves(d)
        sweep = d.loc[half.index].assign(cycle=(half + 1) // 2)
        last = int(sweep["cycle"].max())
        for k in sorted({1, last} & set(sweep["cycle"])):
            s = sweep[sweep["cycle"] == k]
            series[f"{_label(cell)}, cycle {k}"] = (s["v"], s["i_a"])
    if series:
        out.append(("iv_loops", traces(series, ("Cell voltage V", "V"), ("Current |I|", "A"))))
    out.append(("switching_voltages", histogram({"V_SET": c["v_set"], "V_RESET": c["v_reset"]},
                                                ("Switching voltage", "V"))))  # fmt: skip
    med = c.groupby("cycle")[["g_lrs_s", "g_hrs_s"]].median() * 1e6
    out.append(("lrs_hrs_cycles", lines({"LRS (median)": (med.index, med["g_lrs_s"]),
                                         "HRS (median)": (med.index, med["g_hrs_s"])},
                                        ("Cycle", ""), ("Read conductance G", "µS"), logy=True,
                                        marker="o")))  # fmt: skip
    return out


@figures_for("endurance", needs="window")
def endurance_figures(
    tables: Tables, timeseries: pd.DataFrame, parameters: dict[str, Any]
) -> Figures:
    """Window and LRS/HRS conductance against log cycles (median over cells, a few cells)."""
    w = tables["window"]
    w = w.assign(
        window_uS=w["window_s"] * 1e6, lrs_uS=w["g_lrs_s"] * 1e6, hrs_uS=w["g_hrs_s"] * 1e6
    )
    med = w.groupby("cycles")[["window_uS", "lrs_uS", "hrs_uS"]].median()
    final = w.sort_values("cycles").groupby(["row", "col"], as_index=False).last()
    series = {"median over cells": (med.index, med["window_uS"])}
    for cell in pick_cells(final, "retained", N_CELLS):
        d = w[(w["row"] == cell[0]) & (w["col"] == cell[1])]
        series[_label(cell)] = (d["cycles"], d["window_uS"])
    window = xy_logx(series, ("SET/RESET pulse pairs", ""), ("Window G_LRS - G_HRS", "µS"))
    with style():
        window.axes[0].set_ylim(bottom=0)  # the window against its closed state
    g = lines({"G_LRS (median)": (med.index, med["lrs_uS"]), "G_HRS (median)": (med.index, med["hrs_uS"])},
              ("SET/RESET pulse pairs", ""), ("Read conductance G", "µS"), logx=True, logy=True,
              marker="o")  # fmt: skip
    return [("window_vs_cycles", window), ("lrs_hrs_vs_cycles", g)]


@figures_for("pulse-train", needs="train")
def pulse_train_figures(
    tables: Tables, timeseries: pd.DataFrame, parameters: dict[str, Any]
) -> Figures:
    """G against pulse number (a few cells), the alternating phase converging to the symmetry
    point, and ln R of the down phase with its two-segment fit (weak RESET)."""
    train = tables["train"]
    per = train_cells(train)
    picked = pick_cells(per.groupby(["row", "col"], as_index=False)["g_max_s"].median(), "g_max_s",
                        N_CELLS)  # fmt: skip
    cells = {cell: d for cell, d in cells_in_pulse_order(train) if cell in picked}
    out = [("response", lines({_label(cell): (d["n"], d["g_s"] * 1e6) for cell, d in cells.items()},
                              ("Pulse number", ""), ("Read conductance G", "µS")))]  # fmt: skip
    alt = {}
    for cell, d in cells.items():
        a = d[(d["phase"] == "alt") & (d["cycle"] == d["cycle"].min())]
        if len(a):
            alt[_label(cell)] = (a["k"], a["g_s"] * 1e6)
    if alt:
        fig = lines(alt, ("Pulse in the alternating phase", ""), ("Read conductance G", "µS"))
        g_sym = float(np.nanmedian(per["g_sym_s"])) * 1e6
        with style():
            fig.axes[0].axhline(g_sym, color="0.3", linestyle="--", label=f"G_sym = {g_sym:.3g} µS")
            fig.axes[0].legend()
        out.append(("symmetry_point", fig))
    weak = {}
    for cell, d in cells_in_pulse_order(train):
        n, ln_r = down_phase_ln_r(d, int(d["cycle"].min()))
        if cell in picked and len(n) >= MIN_FIT_READS:
            weak[cell] = (n, ln_r)
    if weak:
        fig = lines({_label(cell): xy for cell, xy in weak.items()}, ("Pulse in the down phase", ""),
                    ("ln(R / 1 Ω)", ""))  # fmt: skip
        with style():  # the two-segment fits behind ln_r_slope_early / _late
            for n, ln_r in weak.values():
                early, late, knee, y0 = knee_fit(n, ln_r)
                y_knee = y0 + early * knee
                fig.axes[0].plot([0.0, knee, n.max()], [y0, y_knee, y_knee + late * (n.max() - knee)],
                                 color="0.2", linewidth=0.8, linestyle="--")  # fmt: skip
        out.append(("ln_r_down_phase", fig))
    return out
