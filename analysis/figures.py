"""Figures: one publication style, the plot shapes protocols share, and the figure registry.

Every figure is a `matplotlib.figure.Figure` on the Agg canvas (no pyplot, no global state),
drawn in `STYLE`; axes are labelled "quantity (unit)" from `(quantity, unit)` pairs. A protocol
adds its figures with a decorated function of its tables, its timeseries and its parameters::

    @figures_for("endurance")
    def endurance_figures(tables, timeseries, parameters):
        w = tables["window"]
        return [("window", xy_logx({"window": (w["pulses"], w["g_on_s"] / w["g_off_s"])},
                                   ("Pulse pairs", "1"), ("ON/OFF ratio", "1")))]

Shapes: `cell_map` (wafer-map-style per-cell values, NaN marked), `histogram` (with normal
fits), `traces` (curves on log |y|: I-V loops, forming ramps), `xy_logx` (vs log x: endurance,
retention), `lines` (the general case: pulse trains, P&V iterations).
"""

from __future__ import annotations

import functools
import io
import itertools
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import matplotlib as mpl
import numpy as np
import pandas as pd
from cycler import cycler
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .metrics import has_rows

Tables = dict[str, pd.DataFrame]
FiguresFn = Callable[[Tables, pd.DataFrame, dict[str, Any]], list[tuple[str, Figure]]]
Axis = tuple[str, str]  # (quantity, unit)
Series = Mapping[str, tuple[Any, Any]]  # legend label -> (x values, y values)
F = TypeVar("F", bound=Callable[..., Any])

#: protocol name -> figures function(tables, timeseries, parameters) -> [(name, Figure)]
FIGURES: dict[str, FiguresFn] = {}

SIZE_IN = (3.5, 2.6)  # one journal column
COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans", "font.size": 8, "axes.labelsize": 8, "axes.titlesize": 8,
    "legend.fontsize": 7, "xtick.labelsize": 7, "ytick.labelsize": 7, "legend.frameon": False,
    "axes.spines.top": False, "axes.spines.right": False, "axes.linewidth": 0.6,
    "axes.grid": True, "grid.linewidth": 0.4, "grid.alpha": 0.35, "axes.prop_cycle": cycler(color=COLOURS),
    "lines.linewidth": 1.0, "lines.markersize": 3, "xtick.direction": "in", "ytick.direction": "in",
    "image.cmap": "viridis", "figure.dpi": 100, "savefig.dpi": 200,
}  # fmt: skip


def figures_for(protocol: str, *, needs: str | None = None) -> Callable[[FiguresFn], FiguresFn]:
    """Register the decorated function as the figures of `protocol`; with `needs`, it runs only
    when that table has rows (no figures otherwise), so it may index it."""

    def register(fn: FiguresFn) -> FiguresFn:
        if needs is not None:
            inner = fn

            @functools.wraps(inner)
            def fn(tables: Tables, timeseries: pd.DataFrame,
                   parameters: dict[str, Any]) -> list[tuple[str, Figure]]:  # fmt: skip
                if not has_rows(tables, needs):
                    return []
                return inner(tables, timeseries, parameters)

        FIGURES[protocol] = fn
        return fn

    return register


@contextmanager
def style() -> Iterator[None]:
    """The publication style, for drawing anything beyond the shapes below."""
    with mpl.rc_context(STYLE):
        yield


def styled(fn: F) -> F:
    """Draw everything `fn` draws in `STYLE`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with style():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def label(axis: Axis) -> str:
    quantity, unit = axis
    return f"{quantity} ({unit})" if unit else quantity


@styled
def new_figure(size_in: tuple[float, float] = SIZE_IN) -> tuple[Figure, Any]:
    """An empty styled figure with one axes, on the Agg canvas."""
    fig = Figure(figsize=size_in, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    with style():
        fig.savefig(buf, format="png")
    return buf.getvalue()


@styled
def cell_map(rows: Any, cols: Any, values: Any, value: Axis, *, shape: tuple[int, int] | None = None,
             missing: str = "no value", symmetric: bool = False, title: str = "") -> Figure:  # fmt: skip
    """Wafer-map-style array of per-cell values with a colour bar; cells listed with a NaN value
    are crossed (legend `missing`), cells not listed stay blank. `symmetric` centres a diverging
    scale on 0 (disturbance maps)."""
    rows, cols = np.asarray(rows, dtype=int), np.asarray(cols, dtype=int)
    values = np.asarray(values, dtype=float)
    n_rows, n_cols = shape or (int(rows.max(initial=-1)) + 1, int(cols.max(initial=-1)) + 1)
    grid = np.full((max(n_rows, 1), max(n_cols, 1)), np.nan)
    grid[rows, cols] = values
    fig, ax = new_figure((SIZE_IN[0], SIZE_IN[0] * 0.85))
    cmap = mpl.colormaps["RdBu_r" if symmetric else STYLE["image.cmap"]].with_extremes(bad="white")
    limit = np.nanmax(np.abs(values)) if symmetric and np.isfinite(values).any() else None
    image = ax.imshow(grid, cmap=cmap, origin="upper", interpolation="nearest",
                      vmin=-limit if limit else None, vmax=limit)  # fmt: skip
    fig.colorbar(image, ax=ax, label=label(value), shrink=0.9)
    nan = ~np.isfinite(values)
    if nan.any():
        ax.plot(
            cols[nan], rows[nan], "x", color="0.3", markersize=4, label=missing, linestyle="none"
        )
        ax.legend(loc="upper left", bbox_to_anchor=(0, -0.12), ncols=1)
    ax.set(xlabel="Column", ylabel="Row", title=title)
    ax.grid(False)
    ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    return fig


@styled
def histogram(samples: Mapping[str, Any] | Any, value: Axis, *, fit: bool = True, bins: Any = "auto",
              title: str = "") -> Figure:  # fmt: skip
    """Histogram of one sample or of several (a mapping label -> values), each with its normal
    fit (mean, sample std) drawn as counts and given in the legend."""
    groups = samples if isinstance(samples, Mapping) else {"": samples}
    fig, ax = new_figure()
    quantity, unit = value
    for (name, raw), colour in zip(groups.items(), itertools.cycle(COLOURS)):
        x = np.asarray(raw, dtype=float)
        x = x[np.isfinite(x)]
        if not len(x):
            continue
        counts, edges, _ = ax.hist(x, bins=bins, color=colour, alpha=0.45, edgecolor=colour,
                                   linewidth=0.5, label=f"{name} (N = {len(x)})".strip())  # fmt: skip
        if fit and len(x) > 1 and x.std(ddof=1) > 0:
            mu, sd = x.mean(), x.std(ddof=1)
            grid = np.linspace(edges[0] - sd, edges[-1] + sd, 200)
            pdf = np.exp(-0.5 * ((grid - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
            ax.plot(grid, pdf * len(x) * np.diff(edges).mean(), color=colour,
                    label=f"normal fit: μ = {mu:.4g} {unit}, σ = {sd:.3g} {unit}")  # fmt: skip
    ax.set(xlabel=label(value), ylabel="Count", title=title)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.35)  # room for the legend above the bars
    ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    if 0 < len(groups) <= 8:
        ax.legend(loc="upper left")
    return fig


@styled
def lines(series: Series, x: Axis, y: Axis, *, logx: bool = False, logy: bool = False,
          marker: str = "", title: str = "") -> Figure:  # fmt: skip
    """Curves y(x), one per legend label. On a log y axis |y| is drawn (currents of either sign)
    and zeros dropped; on a log x axis, x <= 0 is dropped. More than three curves put the legend
    to the right of the axes."""
    outside = 3 < len(series) <= 10
    fig, ax = new_figure((SIZE_IN[0] * 1.5, SIZE_IN[1]) if outside else SIZE_IN)
    for name, (xs, ys) in series.items():
        xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        if logy:
            ys = np.abs(ys)
        keep = (
            np.isfinite(xs)
            & np.isfinite(ys)
            & (ys > 0 if logy else True)
            & (xs > 0 if logx else True)
        )
        ax.plot(xs[keep], ys[keep], marker=marker, label=name)
    ax.set(xlabel=label(x), ylabel=label(y), title=title,
           xscale="log" if logx else "linear", yscale="log" if logy else "linear")  # fmt: skip
    if outside:
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
    elif series:
        ax.legend()
    return fig


def traces(series: Series, x: Axis, y: Axis, **kwargs: Any) -> Figure:
    """Curves on a log |y| axis: I-V loops and ramps on log current."""
    return lines(series, x, y, logy=True, **kwargs)


def xy_logx(series: Series, x: Axis, y: Axis, **kwargs: Any) -> Figure:
    """Curves against a log x axis: window vs cycles, drift vs time."""
    return lines(series, x, y, logx=True, marker="o", **kwargs)


def pick_cells(cells: pd.DataFrame, by: str, n: int = 5) -> list[tuple[int, int]]:
    """Up to `n` cells spread over the range of column `by` (lowest, ..., highest), then one
    cell where `by` is NaN if any: the few cells worth showing as traces."""
    ranked = cells.dropna(subset=[by]).sort_values(by)
    idx = np.unique(np.linspace(0, len(ranked) - 1, min(n, len(ranked))).round().astype(int))
    picked = (
        [(int(r.row), int(r.col)) for r in ranked.iloc[idx].itertuples()] if len(ranked) else []
    )
    nan = cells[cells[by].isna()]
    return picked + [(int(nan.row.iloc[0]), int(nan.col.iloc[0]))] if len(nan) else picked


def of_cells(
    timeseries: pd.DataFrame, cells: list[tuple[int, int]]
) -> dict[tuple[int, int], pd.DataFrame]:
    """The timeseries rows of each of `cells`, in that order."""
    key = timeseries["row"].to_numpy(np.int64) << 32 | timeseries["col"].to_numpy(np.int64)
    subset = timeseries[np.isin(key, [r << 32 | c for r, c in cells])]
    groups = dict(tuple(subset.groupby(["row", "col"], sort=False)))
    return {cell: groups[cell] for cell in cells if cell in groups}


@figures_for("forming", needs="cells")
def forming_figures(
    tables: Tables, timeseries: pd.DataFrame, parameters: dict[str, Any]
) -> list[tuple[str, Figure]]:
    """V_form histogram with its normal fit, V_form and post-forming G maps, ramp traces."""
    cells = tables["cells"]
    formed = cells["formed"].astype(bool)
    cells = cells.assign(
        v_form=cells["v_form"].where(formed), g_form_uS=cells["g_form"].where(formed) * 1e6
    )
    out = [
        ("v_form_histogram", histogram({"formed cells": cells["v_form"]}, ("Forming voltage V_form", "V"))),
        ("v_form_map", cell_map(cells["row"], cells["col"], cells["v_form"], ("V_form", "V"), missing="not formed")),
        ("g_form_map", cell_map(cells["row"], cells["col"], cells["g_form_uS"], ("G after forming", "µS"),
                                missing="not formed")),
    ]  # fmt: skip
    ramps = of_cells(timeseries[timeseries["op"] == "form_step"], pick_cells(cells, "v_form"))
    if ramps:
        v_form = cells.set_index(["row", "col"])["v_form"]
        series = {f"cell ({r}, {c}): " + (f"{v_form[r, c]:.3g} V" if v_form[r, c] > 0 else "not formed"):
                  (d["v"], d["i_a"]) for (r, c), d in ramps.items()}  # fmt: skip
        fig = traces(series, ("Applied voltage V", "V"), ("Current |I|", "A"))
        with style():  # the forming step: the last of a formed cell's ramp
            for (cell, d), colour in zip(ramps.items(), itertools.cycle(COLOURS)):
                if v_form[cell] > 0:
                    fig.axes[0].plot(
                        d["v"].iloc[-1:], d["i_a"].abs().iloc[-1:], "o", mfc="none", color=colour
                    )
        out.append(("forming_ramps", fig))
    return out


# Each protocol family registers its figures on import.
from . import figures_disturb, figures_programming, figures_switching  # noqa: E402,F401
