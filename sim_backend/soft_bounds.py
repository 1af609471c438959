"""Soft-bounds update of one pulse, its noise, and the closed form for repeated pulse periods.

For a pulse of dose A (integrated rate, frozen over the pulse) towards target t (1 = SET,
0 = RESET): x -> x + (t - x) q with q = 1 - exp(-A); this is exact for dx/dt = r (t - x).
Each pulse is an affine map x -> t q + (1 - q) x, so a period of several pulses is affine too,
and R periods have a closed form; with per-pulse Gaussian noise the state is an AR(1) process
whose variance also has a closed form. That is what makes 1e6-pulse endurance runs cheap.
"""

from __future__ import annotations

import numpy as np

from .presets import DevicePreset

A_HOT = 0.3  # doses above this are integrated in sub-steps (the state moves during the pulse)
A_SUB = 0.1  # dose per sub-step on that path
MAX_SUBSTEPS = 200


def dose_to_q(a: np.ndarray) -> np.ndarray:
    """q = 1 - exp(-A), accurate for tiny doses in float32 (where 1 - exp rounds to 0)."""
    q = np.exp(-a)
    np.subtract(1.0, q, out=q)
    if a.size and a.min() < 1e-4:  # below this, float32 1 - exp loses > 0.3 %
        small = np.flatnonzero(a < 1e-3)
        q[small] = a[small] * (1.0 - 0.5 * a[small])
    return q


def c2c_sigma(dx_det: np.ndarray, q: np.ndarray, x: np.ndarray, p: DevicePreset) -> np.ndarray:
    """Cycle-to-cycle std of one pulse: a multiplicative part (sigma_mult |dx|) and an additive,
    binomial-like part (sigma_add q 2 sqrt(x (1 - x)): largest mid-window, none at a bound);
    both vanish as q -> 1 (a pulse that drives the cell to its bound leaves it there)."""
    spread = x * (1.0 - x)
    np.clip(spread, 0.0, 0.25, out=spread)
    np.sqrt(spread, out=spread)
    spread *= q
    spread *= 2.0 * p.c2c_sigma_add
    spread *= spread
    mult = dx_det * p.c2c_sigma_mult
    mult *= mult
    spread += mult
    np.sqrt(spread, out=spread)
    spread *= 1.0 - q
    return spread


def periods_for_change(
    x0: np.ndarray, x_fix: np.ndarray, b: np.ndarray, remaining: np.ndarray, max_dx: float
) -> np.ndarray:
    """How many periods of the affine map (fixed point x_fix, slope b) keep |dx| <= max_dx."""
    d = np.abs(x_fix - x0)
    far = d > max_dx
    ln_b = np.log(np.clip(b, 1e-300, 1.0 - 1e-15))
    with np.errstate(divide="ignore", invalid="ignore"):
        n_far = np.log1p(-max_dx / np.where(far, d, 1.0)) / ln_b
    n = np.where(far, np.maximum(np.floor(n_far), 1.0), remaining)
    return np.minimum(n, remaining)


def affine_power(
    x0: np.ndarray, a: np.ndarray, b: np.ndarray, var_p: np.ndarray, n: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """State mean and variance after n periods of x -> a + b x (+ noise of variance var_p)."""
    b = np.clip(b, 0.0, 1.0)
    one_minus_b = 1.0 - b
    stiff = one_minus_b > 1e-12
    x_fix = np.where(stiff, a / np.where(stiff, one_minus_b, 1.0), x0)
    bn = np.exp(n * np.log(np.maximum(b, 1e-300)))
    bn = np.where(b <= 0.0, 0.0, bn)
    mean = np.where(stiff, x_fix + bn * (x0 - x_fix), x0 + n * a)
    one_minus_b2 = 1.0 - b * b
    var = np.where(
        one_minus_b2 > 1e-12, var_p * (1.0 - bn * bn) / np.maximum(one_minus_b2, 1e-12), n * var_p
    )
    return mean, var
