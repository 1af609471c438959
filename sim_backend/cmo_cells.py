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
    EXP_SERIES_MAX,
    MAX_SUBSTEPS,
    affine_power,
    c2c_sigma,
    dose_to_q,
    dose_to_q_series,
    exp_series,
    periods_for_change,
)

_MAX_DX_PER_CHUNK = 0.02  # closed-form chunks re-evaluate rates after this much state change
_MAX_WEAR_F_PER_CHUNK = 0.01
_MAX_CHUNKS = 5000
_BLOCK = 1 << 16  # cells per block of the one-pulse kernel: its temporaries stay in cache
_max, _min = np.maximum.reduce, np.minimum.reduce  # of non-empty arrays (less overhead)


def _take(arr: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    return arr if idx is None else arr[idx]


class _Scratch:
    """Reusable per-block buffers of CmoCells.pulse."""

    def __init__(self, m: int):
        self.size = m
        self.f = [np.empty(m, dtype=np.float32) for _ in range(4)]
        self.i = np.empty(m, dtype=np.intp)
        self.i32 = np.empty(m, dtype=np.int32)


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
        self.exp_dln = np.exp(self.dln.astype(float)).astype(np.float32)
        self.dln_max = float(self.dln.max())
        self.life_cycles = p.wear_life_scale * frozen.weibull(p.wear_life_shape, n)
        self.glo0 = self.glo0.astype(np.float32)
        self.ghi0 = self.ghi0.astype(np.float32)
        self.g_max_s = float(self.ghi0.max())
        self._scratch_buf: _Scratch | None = None

    def reset_state(self, rng: np.random.Generator) -> None:
        self.x = np.zeros(self.n, dtype=np.float32)
        self.wear = np.zeros(self.n)
        self.wear_applied = np.zeros(self.n)  # wear at which glo/dg were last refreshed
        self._applied_floor = 0.0  # min(wear_applied) at the last scan
        self._pending_wear = 0.0  # upper bound on any cell's wear growth since the last scan
        self.glo = self.glo0.copy()
        self.dg = self.ghi0 - self.glo0
        self._g_top = float((self.glo + self.dg).max())  # >= every G = glo + dg x (x <= 1)
        self._worn = np.zeros(0, dtype=np.intp)
        self._below_0 = False  # some x may be < 0 (only add_g makes such; every update clips at 1)

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
        x = np.clip(self.x[idx] + dg_s / self.dg[idx], x_min, 1.0)
        self.x[idx] = x
        self._below_0 = self._below_0 or bool(x.min(initial=0.0) < 0)

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
        returns each cell's |dG|.

        The same law as _step_det + c2c_sigma (which the closed form uses), evaluated for speed:
        in blocks of _BLOCK cells so that the temporaries stay in cache (cells are independent),
        the dose from tabulated node doses and the soft-bounds q from its series instead of
        per-cell exponentials, and the noisy step in one fused expression. The results agree
        with _step_det to float32 rounding."""
        n_cells = self.n if idx is None else len(idx)
        noise = normals.draw(n_cells)
        out = np.empty(n_cells, dtype=np.float32)
        buf = self._scratch(min(n_cells, _BLOCK))
        dx_max, all_in, hot = 0.0, True, []
        for s in range(0, n_cells, _BLOCK):
            e = min(s + _BLOCK, n_cells)
            blk = self._pulse_block(rates, idx, combo, s, e, noise[s:e], out[s:e], buf)
            dx_max, all_in = max(dx_max, blk[0]), all_in and blk[1]
            if blk[2] is not None:
                hot.append(blk[2])
        if hot:
            pos, x_old = (np.concatenate(h) for h in zip(*hot, strict=True))
            dx_max = max(dx_max, self._pulse_hot(rates, idx, combo, pos, x_old, noise, out))
        if idx is None and all_in:
            self._below_0 = False  # clipped at 0 everywhere
        self._wear_scan(dx_max)
        out *= _take(self.dg, idx)  # |dx| -> |dG| (after any window refresh, as _account_wear)
        return out

    def _scratch(self, size: int) -> _Scratch:
        """Block buffers, kept between pulses."""
        if self._scratch_buf is None or self._scratch_buf.size < size:
            self._scratch_buf = _Scratch(size)
        return self._scratch_buf

    def _pulse_block(self, rates: StepRates, idx, combo, s, e, noise, out, buf):
        """Cells s:e of pulse(): state step with c2c noise and wear; |dx| into `out`. Returns
        (max |dx|, whether all these cells were in [0, 1], and None or the positions and
        states of the cells left for _pulse_hot)."""
        m = e - s
        f0, f1, f2, f3 = (b[:m] for b in buf.f)
        if idx is None:
            cells, cmb, target = slice(s, e), None, rates.target[0]
        else:
            cells = idx[s:e]
            cmb = None if combo is None else combo[s:e]
            target = rates.target[0] if cmb is None else rates.target[cmb]
        pol = int(target) if cmb is None else target.astype(np.intp)  # 0 RESET, 1 SET
        x = self.x[cells]
        a = self._dose(rates, cells, cmb, pol, x, buf, m)  # in f1
        a_max, hot = float(_max(a)), None
        if a_max > A_HOT:  # cells left for _pulse_hot; q and dx below are ignored for them
            pos = np.flatnonzero(a > A_HOT)
            hot = (pos + s, x[pos])
            a[pos] = 0.0
            a_max = float(_max(a))
        q = dose_to_q_series(a, a_max, f2)
        in_window = not self._below_0 or _min(x) >= 0  # x in [0, 1]
        if cmb is None and in_window:
            x_new = self._fused_step(x, q, int(target), noise, f0, f1, f3)
        else:
            dx = np.subtract(target, x, out=f0)
            dx *= q
            kick = c2c_sigma(dx, q, x, self.p, out=f3, scratch=f1)
            kick *= noise
            dx += kick
            x_new = np.add(x, dx, out=f0)
        if hot is not None:
            x_new[hot[0] - s] = hot[1]  # unchanged here
        np.clip(x_new, 0.0 if in_window else np.minimum(x, 0.0), 1.0, out=x_new)
        np.subtract(x_new, x, out=out)
        np.abs(out, out=out)
        self.x[cells] = x_new
        self.wear[cells] += out
        return float(_max(out)), in_window, hot

    def _pulse_hot(self, rates: StepRates, idx, combo, pos, x, noise, out) -> float:
        """pulse() for the cells at positions pos (states x) whose dose is above A_HOT: the
        pulse is integrated in sub-steps (_integrate_hot), then the c2c noise and wear as in
        _pulse_block. Returns their max |dx|."""
        cells = pos if idx is None else idx[pos]
        cmb = None if combo is None else combo[pos]
        target = rates.target[0] if cmb is None else rates.target[cmb]
        x_end = self._integrate_hot(rates, cells, cmb, x.astype(float), target)
        dx = (x_end - x).astype(np.float32)
        gap = np.abs(target - x)
        q = np.where(gap > 1e-9, np.abs(dx) / np.maximum(gap, 1e-9), 1.0).astype(np.float32)
        kick = c2c_sigma(dx, q, x, self.p)
        kick *= noise[pos]
        dx += kick
        x_new = np.clip(x + dx, np.minimum(x, 0.0), 1.0)
        d = np.abs(x_new - x)
        self.x[cells] = x_new
        self.wear[cells] += d
        out[pos] = d
        return float(d.max())

    def _dose(self, rates: StepRates, cells, cmb, pol, x, buf, m: int) -> np.ndarray:
        """Dose A of one pulse for cells (x their state), into buf.f[1]: the ln-dose table
        interpolated linearly in G (CircuitTables.interp) plus the cell's ln-rate offset,
        exponentiated. With a gentle table, A = A_i exp(d_i u) exp(dln): node dose A_i and
        exp(dln) precomputed, exp(d_i u) (|d_i u| <= 0.5) from its series; otherwise (steep or
        huge doses, direct mode) as _ln_dose does."""
        f0, f1 = buf.f[0][:m], buf.f[1][:m]
        g = np.multiply(self.dg[cells], x, out=f0)
        g += self.glo[cells]
        lk = rates.dose_lookup
        if lk is None:  # direct mode: solved per cell
            f1[...] = rates.ln_a(cmb, g)
            return self._exp_ln_dose(f1, cells, pol)
        per_g, u_cap = np.float32(lk.per_g), lk.n_grid - 1.001
        u = np.multiply(g, per_g, out=f0)  # g >= 0 always
        if np.float32(self._g_top) * per_g > u_cap and _max(u) > u_cap:
            np.minimum(u, u_cap, out=u)
        i32, i = buf.i32[:m], buf.i[:m]
        np.copyto(i32, u, casting="unsafe")  # = floor(u), as u >= 0
        np.subtract(u, i32, out=u, dtype=np.float32)  # u: fraction of the grid interval
        np.copyto(i, i32)
        if cmb is not None:
            i += cmb * lk.n_grid
        y = np.take(lk.slope, i, out=f1, mode="clip")
        y *= u
        if lk.slope_max <= EXP_SERIES_MAX and lk.ln_a_max + lk.slope_max + self.dln_max < 80.0:
            a = exp_series(y, lk.slope_max, out=f0)
            a *= np.take(lk.a, i, out=f1, mode="clip")
            np.multiply(a, self.exp_dln[pol, cells], out=f1)
            return f1
        y += np.take(lk.ln_a, i, out=f0, mode="clip")
        return self._exp_ln_dose(y, cells, pol)

    def _exp_ln_dose(self, ln_a: np.ndarray, cells, pol) -> np.ndarray:
        """exp(ln_a + dln) capped at e^80 as in _step_det, in place."""
        ln_a += self.dln[pol, cells]
        if _max(ln_a) > 80.0:
            np.minimum(ln_a, 80.0, out=ln_a)
        return np.exp(ln_a, out=ln_a)

    def _fused_step(self, x, q, target: int, noise, out, w, r) -> np.ndarray:
        """x + dx + c2c kick for cells in [0, 1] and one target, fused: with dx = (t - x) q,
        the kick c2c_sigma * N = q (1 - q) sqrt(x (c1 + (c2 - c1) x)) N towards t = 0
        (c1 = (2 sigma_add)^2, c2 = sigma_mult^2), and (1 - x) (c2 + (c1 - c2) x) under the
        root towards t = 1. Buffers out, w, r shaped like x; result in out."""
        c1, c2 = 4.0 * self.p.c2c_sigma_add**2, self.p.c2c_sigma_mult**2
        if target:
            np.subtract(1.0, x, out=w)
            s = np.multiply(x, c1 - c2, out=out)
            s += c2
            s *= w
        else:
            s = np.multiply(x, c2 - c1, out=out)
            s += c1
            s *= x
        np.sqrt(s, out=s)
        s *= np.subtract(1.0, q, out=r)
        s *= noise
        if target:
            s += w
        else:
            s -= x
        s *= q
        s += x
        return s

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
        """Add wear, then _wear_scan."""
        if idx is None:
            self.wear += dwear
        else:
            self.wear[idx] += dwear
        self._wear_scan(float(dwear.max(initial=0.0)))

    def _wear_scan(self, dwear_max: float) -> None:
        """After wear grew by at most dwear_max per cell: refresh the window of cells whose wear
        grew > 1 % since their last refresh (a < 0.5 % change of f, far below anything
        measurable), and collect worn-out cells. The scan for such cells runs only once the
        largest possible growth could trigger it."""
        self._pending_wear += dwear_max
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
        self._g_top = max(self._g_top, float((self.glo[stale] + self.dg[stale]).max()))
        worn = stale[0.5 * wear > self.life_cycles[stale]]
        if len(worn):
            self._worn = np.union1d(self._worn, worn)

    def worn_out(self, idx: np.ndarray | None) -> np.ndarray:
        """Cells whose swing count passed their stuck-at lifetime since the last call."""
        worn, self._worn = self._worn, np.zeros(0, dtype=np.intp)
        return worn

    # --- persistence (ArrayModel.state / load_state) ------------------------------------------
    #: state() entries whose length varies (the rest have a fixed shape)
    STATE_VARIABLE = ("worn",)

    def state(self) -> dict[str, np.ndarray]:
        """Every mutable array and scalar (references; scalars as 0-d arrays). The frozen
        device-to-device parameters are not in it: the seed redraws them."""
        return {
            "x": self.x,
            "wear": self.wear,
            "wear_applied": self.wear_applied,
            "glo": self.glo,
            "dg": self.dg,
            "worn": self._worn,
            "applied_floor": np.asarray(self._applied_floor, dtype=float),
            "pending_wear": np.asarray(self._pending_wear, dtype=float),
            "g_top": np.asarray(self._g_top, dtype=float),
            "below_0": np.asarray(self._below_0, dtype=bool),
        }

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Take over a state() (fresh arrays of the right dtypes and shapes: ArrayModel checks)."""
        self.x, self.wear, self.wear_applied = state["x"], state["wear"], state["wear_applied"]
        self.glo, self.dg = state["glo"], state["dg"]
        self._worn = state["worn"].astype(np.intp)
        self._applied_floor = float(state["applied_floor"])
        self._pending_wear = float(state["pending_wear"])
        self._g_top = float(state["g_top"])
        self._below_0 = bool(state["below_0"])
