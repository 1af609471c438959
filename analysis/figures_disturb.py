"""Figures of the disturb protocol: half-select drift and k, parallel-update and mapping maps.

- half-select: drift |G/G0 - 1| against the half-pulse count (log axis; the largest over the
  cells, per bound and polarity), k per cell at Gmin (SET) and Gmax (RESET) as cell maps;
- parallel: the dG map on a diverging scale, the expected outer product x*delta beside it, and
  dG against x*delta (never-coincident cells marked);
- map: the target, the programmed map, and the change of every selected cell (diverging).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .figures import COLOURS, Tables, cell_map, figures_for, label, new_figure, styled, xy_logx
from .metrics import has_rows


@styled
def scatter(groups: dict[str, tuple[Any, Any]], x: tuple[str, str], y: tuple[str, str],
            *, title: str = "") -> Figure:  # fmt: skip
    """y against x as points, one colour per group, with a zero line on each axis."""
    fig, ax = new_figure()
    for (name, (xs, ys)), colour in zip(groups.items(), COLOURS, strict=False):
        ax.plot(xs, ys, "o", color=colour, mfc="none", label=f"{name} (N = {len(xs)})")
    ax.axhline(0, color="0.5", linewidth=0.5)
    ax.axvline(0, color="0.5", linewidth=0.5)
    ax.set(xlabel=label(x), ylabel=label(y), title=title)
    ax.legend(loc="upper left")
    return fig


def drift_rows(checkpoints: pd.DataFrame) -> pd.DataFrame:
    """|G/G0 - 1| at every checkpoint of every train, G0 being the read just before the train
    (the start read, or the end of the previous train of the same cell and bound)."""
    out = []
    for (_, _, bound), d in checkpoints.groupby(["row", "col", "bound"], observed=True, sort=False):
        train, g_start, g_prev = None, np.nan, np.nan
        for t in d.itertuples():
            if t.train != train:
                train, g_start = t.train, g_prev
            if t.n > 0:
                out.append((bound, str(t.train), t.n, abs(t.g_s / g_start - 1)))
            g_prev = t.g_s
    return pd.DataFrame(out, columns=["bound", "train", "n", "drift"])


def half_select_figures(checkpoints: pd.DataFrame, k: pd.DataFrame) -> list[tuple[str, Figure]]:
    out = []
    drift = drift_rows(checkpoints)
    half = drift[drift["train"].str.startswith("half")]
    if len(half):
        worst = half.groupby(["bound", "train", "n"], sort=True)["drift"].max().reset_index()
        series = {f"{b}, {t}": (d["n"], d["drift"] * 100) for (b, t), d in
                  worst.groupby(["bound", "train"], sort=True)}  # fmt: skip
        out.append(("half_select_drift", xy_logx(series, ("Half-select pulses", "1"),
                                                 ("Largest drift |G/G0 - 1|", "%"))))  # fmt: skip
    for bound, name in (("gmin", "k_set"), ("gmax", "k_reset")):
        d = k[k["bound"] == bound]
        if len(d):
            out.append((f"{name}_map", cell_map(d["row"], d["col"], d["k"], (name, "1"),
                                                title=f"k at {bound}")))  # fmt: skip
    return out


def parallel_figures(cells: pd.DataFrame) -> list[tuple[str, Figure]]:
    dg_uS = (cells["g_s"] - cells["g_before_s"]) * 1e6
    expected = cells["x"] * cells["delta"]
    never = (cells["n_set"] + cells["n_reset"]) == 0
    return [
        ("update_dg_map", cell_map(cells["row"], cells["col"], dg_uS, ("dG", "µS"),
                                   symmetric=True, title="Parallel update: measured dG")),
        ("update_expected_map", cell_map(cells["row"], cells["col"], expected, ("x·δ", "1"),
                                         symmetric=True, title="Expected outer product")),
        ("update_scatter", scatter({"coincident": (expected[~never], dg_uS[~never]),
                                    "never coincident": (expected[never], dg_uS[never])},
                                   ("Expected x·δ", "1"), ("Measured dG", "µS"))),
    ]  # fmt: skip


def map_figures(cells: pd.DataFrame) -> list[tuple[str, Figure]]:
    inside = cells[cells["in_block"].astype(bool)]
    change = (cells["g_s"] / cells["g_before_s"] - 1) * 100
    return [
        ("map_target", cell_map(inside["row"], inside["col"], inside["target_s"] * 1e6,
                                ("Target G", "µS"), title="Target")),
        ("map_programmed", cell_map(inside["row"], inside["col"], inside["g_s"] * 1e6,
                                    ("G", "µS"), title="Programmed by parallel updates")),
        ("map_disturbance", cell_map(cells["row"], cells["col"], change, ("G/G0 - 1", "%"),
                                     symmetric=True, title="Change of every selected cell")),
    ]  # fmt: skip


@figures_for("disturb")
def disturb_figures(
    tables: Tables, timeseries: pd.DataFrame, parameters: dict[str, Any]
) -> list[tuple[str, Figure]]:
    out = []
    if has_rows(tables, "k"):
        out += half_select_figures(tables["half_select"], tables["k"])
    if has_rows(tables, "parallel"):
        out += parallel_figures(tables["parallel"])
    if has_rows(tables, "map"):
        out += map_figures(tables["map"])
    return out
