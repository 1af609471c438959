"""Line voltages -> the few distinct cell biases ("combos") and the cells that carry each.

Rows are grouped by (V_SL, V_WL), columns by V_BL; every (row group, column group) pair is one
combo. A cell whose BL or SL floats (NaN) carries no current and sees no bias; a floating WL
is a gate at 0 V; a cell with V_BL == V_SL sees no bias. Work is then proportional to the
number of biased cells, not the array size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BiasPlan:
    """Distinct biases and, for the biased cells, their flat index and combo."""

    bias: np.ndarray  # (n_combo, 3): v_bl, v_sl, v_wl
    cells: np.ndarray | None  # flat indices of biased cells; None = every cell
    combo: np.ndarray | None  # combo per biased cell; None = the single combo 0

    @property
    def empty(self) -> bool:
        return len(self.bias) == 0


def _as_line(v: object, n: int, name: str) -> np.ndarray:
    arr = np.asarray(v, dtype=float)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    return np.round(arr, 9)  # 1 nV: stable cache keys, far below any physical effect


def plan_bias(v_bl: object, v_sl: object, v_wl: object, rows: int, cols: int) -> BiasPlan:
    """Group the lines of a rows x cols array into combos of identical bias."""
    v_bl = _as_line(v_bl, cols, "v_bl")
    v_sl = _as_line(v_sl, rows, "v_sl")
    v_wl = np.nan_to_num(_as_line(v_wl, rows, "v_wl"), nan=0.0)
    row_ok = np.flatnonzero(np.isfinite(v_sl))
    col_ok = np.flatnonzero(np.isfinite(v_bl))
    row_key, row_grp = np.unique(v_sl[row_ok] + 1j * v_wl[row_ok], return_inverse=True)
    row_keys = np.stack([row_key.real, row_key.imag], axis=1)
    col_keys, col_grp = np.unique(v_bl[col_ok], return_inverse=True)
    row_grp, col_grp = row_grp.reshape(-1), col_grp.reshape(-1)
    if len(row_keys) == 1 and len(col_keys) == 1 and len(row_ok) == rows and len(col_ok) == cols:
        vb, (vs, vw) = col_keys[0], row_keys[0]
        if vb == vs:
            return _no_bias()
        return BiasPlan(np.asarray([(vb, vs, vw)], dtype=float), None, None)
    bias, cells, combo = [], [], []
    for ci, vb in enumerate(col_keys):
        c_idx = col_ok[col_grp == ci]
        for ri, (vs, vw) in enumerate(row_keys):
            if vb == vs:
                continue
            r_idx = row_ok[row_grp == ri]
            cells.append((r_idx[:, None] * cols + c_idx[None, :]).reshape(-1))
            combo.append(np.full(len(cells[-1]), len(bias), dtype=np.int32))
            bias.append((vb, vs, vw))
    if not bias:
        return _no_bias()
    return BiasPlan(np.asarray(bias, dtype=float), np.concatenate(cells), np.concatenate(combo))


def _no_bias() -> BiasPlan:
    return BiasPlan(np.zeros((0, 3)), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32))
