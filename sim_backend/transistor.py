"""The 1T1R series circuit: alpha-power-law access NMOS plus a sinh-type memristor, solved for
the internal node by vectorised bisection.

Geometry: BL -- memristor -- node -- NMOS -- SL, gate on WL. Whichever NMOS terminal is lower
is its source, so in SET polarity (BL high) the source is SL and the gate sets the compliance,
while in RESET polarity (SL high) the source is the internal node and the memristor drop
reduces the effective V_GS. The bisection solves that exactly; no approximation is made.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .presets import DevicePreset

_BISECTION_STEPS = 34  # bracket <= 5 V / 2**34 -> < 0.3 nV resolution


@dataclass(frozen=True)
class SeriesSolution:
    """Cell voltage (BL side minus node), current BL -> SL through the cell, and cell power."""

    v_cell_v: np.ndarray
    i_a: np.ndarray

    @property
    def p_cell_w(self) -> np.ndarray:
        return np.abs(self.v_cell_v * self.i_a)


def nmos_drain_current(v_gs: np.ndarray, v_ds: np.ndarray, p: DevicePreset) -> np.ndarray:
    """Alpha-power-law drain current for v_ds >= 0 (Sakurai-Newton with V_Dsat = V_GS - V_th).

    Triode: I = Idsat (2 - u) u, u = V_DS / V_Dsat; saturation: Idsat (1 + lambda (V_DS - V_Dsat)).
    A small off conductance keeps the node defined when the gate is off.
    """
    v_ov = np.maximum(v_gs - p.nmos_vth_v, 0.0)
    i_dsat = p.nmos_k_a_per_v_alpha * v_ov**p.nmos_alpha
    v_dsat = np.maximum(v_ov, 1e-9)
    u = np.minimum(v_ds / v_dsat, 1.0)
    i_triode = i_dsat * (2.0 - u) * u
    i_sat_extra = i_dsat * p.nmos_lambda_per_v * np.maximum(v_ds - v_dsat, 0.0)
    return i_triode + i_sat_extra + p.nmos_g_off_s * v_ds


def nmos_saturation_current_a(v_gs: np.ndarray | float, p: DevicePreset) -> np.ndarray:
    """Idsat = K (V_GS - V_th)^alpha: the compliance current the gate sets in SET polarity."""
    v_ov = np.maximum(np.asarray(v_gs, dtype=float) - p.nmos_vth_v, 0.0)
    return p.nmos_k_a_per_v_alpha * v_ov**p.nmos_alpha


def nmos_triode_resistance_ohm(v_gs: float, p: DevicePreset) -> float:
    """Small-signal R_on at V_DS -> 0: V_Dsat / (2 Idsat)."""
    v_ov = max(v_gs - p.nmos_vth_v, 1e-12)
    return v_ov / (2.0 * float(nmos_saturation_current_a(v_gs, p)))


def memristor_current(g_s: np.ndarray, v_cell: np.ndarray, p: DevicePreset) -> np.ndarray:
    """I = G * V_read * sinh(V / V0) / sinh(V_read / V0): G is the chord conductance at V_read."""
    scale = p.v_read_v / np.sinh(p.v_read_v / p.iv_v0_v)
    return g_s * scale * np.sinh(v_cell / p.iv_v0_v)


def _transistor_current(v_node, v_sl, v_wl, p: DevicePreset) -> np.ndarray:
    """Current node -> SL, with the source at whichever terminal is lower."""
    fwd = v_node >= v_sl
    v_src = np.where(fwd, v_sl, v_node)
    v_ds = np.abs(v_node - v_sl)
    i = nmos_drain_current(v_wl - v_src, v_ds, p)
    return np.where(fwd, i, -i)


def solve_series(
    g_s: np.ndarray, v_bl: np.ndarray, v_sl: np.ndarray, v_wl: np.ndarray, p: DevicePreset
) -> SeriesSolution:
    """Solve BL-memristor-node-NMOS-SL for the node voltage (all inputs broadcast together).

    f(V_node) = I_mem(V_BL - V_node) - I_nmos(V_node -> SL) is monotone decreasing in V_node and
    changes sign between V_SL and V_BL, so plain bisection always converges.
    """
    g_s, v_bl, v_sl, v_wl = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (g_s, v_bl, v_sl, v_wl))
    )
    lo = np.minimum(v_bl, v_sl).copy()
    hi = np.maximum(v_bl, v_sl).copy()
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        f = memristor_current(g_s, v_bl - mid, p) - _transistor_current(mid, v_sl, v_wl, p)
        up = f > 0.0
        lo = np.where(up, mid, lo)
        hi = np.where(up, hi, mid)
    v_node = 0.5 * (lo + hi)
    v_cell = v_bl - v_node
    return SeriesSolution(v_cell_v=v_cell, i_a=memristor_current(g_s, v_cell, p))


class CircuitTables:
    """LRU cache of the series solution (cell voltage, current) versus conductance on a fine
    uniform G grid, one table per distinct line bias (v_bl, v_sl, v_wl).

    Pulses and reads repeat a few biases, so each bias is solved once; per-cell values are then
    linear interpolations (relative error < 1e-5 for reads).
    """

    def __init__(self, preset: DevicePreset, g_grid_max_s: float, n_grid: int = 1024, size=2048):
        self.preset = preset
        self.g_grid = np.linspace(0.0, g_grid_max_s, n_grid)
        self.g_step = float(self.g_grid[1])
        self._size = size
        self._cache: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._stacked: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}  # recent whole requests

    def solutions(self, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(v_cell, i) tables of shape (n_bias, n_grid) for bias rows (v_bl, v_sl, v_wl)."""
        stacked_key = bias.tobytes()
        stacked = self._stacked.get(stacked_key)
        if stacked is not None:
            return stacked
        keys = [tuple(map(float, row)) for row in np.round(bias, 9)]
        todo = [k for k in dict.fromkeys(keys) if k not in self._cache]
        if todo:
            b = np.asarray(todo)
            sol = solve_series(self.g_grid[None, :], b[:, 0:1], b[:, 1:2], b[:, 2:3], self.preset)
            for row, k in enumerate(todo):
                self._cache[k] = (sol.v_cell_v[row], sol.i_a[row])
        out_v, out_i = [], []
        for k in keys:
            self._cache.move_to_end(k)
            v, i = self._cache[k]
            out_v.append(v)
            out_i.append(i)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        if len(self._stacked) >= 64:
            self._stacked.clear()
        self._stacked[stacked_key] = (np.stack(out_v), np.stack(out_i))
        return self._stacked[stacked_key]

    def interp(self, tab: np.ndarray, combo: np.ndarray | None, g_s: np.ndarray) -> np.ndarray:
        """Linear interpolation of per-bias tables (n_bias, n_grid) at each cell's G (dtype of
        g_s: float32 for the pulse path, float64 for reads)."""
        n_grid = tab.shape[-1]
        g_s = np.asarray(g_s)
        u = g_s * g_s.dtype.type(1.0 / self.g_step)  # g_s >= 0 always
        np.minimum(u, n_grid - 1.001, out=u)
        fl = np.floor(u)
        u -= fl
        i = fl.astype(np.int32)
        flat = tab.reshape(-1)
        if combo is not None:
            i += combo * n_grid
        lo = np.take(flat, i)
        i += 1
        hi = np.take(flat, i)
        hi -= lo
        hi *= u
        hi += lo
        return hi

    def currents(self, bias: np.ndarray, combo: np.ndarray | None, g_s: np.ndarray) -> np.ndarray:
        """Current BL -> SL of cells with conductance g_s under bias[combo] (None = bias[0])."""
        if len(bias) > 64:  # many distinct biases (analog line vectors): solve per cell
            b = bias[combo]
            return solve_series(g_s, b[:, 0], b[:, 1], b[:, 2], self.preset).i_a
        return self.interp(self.solutions(bias)[1], combo, g_s)
