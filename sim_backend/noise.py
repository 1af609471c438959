"""Noise and relaxation laws, and a fast seeded source of normal deviates.

Read noise and relaxation follow aihwkit's ReRamCMONoiseModel [C]; relaxation is made
time-consistent per cell by drawing one persistent deviate per programming event.
"""

from __future__ import annotations

import numpy as np

from .presets import DevicePreset

_POOL_ABOVE = 1 << 16  # draws larger than this come from a pre-drawn pool


class NormalSource:
    """Seeded standard normals (float32). Large draws are random windows of a pre-drawn pool:
    identical statistics per draw at ~0 cost, which keeps 1024x1024 pulses cheap."""

    def __init__(self, rng: np.random.Generator, n_cells: int):
        self.rng = rng
        self._pool = None
        if n_cells > _POOL_ABOVE:
            self._pool = rng.standard_normal(4 * n_cells, dtype=np.float32)

    def draw(self, n: int) -> np.ndarray:
        if self._pool is None or n <= _POOL_ABOVE or n > len(self._pool) // 2:
            return self.rng.standard_normal(n, dtype=np.float32)
        start = int(self.rng.integers(0, len(self._pool) - n))
        return self._pool[start : start + n]


def read_noise_sigma_s(
    g_s: np.ndarray, t_since_s: np.ndarray, aperture_s: float, p: DevicePreset
) -> np.ndarray:
    """[C] 1/f read noise: K log10(G/1 uS) sqrt(ln((t + ta) / (2 ta))), zero below 1 uS.

    t is the time since the cell was programmed, ta the measurement aperture: a long aperture
    shortly after programming averages the 1/f noise away.
    """
    decades = np.maximum(np.log10(np.maximum(g_s, 1e-12) / 1e-6), 0.0)
    ln_term = np.log((np.maximum(t_since_s, 0.0) + aperture_s) / (2.0 * aperture_s))
    return p.read_noise_k_s * decades * np.sqrt(np.maximum(ln_term, 0.0))


def relaxation_offset_s(t_since_s: np.ndarray, xi: np.ndarray, p: DevicePreset) -> np.ndarray:
    """Conductance change since the last programming event, time-consistent per cell.

    t >= 1 s: [C] mean + sigma xi = c ln t + (s0 + s1 ln t) xi. Below 1 s (assumed): no mean
    shift, sigma ramps in log-time from 0 at `relax_onset_s` to s0 at 1 s, so verify reads taken
    right after a pulse see the programmed value.
    """
    t = np.maximum(np.asarray(t_since_s, dtype=float), 1e-12)
    ln_t = np.log(t)
    ramp = np.clip(np.log(t / p.relax_onset_s) / -np.log(p.relax_onset_s), 0.0, 1.0)
    late = t >= 1.0
    mean = np.where(late, p.relax_mean_s_per_ln * ln_t, 0.0)
    sigma = np.where(late, p.relax_sigma0_s + p.relax_sigma1_s * ln_t, p.relax_sigma0_s * ramp)
    return mean + sigma * xi


def kasdin_pink_taps(n_taps: int, alpha: float = 1.0) -> np.ndarray:
    """[D] fractional-integration coefficients b_k of 1/f^alpha noise (1, 0.5, 0.375, ...)."""
    b = np.ones(n_taps)
    for k in range(1, n_taps):
        b[k] = b[k - 1] * (k - 1 + alpha / 2.0) / k
    return b
