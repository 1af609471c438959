"""Analog CMO/HfOx cells: one state x in [0, 1] per cell (the CMO dome defect density),
G = G_lo + (G_hi - G_lo) x, soft-bounds SET/RESET kinetics, c2c noise, endurance wear-out.

Wear-out: N = cumulative |dx| (a full SET+RESET swing is 2), window closes as
G_hi (1 - eps_hi f), G_lo (1 + eps_lo f), f = (N / 2 N_e)^beta; a cell sticks once N/2 passes
its Weibull lifetime. Device-to-device: G_lo, G_hi, and a per-cell ln-rate offset per polarity
(ln nu spread minus barrier spread / kT0).
"""

from __future__ import annotations

import numpy as np

from .kinetics import K_B_EV, StepRates
from .noise import NormalSource
from .presets import DevicePreset
from .soft_bounds import (
    A_HOT,
    A_SUB,
    MAX_SUBSTEPS,
    affine_power,
    c2c_sigma,
    dose_to_q,
    periods_for_change,
)

_MAX_DX_PER_CHUNK = 0.02  # closed-form chunks re-evaluate rates after this much state change
_MAX_WEAR_F_PER_CHUNK = 0.01
_MAX_CHUNKS = 5000


def _take(arr: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    return arr if idx is None else arr[idx]


class CmoCells:
    """State and kinetics of every cell of a CMO-class array (flat arrays, length n)."""

    def __init__(self, p: DevicePreset, n: int, frozen: np.random.Generator):
        self.p = p
        self.n = n
        self.glo0 = p.g_lo_s * np.clip(1 + p.g_lo_d2d_rel * frozen.standard_normal(n), 0.3, 3)
        self.ghi0 = p.g_hi_s * np.clip(1 + p.g_hi_d2d_rel * frozen.standard_normal(n), 0.5, 2)
        self.ghi0 = np.maximum(self.ghi0, 2 * self.glo0)
        kt0 = K_B_EV * p.t_ambient_k
        dln = (
            p.sigma_ln_nu_d2d * frozen.standard_normal((2, n))
            - p.sigma_e_d2d_ev * frozen.standard_normal((2, n)) / kt0
        )
        self.dln = dln.astype(np.float32)  # [0] RESET, [1] SET
        self.life_cycles = p.wear_life_scale * frozen.weibull(p.wear_life_shape, n)
        self.glo0 = self.glo0.astype(np.float32)
        self.ghi0 = self.ghi0.astype(np.float32)
        self.g_max_s = float(self.ghi0.max())

    def reset_state(self, rng: np.random.Generator) -> None:
        self.x = np.zeros(self.n, dtype=np.float32)
        self.wear = np.zeros(self.n)
        self.wear_applied = np.zeros(self.n)  # wear at which glo/dg were last refreshed
        self._applied_floor = 0.0  # min(wear_applied) at the last scan
        self._pending_wear = 0.0  # upper bound on any cell's wear growth since the last scan
        self.glo = self.glo0.copy()
        self.dg = self.ghi0 - self.glo0
        self._worn = np.zeros(0, dtype=np.intp)

    # --- conductance <-> state ----------------------------------------------------------------
    def g(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Conductance (float32) of cells idx (None = all)."""
        return _take(self.glo, idx) + _take(self.dg, idx) * _take(self.x, idx)

    def set_g(self, idx: np.ndarray, g_s: np.ndarray) -> None:
        """Put cells at conductance g_s (clipped to each cell's window)."""
        self.x[idx] = np.clip((g_s - self.glo[idx]) / self.dg[idx], 0.0, 1.0)

    form = set_g  # forming leaves the filament at G = I_cc / V_F

    def add_g(self, idx: np.ndarray, dg_s: np.ndarray) -> None:
        """Shift conductance (relaxation fold-in); may go below G_lo, never below G_lo / 2."""
        x_min = -0.5 * self.glo[idx] / self.dg[idx]
        self.x[idx] = np.clip(self.x[idx] + dg_s / self.dg[idx], x_min, 1.0)

    # --- one pulse --------------------------------------------------------------------------
    def _ln_dose(self, rates: StepRates, idx, combo, x, target) -> np.ndarray:
        g = _take(self.glo, idx) + _take(self.dg, idx) * x
        ln_a = rates.ln_a(combo, g)
        if combo is None:
            ln_a += _take(self.dln[int(target)], idx)
        else:
            ln_a += self.dln[target.astype(np.intp), idx]
        return ln_a

    def _step_det(self, rates, idx, combo, x, target):
        """Deterministic dx and effective q of one pulse; long/strong pulses sub-stepped."""
        a = self._ln_dose(rates, idx, combo, x, target)
        np.minimum(a, 80.0, out=a)
        np.exp(a, out=a)
        q = dose_to_q(a)
        dx = (target - x) * q
        hot = np.flatnonzero(a > A_HOT) if a.max(initial=0.0) > A_HOT else ()
        if len(hot):
            h_idx = hot if idx is None else idx[hot]
            h_combo = None if combo is None else combo[hot]
            h_tgt = target if np.ndim(target) == 0 else target[hot]
            x_end = self._integrate_hot(rates, h_idx, h_combo, x[hot].astype(float), h_tgt)
            dx[hot] = x_end - x[hot]
            gap = np.abs(h_tgt - x[hot])
            q[hot] = np.where(gap > 1e-9, np.abs(dx[hot]) / np.maximum(gap, 1e-9), 1.0)
        return dx, q

    def _integrate_hot(self, rates: StepRates, idx, combo, x, target) -> np.ndarray:
        """Sub-step the waveform pieces, re-evaluating the rate as G (and so the cell voltage,
        current, heating) changes: this is what limits a SET against the gate compliance."""
        dln = self.dln[(np.zeros(len(idx), np.intp) + target).astype(np.intp), idx]
        for k, dt in enumerate(rates.piece_dt_s):
            t_left = np.full(len(idx), dt)
            for sub in range(MAX_SUBSTEPS):
                live = np.flatnonzero((t_left > 0) & (np.abs(target - x) > 1e-7))
                if not len(live):
                    break
                tg = target if np.ndim(target) == 0 else target[live]
                g = self.glo[idx[live]] + self.dg[idx[live]] * x[live]
                c = None if combo is None else combo[live]
                r = np.exp(np.minimum(rates.ln_r_piece(k, c, g) + dln[live], 80.0))
                step = (
                    t_left[live] if sub == MAX_SUBSTEPS - 1 else np.minimum(t_left[live], A_SUB / r)
                )
                x[live] += (tg - x[live]) * -np.expm1(-r * step)
                t_left[live] -= step
        return x

    def pulse(self, rates: StepRates, idx, combo, normals: NormalSource) -> np.ndarray:
        """Apply one pulse (with c2c noise) to cells idx (None = all) of combos `combo`;
        returns each cell's |dG|."""
        x = _take(self.x, idx)
        target = rates.target[0] if combo is None else rates.target[combo]
        dx, q = self._step_det(rates, idx, combo, x, target)
        noise = c2c_sigma(dx, q, x, self.p)
        noise *= normals.draw(len(x))
        dx += noise
        x_new = x + dx
        np.clip(x_new, 0.0 if x.min(initial=0.0) >= 0 else np.minimum(x, 0.0), 1.0, out=x_new)
        np.subtract(x_new, x, out=dx)
        np.abs(dx, out=dx)
        if idx is None:
            self.x = x_new
        else:
            self.x[idx] = x_new
        self._account_wear(idx, dx)
        dx *= _take(self.dg, idx)
        return dx

    # --- many periods in closed form -----------------------------------------------------------
    def repeat(self, steps, n_periods: int, union: np.ndarray, normals: NormalSource) -> None:
        """Apply n_periods of the pulse sequence `steps` [(rates, idx, combo)] to cells `union`.

        Each chunk probes one period deterministically from the current state (rates evaluated
        at the states the cells pass through), turns it into x -> a + b x plus noise variance,
        and advances as many periods as keep the state change below 0.02 and the wear-out
        window change below 1 %, in one closed-form step with an exact AR(1) noise draw.
        """
        pos = np.full(self.n, -1, dtype=np.intp)
        pos[union] = np.arange(len(union))
        members = []
        for rates, idx, combo in steps:
            in_step = np.zeros(len(union), dtype=bool)
            combo_u = np.zeros(len(union), dtype=np.int32)
            where = pos[np.arange(self.n) if idx is None else idx]
            in_step[where] = True
            combo_u[where] = 0 if combo is None else combo
            members.append((rates, in_step, combo_u))
        remaining = np.full(len(union), float(n_periods))
        for _ in range(_MAX_CHUNKS):
            live = np.flatnonzero(remaining > 0)
            if not len(live):
                break
            cells = union[live]
            x0 = self.x[cells].astype(float)
            xs, a, b = x0.copy(), np.zeros(len(live)), np.ones(len(live))
            var, wear_p = np.zeros(len(live)), np.zeros(len(live))
            for rates, in_step, combo_u in members:
                m = np.flatnonzero(in_step[live])
                if not len(m):
                    continue
                tgt = rates.target[combo_u[live[m]]].astype(float)
                dx, q = self._step_det(
                    rates, cells[m], combo_u[live[m]], xs[m].astype(np.float32), tgt
                )
                q = q.astype(float)
                sig = c2c_sigma(dx.astype(float), q, xs[m], self.p)
                a[m] = a[m] * (1 - q) + tgt * q
                b[m] *= 1 - q
                var[m] = var[m] * (1 - q) ** 2 + sig * sig
                wear_p[m] += np.abs(dx) + 0.8 * sig
                xs[m] += dx
            stiff = (1 - b) > 1e-12
            x_fix = np.where(stiff, a / np.where(stiff, 1 - b, 1.0), x0)
            n = periods_for_change(x0, x_fix, b, remaining[live], _MAX_DX_PER_CHUNK)
            n = np.minimum(n, self._periods_for_wear(cells, wear_p))
            mean, v = affine_power(x0, a, b, var, n)
            x_new = mean + np.sqrt(v) * normals.draw(len(live))
            self.x[cells] = np.clip(x_new, np.minimum(x0, 0.0), 1.0)
            self._account_wear(cells, n * wear_p)
            remaining[live] -= n

    # --- wear-out -------------------------------------------------------------------------------
    def _wear_f(self, wear: np.ndarray) -> np.ndarray:
        return (wear / (2.0 * self.p.wear_n_e)) ** self.p.wear_beta

    def _periods_for_wear(self, cells: np.ndarray, wear_per_period: np.ndarray) -> np.ndarray:
        f_next = self._wear_f(self.wear[cells]) + _MAX_WEAR_F_PER_CHUNK
        wear_next = 2.0 * self.p.wear_n_e * f_next ** (1.0 / self.p.wear_beta)
        with np.errstate(divide="ignore"):
            n = (wear_next - self.wear[cells]) / wear_per_period
        return np.maximum(np.floor(n), 1.0)

    def _account_wear(self, idx, dwear: np.ndarray) -> None:
        """Add wear; refresh the window of cells whose wear grew > 1 % since their last refresh
        (a < 0.5 % change of f, far below anything measurable), and collect worn-out cells.
        The scan for such cells runs only once the largest possible growth could trigger it."""
        if idx is None:
            self.wear += dwear
        else:
            self.wear[idx] += dwear
        self._pending_wear += float(dwear.max(initial=0.0))
        if self._pending_wear < 0.01 * self._applied_floor + 1.0:
            return
        self._pending_wear = 0.0
        self._applied_floor = float(self.wear_applied.min())
        stale = np.flatnonzero(self.wear > self.wear_applied * 1.01 + 1.0)
        if not len(stale):
            return
        p = self.p
        wear = self.wear[stale]
        self.wear_applied[stale] = wear
        f = self._wear_f(wear)
        glo = self.glo0[stale] * (1 + p.wear_eps_lo * f)
        ghi = self.ghi0[stale] * (1 - p.wear_eps_hi * f)
        self.glo[stale] = glo
        self.dg[stale] = np.maximum(ghi - glo, 1e-3 * glo)
        worn = stale[0.5 * wear > self.life_cycles[stale]]
        if len(worn):
            self._worn = np.union1d(self._worn, worn)

    def worn_out(self, idx: np.ndarray | None) -> np.ndarray:
        """Cells whose swing count passed their stuck-at lifetime since the last call."""
        worn, self._worn = self._worn, np.zeros(0, dtype=np.intp)
        return worn
