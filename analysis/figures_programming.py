"""Figures of `program-verify`, `read` and `retention`.

program-verify: iterations histogram, convergence traces (verify reads relative to the target,
with the acceptance band), programmed-level histogram, programming noise vs target with its
fit. read: conductance map, read noise vs G. retention: drift mean and sigma vs log time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .figures import (
    Tables,
    cell_map,
    figures_for,
    histogram,
    lines,
    of_cells,
    pick_cells,
    style,
    xy_logx,
)
from .metrics_programming import drift_by_time, level_stats, sigma_fit

G_US = ("Conductance G", "µS")


def scatter(series: dict[str, tuple[Any, Any]], x: tuple[str, str], y: tuple[str, str],
            *, fit: tuple[float, float] | None = None) -> Figure:  # fmt: skip
    """Points y(x), one colour per label, with an optional line y = slope x + intercept."""
    fig = lines(series, x, y, marker="o")
    ax = fig.axes[0]
    with style():
        for line in ax.lines:
            line.set_linestyle("none")
        if fit is not None and np.isfinite(fit).all():
            top = max(np.nanmax(np.asarray(v[0], dtype=float), initial=0) for v in series.values())
            grid = np.linspace(0, top * 1.05, 50)
            ax.plot(grid, fit[0] * grid + fit[1], "-", color="0.3",
                    label=f"fit: {fit[0]:.3g} G + {fit[1]:.2g} µS")  # fmt: skip
            ax.legend()
    return fig


@figures_for("program-verify", needs="cells")
def program_verify_figures(
    tables: Tables, timeseries: pd.DataFrame, parameters: dict[str, Any]
) -> list[tuple[str, Figure]]:
    cells = tables["cells"]
    ok = cells["converged"].astype(bool)
    levels = level_stats(cells)
    out = [
        ("iterations_histogram", histogram({"converged": cells["iterations"][ok],
                                            "not converged": cells["iterations"][~ok]},
                                           ("Iterations", "pulses"), fit=False)),
        ("programmed_levels", histogram({"converged cells": cells["final_g_s"][ok] * 1e6}, G_US,
                                        fit=False, bins=200)),
        ("sigma_vs_target", scatter({"per level": (levels["target_uS"], levels["std_uS"])},
                                    ("Target G", "µS"), ("σ of final G", "µS"),
                                    fit=sigma_fit(levels))),
    ]  # fmt: skip
    reads = of_cells(timeseries[timeseries["op"] == "read"], pick_cells(cells, "iterations"))
    if reads:
        target = cells.set_index(["row", "col"])["target_g_s"]
        series = {f"cell ({r}, {c}): {target[r, c] * 1e6:.3g} µS":
                  (np.arange(len(d)), (d["g_s"] / target[r, c] - 1) * 100)
                  for (r, c), d in reads.items()}  # fmt: skip
        fig = lines(series, ("Verify read", "1"), ("G / G_target - 1", "%"), marker=".")
        ar = 100 * float(parameters.get("acceptance", np.nan))
        with style():
            fig.axes[0].axhspan(-ar, ar, color="0.85", zorder=0, label="acceptance")
        out.append(("convergence_traces", fig))
    return out


@figures_for("read", needs="cells")
def read_figures(
    tables: Tables, timeseries: pd.DataFrame, parameters: dict[str, Any]
) -> list[tuple[str, Figure]]:
    cells = tables["cells"]
    return [
        ("g_map", cell_map(cells["row"], cells["col"], cells["g_mean_s"] * 1e6, ("Mean G", "µS"))),
        ("noise_vs_g", scatter({"cells": (cells["g_mean_s"] * 1e6, cells["g_std_s"] * 1e6)},
                               ("Mean G", "µS"), ("Read noise σ", "µS"))),
    ]  # fmt: skip


@figures_for("retention", needs="reads")
def retention_figures(
    tables: Tables, timeseries: pd.DataFrame, parameters: dict[str, Any]
) -> list[tuple[str, Figure]]:
    reads = tables["reads"]
    d = drift_by_time(reads)
    series = {"mean": (d["t_s"], d["mean_uS"]), "σ": (d["t_s"], d["sigma_uS"])}
    return [
        ("drift_vs_time", xy_logx(series, ("Time after time zero t - t0", "s"), ("Drift", "µS")))
    ]
