"""HfOx weak-RESET cells [D] (Majumdar et al., IEEE TED 2021): R = R0 exp(w),
w = w_mean(n) + w_RTN + w_1/f, with n the number of weak-RESET pulses since the last SET.

w_mean is piecewise linear: m1 n + c1 for n < t*, then m2 n + t* (m1 - m2) + c1. m1, t*, c1, m2
are frozen per device (truncated distributions of [D]); R0 is redrawn at every full SET.
A RESET-polarity pulse adds dn = (its dose) / (dose of the preset's reference weak-RESET pulse),
both at the nominal R0, so amplitude and width act through the same activated rate law as the
CMO class while all device-to-device spread stays in [D]'s own distributions. A SET-polarity
pulse SETs the cell fully with probability 1 - exp(-dose) (abrupt filamentary SET).
RTN: two-state Markov chain per pulse; 1/f: Kasdin fractional-integration filter over a buffer
of zero-mean uniform deviates ([D] uses U(0,1); centring removes a constant offset of ~0.05).
"""

from __future__ import annotations

import numpy as np

from .kinetics import RateTableCache, StepRates, Waveform
from .noise import NormalSource, kasdin_pink_taps
from .presets import DevicePreset


def _truncated(draw, lo: float, hi: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Rejection-sample n values of draw(size) inside [lo, hi]."""
    out = draw(n)
    for _ in range(100):
        bad = (out < lo) | (out > hi)
        if not bad.any():
            break
        out[bad] = draw(int(bad.sum()))
    return np.clip(out, lo, hi)


class WeakResetCells:
    """State and pulse response of every cell of a weak-RESET-class array (flat, length n)."""

    def __init__(self, p: DevicePreset, n: int, frozen: np.random.Generator):
        self.p = p
        self.n = n
        self.m1 = _truncated(
            lambda k: p.wr_m1_loc + frozen.exponential(p.wr_m1_scale, k),
            p.wr_m1_loc,
            p.wr_m1_max,
            n,
            frozen,
        )
        self.tstar = _truncated(
            lambda k: p.wr_tstar_median * np.exp(p.wr_tstar_sigma_ln * frozen.standard_normal(k)),
            p.wr_tstar_min, p.wr_tstar_max, n, frozen,
        )  # fmt: skip
        self.c1 = _truncated(
            lambda k: p.wr_c1_mean + p.wr_c1_sd * frozen.standard_normal(k),
            -p.wr_c1_abs_max, p.wr_c1_abs_max, n, frozen,
        )  # fmt: skip
        self.m2 = _truncated(
            lambda k: frozen.exponential(p.wr_m2_scale, k), 0.0, p.wr_m2_max, n, frozen
        )
        self.rtn_amp_dev = frozen.uniform(0.0, p.wr_rtn_amp_max, n)
        self.taps = kasdin_pink_taps(p.wr_pink_taps)
        self.g_max_s = float(np.exp(p.wr_c1_abs_max) / p.wr_r0_min_ohm)
        self.ln_a_ref = 0.0

    def calibrate_reference(self, cache: RateTableCache) -> None:
        """Dose of the reference weak-RESET pulse (counts as exactly one pulse)."""
        p = self.p
        bias = np.asarray([[0.0, p.wr_ref_v, p.wr_ref_vg_v]])
        rates = cache.step_rates(bias, Waveform(p.wr_ref_width_s))
        self.ln_a_ref = float(rates.ln_a(None, np.asarray([1.0 / p.wr_r0_mean_ohm]))[0])

    def reset_state(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.n_pulses = np.zeros(self.n)
        self.r0 = self._draw_r0(self.n)
        self.w_extra = np.zeros(self.n)
        self.rtn_high = np.zeros(self.n, dtype=bool)
        self.rtn_w = np.zeros(self.n)
        self.pink = np.zeros((self.n, self.p.wr_pink_taps), dtype=np.float32)

    def _draw_r0(self, k: int) -> np.ndarray:
        p = self.p
        return _truncated(
            lambda m: p.wr_r0_mean_ohm + p.wr_r0_sd_ohm * self.rng.standard_normal(m),
            p.wr_r0_min_ohm, p.wr_r0_max_ohm, k, self.rng,
        )  # fmt: skip

    # --- conductance --------------------------------------------------------------------------
    def w_mean(self, idx=slice(None)) -> np.ndarray:
        n, m1, m2, ts = self.n_pulses[idx], self.m1[idx], self.m2[idx], self.tstar[idx]
        return np.where(n < ts, m1 * n, m2 * n + ts * (m1 - m2)) + self.c1[idx]

    def g(self, idx: np.ndarray | None = None) -> np.ndarray:
        sel = slice(None) if idx is None else idx
        w = self.w_mean(sel) + self.rtn_w[sel] + self.w_extra[sel]
        w = w + self.p.wr_pink_alpha * (self.pink[sel] @ self.taps)
        return 1.0 / (self.r0[sel] * np.exp(w))

    def set_g(self, idx: np.ndarray, g_s: np.ndarray) -> None:
        """Programme exactly g_s: n = 0, noise cleared, the rest put in w_extra."""
        self._fresh(idx, keep_r0=True)
        self.w_extra[idx] = -np.log(np.asarray(g_s) * self.r0[idx]) - self.c1[idx]

    def form(self, idx: np.ndarray, g_s: np.ndarray) -> None:
        """Forming leaves the cell SET: a fresh R0 from [D]."""
        self._fresh(idx, keep_r0=False)

    def add_g(self, idx: np.ndarray, dg_s: np.ndarray) -> None:
        g = self.g(idx)
        self.w_extra[idx] += np.log(g / np.maximum(g + dg_s, 1e-12))

    def _fresh(self, idx: np.ndarray, keep_r0: bool) -> None:
        if not keep_r0:
            self.r0[idx] = self._draw_r0(len(idx))
        self.n_pulses[idx] = 0.0
        self.w_extra[idx] = 0.0
        self.rtn_high[idx] = False
        self.rtn_w[idx] = 0.0
        self.pink[idx] = 0.0

    # --- pulses -------------------------------------------------------------------------------
    def _dose(self, rates: StepRates, idx: np.ndarray, combo) -> tuple[np.ndarray, np.ndarray]:
        """(ln dose, target) per cell."""
        target = rates.target[0] if combo is None else rates.target[combo]
        tgt = (np.zeros(len(idx), np.intp) + target).astype(np.intp)
        g_ref = np.full(len(idx), 1.0 / self.p.wr_r0_mean_ohm, dtype=np.float32)
        return rates.ln_a(combo, g_ref), tgt

    def _advance_noise(self, idx: np.ndarray, old_n: np.ndarray, new_n: np.ndarray) -> None:
        """RTN over the pulses taken (closed-form Markov), 1/f buffer shifted by whole pulses."""
        p = self.p
        k = np.floor(new_n) - np.floor(np.maximum(old_n, 0.0))
        moved = np.flatnonzero(k > 0)
        if not len(moved):
            return
        cells, k = idx[moved], k[moved]
        lam = 1.0 - p.wr_rtn_p_high - p.wr_rtn_p_low
        pi_h = p.wr_rtn_p_high / (p.wr_rtn_p_high + p.wr_rtn_p_low)
        p_high = pi_h + (self.rtn_high[cells] - pi_h) * lam**k
        self.rtn_high[cells] = self.rng.random(len(cells)) < p_high
        amp = self.rng.uniform(0.0, 1.0, len(cells)) * self.rtn_amp_dev[cells]
        self.rtn_w[cells] = self.rtn_high[cells] * self.rng.uniform(0.0, 1.0, len(cells)) * amp
        taps = p.wr_pink_taps
        shift = np.minimum(k, taps).astype(int)
        buf = self.pink[cells]
        fresh = self.rng.uniform(-0.5, 0.5, buf.shape).astype(np.float32)
        cols = np.arange(taps)[None, :]
        src = cols - shift[:, None]  # newest value at column 0
        old = np.take_along_axis(buf, np.clip(src, 0, taps - 1), axis=1)
        self.pink[cells] = np.where(src >= 0, old, fresh)

    def pulse(self, rates: StepRates, idx, combo, normals: NormalSource) -> np.ndarray:
        """Apply one pulse to cells idx (None = all); returns each cell's |dG|."""
        idx = np.arange(self.n) if idx is None else idx
        g_before = self.g(idx)
        ln_a, tgt = self._dose(rates, idx, combo)
        sets = idx[(tgt == 1) & (self.rng.random(len(idx)) < -np.expm1(-np.exp(ln_a)))]
        self._fresh(sets, keep_r0=False)
        rst = np.flatnonzero(tgt == 0)
        cells = idx[rst]
        old = self.n_pulses[cells]
        self.n_pulses[cells] = old + np.exp(ln_a[rst] - self.ln_a_ref)
        self._advance_noise(cells, old, self.n_pulses[cells])
        return np.abs(self.g(idx) - g_before)

    def repeat(self, steps, n_periods: int, union: np.ndarray, normals: NormalSource) -> None:
        """n_periods of [(rates, idx, combo)]: pulse counts add up; a period containing a SET
        step SETs the cell at least once with the compound probability, after which only the
        weak-RESET pulses after the last SET step of the period count."""
        dn_total = np.zeros(self.n)
        dn_after_set = np.zeros(self.n)
        p_no_set = np.ones(self.n)
        for rates, idx, combo in steps:
            idx = np.arange(self.n) if idx is None else idx
            ln_a, tgt = self._dose(rates, idx, combo)
            is_set = tgt == 1
            p_no_set[idx[is_set]] *= np.exp(-np.exp(ln_a[is_set]))
            dn_after_set[idx[is_set]] = 0.0
            dn = np.exp(ln_a[~is_set] - self.ln_a_ref)
            dn_total[idx[~is_set]] += dn
            dn_after_set[idx[~is_set]] += dn
        cells = union
        set_any = self.rng.random(len(cells)) < 1.0 - p_no_set[cells] ** n_periods
        reset = cells[set_any]
        self._fresh(reset, keep_r0=False)
        self.n_pulses[reset] = dn_after_set[reset]
        keep = cells[~set_any]
        old = self.n_pulses[keep]
        self.n_pulses[keep] = old + n_periods * dn_total[keep]
        self._advance_noise(keep, old, self.n_pulses[keep])

    def worn_out(self, idx) -> np.ndarray:
        return np.zeros(0, dtype=np.intp)

    # --- persistence (ArrayModel.state / load_state) ------------------------------------------
    STATE_VARIABLE: tuple[str, ...] = ()

    def state(self) -> dict[str, np.ndarray]:
        """Every mutable per-cell array (references). The random stream is the array model's
        (saved there); the frozen per-device parameters are redrawn from the seed."""
        return {
            "n_pulses": self.n_pulses,
            "r0": self.r0,
            "w_extra": self.w_extra,
            "rtn_high": self.rtn_high,
            "rtn_w": self.rtn_w,
            "pink": self.pink,
        }

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Take over a state() (fresh arrays of the right dtypes and shapes: ArrayModel checks)."""
        self.n_pulses, self.r0, self.w_extra = state["n_pulses"], state["r0"], state["w_extra"]
        self.rtn_high, self.rtn_w, self.pink = state["rtn_high"], state["rtn_w"], state["pink"]
