"""SET/RESET kinetics: field- and temperature-activated rates integrated over a pulse waveform.

Rate law (research notes 5.2): r = nu exp(-E/kT) sinh(a V/kT), with V the cell voltage from the
1T1R series solve and T = T0 + R_th |V I| (filament Joule heating,
R_th per polarity). SET uses V > 0, RESET V < 0.

A waveform is a list of pieces between voltage nodes (fractions of the peak line voltages; the
word line is held at its value, since benches pulse BL/SL with the gate at DC). Inside a ramp
piece ln r is taken linear in time, so the piece's integral is exact for an exponential rate
(the "log-mean" rate). Everything here is evaluated on a conductance grid per distinct bias
(cached), or directly per cell when there are too many distinct biases.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .presets import DevicePreset
from .transistor import CircuitTables, nmos_saturation_current_a, solve_series

K_B_EV = 8.617333262e-5  # Boltzmann constant, eV/K
_LN2 = float(np.log(2.0))
# Edge nodes crowd towards the peak, where an exponential rate does all its work.
_EDGE_FRACS = 1.0 - (1.0 - np.linspace(0.0, 1.0, 9)) ** 2
_MAX_TABLE_COMBOS = 256  # above this many distinct biases, evaluate per cell instead


@dataclass(frozen=True)
class Waveform:
    """One pulse: square (flat top `duration_s` plus linear edges) or triangle (whole = duration)."""

    duration_s: float
    rise_s: float = 0.0
    fall_s: float = 0.0
    shape: str = "square"

    def __post_init__(self) -> None:
        if self.shape not in ("square", "triangle"):
            raise ValueError(f"pulse shape must be 'square' or 'triangle', got {self.shape!r}")
        if min(self.duration_s, self.rise_s, self.fall_s) < 0:
            raise ValueError("pulse duration, rise and fall must be >= 0 s")

    @property
    def total_s(self) -> float:
        if self.shape == "triangle":
            return self.duration_s
        return self.duration_s + self.rise_s + self.fall_s

    @functools.cached_property
    def _pieces(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        rise, fall, flat = self.rise_s, self.fall_s, self.duration_s
        if self.shape == "triangle":
            rise = fall = 0.5 * self.duration_s
            flat = 0.0
        fracs = _EDGE_FRACS
        top = len(fracs) - 1
        dt, a, b = [], [], []
        for k in range(top):  # rising edge
            dt.append(rise * (fracs[k + 1] - fracs[k]))
            a.append(k)
            b.append(k + 1)
        dt.append(flat)
        a.append(top)
        b.append(top)
        for k in range(top, 0, -1):  # falling edge
            dt.append(fall * (fracs[k] - fracs[k - 1]))
            a.append(k)
            b.append(k - 1)
        dt_arr = np.asarray(dt)
        keep = dt_arr > 0
        return fracs, dt_arr[keep], np.asarray(a)[keep], np.asarray(b)[keep]

    def pieces(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(node_fracs, piece_dt_s, piece_node_a, piece_node_b) in time order, zero-length dropped."""
        return self._pieces


def ln_sinh(z: np.ndarray) -> np.ndarray:
    """ln(sinh z) for z >= 0 without overflow (-inf at z = 0)."""
    z = np.asarray(z, dtype=float)
    with np.errstate(divide="ignore"):
        small = np.log(np.sinh(np.minimum(z, 30.0)))
    return np.where(z > 30.0, z - _LN2, small)


def ln_rate(v_cell: np.ndarray, p_w: np.ndarray, p: DevicePreset) -> np.ndarray:
    """ln r (1/s) of the active polarity: SET for V > 0, RESET for V < 0 (nominal device)."""
    set_pol = v_cell >= 0
    r_th = np.where(set_pol, p.r_th_set_k_per_w, p.r_th_reset_k_per_w)
    kt = K_B_EV * (p.t_ambient_k + r_th * p_w)
    e = np.where(set_pol, p.e_set_ev, p.e_reset_ev)
    a = np.where(set_pol, p.a_set_ev_per_v, p.a_reset_ev_per_v)
    return np.log(p.nu_hz) - e / kt + ln_sinh(a * np.abs(v_cell) / kt)


def log_mean(ln_a: np.ndarray, ln_b: np.ndarray) -> np.ndarray:
    """ln of the time-average of a rate whose log goes linearly from ln_a to ln_b."""
    hi = np.maximum(ln_a, ln_b)
    with np.errstate(invalid="ignore"):
        d = np.minimum(np.abs(ln_a - ln_b), 50.0)
    d = np.where(np.isfinite(d), d, 50.0)
    safe = np.maximum(d, 1e-12)
    return hi + np.where(d < 1e-6, -0.5 * d, np.log(-np.expm1(-safe) / safe))


def piece_ln_rates(
    solve: Callable[[float], tuple[np.ndarray, np.ndarray]], waveform: Waveform, p: DevicePreset
) -> tuple[np.ndarray, np.ndarray]:
    """Per-piece effective ln r, given solve(frac) -> (v_cell, i) at that fraction of the peak.

    Returns (ln_r[piece, ...], dt[piece]).
    """
    fracs, dt, na, nb = waveform.pieces()
    ln_node = {}
    for k in np.unique(np.concatenate([na, nb])):
        v_cell, i = solve(float(fracs[k]))
        ln_node[k] = ln_rate(v_cell, np.abs(v_cell * i), p)
    ln_r = np.stack([log_mean(ln_node[a], ln_node[b]) for a, b in zip(na, nb, strict=True)])
    return ln_r, dt


def _scaled(bias: np.ndarray, frac: float) -> np.ndarray:
    """Bias rows with BL and SL scaled by the waveform fraction; WL held (gate at DC)."""
    out = np.array(bias, dtype=float)
    out[..., :2] *= frac
    return out


def total_ln_a(ln_r: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """ln of the integrated rate (the pulse's 'dose') from per-piece ln r and durations."""
    terms = ln_r + np.log(dt).reshape((-1,) + (1,) * (ln_r.ndim - 1))
    top = np.max(terms, axis=0)
    finite_top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return finite_top + np.log(np.sum(np.exp(terms - finite_top), axis=0))


@dataclass(frozen=True)
class DoseLookup:
    """A pulse's ln-dose table, flattened (combo-major) for per-cell lookups at G / g_step:
    ln_a of each node, its difference to the next node (the float32 arithmetic of
    CircuitTables.interp), and the node doses exp(ln_a) with the largest |difference| and
    ln_a, for the exp-free evaluation A_i exp(d_i u) (cmo_cells)."""

    ln_a: np.ndarray  # float32 (n_combo * n_grid,)
    slope: np.ndarray  # float32, ln_a[i + 1] - ln_a[i] (0 after the last node)
    a: np.ndarray  # float32 exp(ln_a)
    slope_max: float  # max |slope|; inf if the table is not finite
    ln_a_max: float
    n_grid: int
    per_g: float  # 1 / grid step (1/S)


@dataclass
class StepRates:
    """Rates for the cells of one pulse step, by combo (distinct bias) and cell conductance.

    Table mode interpolates per-combo tables on the circuit's G grid; direct mode (many
    distinct biases) solves per cell. `target` is 1 for SET-polarity combos, 0 for RESET.
    """

    bias: np.ndarray  # (n_combo, 3) v_bl, v_sl, v_wl
    waveform: Waveform
    circuit: CircuitTables
    ln_a_tab: np.ndarray | None  # (n_combo, n_grid) or None in direct mode
    ln_r_tab: np.ndarray | None  # (n_piece, n_combo, n_grid)
    piece_dt_s: np.ndarray
    target: np.ndarray  # (n_combo,) float32
    v_cell_pristine_v: np.ndarray  # (n_combo,) peak cell voltage of a pristine cell
    i_compliance_a: np.ndarray  # (n_combo,) NMOS saturation current in SET polarity
    negligible: np.ndarray  # (n_combo,) bool: dose < 1e-12 everywhere on the grid

    def ln_a(self, combo: np.ndarray | None, g: np.ndarray) -> np.ndarray:
        """ln of the whole-pulse dose per cell (nominal device) at conductance g."""
        if self.ln_a_tab is not None:
            return self.circuit.interp(self.ln_a_tab, combo, g)
        return total_ln_a(self._direct(combo, g), self.piece_dt_s).astype(np.float32)

    @functools.cached_property
    def dose_lookup(self) -> DoseLookup | None:
        """The ln_a table prepared for per-cell lookups (None in direct mode)."""
        if self.ln_a_tab is None:
            return None
        tab = self.ln_a_tab
        slope = np.zeros_like(tab)
        np.subtract(tab[:, 1:], tab[:, :-1], out=slope[:, :-1])
        finite = bool(np.isfinite(tab).all())
        with np.errstate(over="ignore"):
            a = np.exp(tab.astype(float)).astype(np.float32)
        return DoseLookup(
            tab.reshape(-1),
            slope.reshape(-1),
            a.reshape(-1),
            float(np.abs(slope).max()) if finite else np.inf,
            float(tab.max()) if finite else np.inf,
            tab.shape[-1],
            float(1.0 / self.circuit.g_step),
        )

    def ln_r_piece(self, k: int, combo: np.ndarray | None, g: np.ndarray) -> np.ndarray:
        """ln of piece k's effective rate per cell at conductance g."""
        if self.ln_r_tab is not None:
            return self.circuit.interp(self.ln_r_tab[k], combo, g)
        return self._direct(combo, g)[k].astype(np.float32)

    def _direct(self, combo: np.ndarray | None, g: np.ndarray) -> np.ndarray:
        bias = self.bias[np.zeros(len(g), np.intp) if combo is None else combo]
        p = self.circuit.preset

        def solve(frac: float) -> tuple[np.ndarray, np.ndarray]:
            b = _scaled(bias, frac)
            sol = solve_series(np.asarray(g, float), b[:, 0], b[:, 1], b[:, 2], p)
            return sol.v_cell_v, sol.i_a

        return piece_ln_rates(solve, self.waveform, p)[0]


@dataclass(frozen=True)
class _ComboRates:
    ln_r: np.ndarray  # (piece, grid)
    ln_a: np.ndarray  # (grid,)
    v_pristine: float
    negligible: bool


class RateTableCache:
    """Builds StepRates for a pulse step from cached circuit solutions (LRU on rate tables)."""

    def __init__(self, circuit: CircuitTables, size: int = 1024):
        self.circuit = circuit
        self._size = size
        self._cache: OrderedDict[tuple, _ComboRates] = OrderedDict()

    def step_rates(self, bias: np.ndarray, waveform: Waveform) -> StepRates:
        p, circuit = self.circuit.preset, self.circuit
        n = len(bias)
        i_cc = nmos_saturation_current_a(bias[:, 2] - bias[:, 1], p)
        target = (bias[:, 0] >= bias[:, 1]).astype(np.float32)
        _, dt, _, _ = waveform.pieces()
        if n > _MAX_TABLE_COMBOS:
            v_pristine = solve_series(
                p.g_pristine_s, bias[:, 0], bias[:, 1], bias[:, 2], p
            ).v_cell_v
            return StepRates(
                bias, waveform, circuit, None, None, dt, target, v_pristine, i_cc,
                np.zeros(n, dtype=bool),
            )  # fmt: skip
        wf_key = (waveform.duration_s, waveform.rise_s, waveform.fall_s, waveform.shape)
        keys = [(*map(float, row), *wf_key) for row in bias]
        todo = [k for k in dict.fromkeys(keys) if k not in self._cache]
        if todo:
            b = np.asarray([k[:3] for k in todo])
            ln_r, _ = piece_ln_rates(lambda frac: circuit.solutions(_scaled(b, frac)), waveform, p)
            ln_a = total_ln_a(ln_r, dt)
            peak = _scaled(b, float(waveform.pieces()[0][-1]))
            v_pristine = solve_series(
                p.g_pristine_s, peak[:, 0], peak[:, 1], peak[:, 2], p
            ).v_cell_v
            for col, k in enumerate(todo):
                self._cache[k] = _ComboRates(
                    ln_r[:, col].astype(np.float32),
                    ln_a[col].astype(np.float32),
                    float(v_pristine[col]),
                    bool(np.max(ln_a[col]) < np.log(1e-12)),
                )
        recs = []
        for k in keys:
            self._cache.move_to_end(k)
            recs.append(self._cache[k])
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        if len(recs) == 1:
            ln_r_tab, ln_a_tab = recs[0].ln_r[:, None, :], recs[0].ln_a[None, :]
        else:
            ln_r_tab = np.stack([r.ln_r for r in recs], axis=1)  # (piece, combo, grid)
            ln_a_tab = np.stack([r.ln_a for r in recs])
        v_pristine = np.asarray([r.v_pristine for r in recs])
        negligible = np.asarray([r.negligible for r in recs])
        return StepRates(
            bias, waveform, circuit, ln_a_tab, ln_r_tab, dt, target, v_pristine, i_cc, negligible
        )
