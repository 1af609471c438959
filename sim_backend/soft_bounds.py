"""Soft-bounds update of one pulse, its noise, and the closed form for repeated pulse periods.

For a pulse of dose A (integrated rate, frozen over the pulse) towards target t (1 = SET,
0 = RESET): x -> x + (t - x) q with q = 1 - exp(-A); this is exact for dx/dt = r (t - x).
Each pulse is an affine map x -> t q + (1 - q) x, so a period of several pulses is affine too,
and R periods have a closed form; with per-pulse Gaussian noise the state is an AR(1) process
whose variance also has a closed form. That is what makes 1e6-pulse endurance runs cheap.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from .presets import DevicePreset

A_HOT = 0.3  # doses above this are integrated in sub-steps (the state moves during the pulse)
A_SUB = 0.1  # dose per sub-step on that path
MAX_SUBSTEPS = 200
EXP_SERIES_MAX = 0.5  # exp_series() takes |y| up to this
_SERIES_TOL = 2.0**-26  # relative truncation error of the series below: < 1/4 float32 ulp


class _Series:
    """A power series sum_k c_k z^k, evaluated in float32 (Horner) to the lowest degree whose
    relative truncation error bound(z_max, degree) is below _SERIES_TOL."""

    def __init__(self, coef: list[float], bound) -> None:
        self.coef = [np.float32(c) for c in coef]
        self.reach = []  # reach[d - 1]: the largest z_max that degree d covers
        for d in range(1, len(coef) - 1):
            lo, hi = 0.0, 1.0
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if bound(mid, d) <= _SERIES_TOL else (lo, mid)
            self.reach.append(lo)

    def __call__(self, z: np.ndarray, z_max: float, out: np.ndarray | None) -> np.ndarray:
        d = 1 + bisect.bisect_left(self.reach, z_max)
        if d >= len(self.coef) - 1:
            raise ValueError(f"series argument {z_max} out of range")
        c = self.coef
        p = np.multiply(z, c[d], out=out)
        for j in range(d - 1, 0, -1):
            p += c[j]
            p *= z
        if c[0]:
            p += c[0]
        return p


# exp(y) = sum y^k / k!; remainder < |y|^(d+1) / (d+1)! e^|y|, relative to e^y >= e^-|y|
_EXP = _Series(
    [1.0 / math.factorial(k) for k in range(14)],
    lambda z, d: z ** (d + 1) / math.factorial(d + 1) * math.exp(2 * z),
)
# 1 - exp(-A) = sum_{k >= 1} (-1)^(k+1) A^k / k!: alternating, remainder < A^(d+1) / (d+1)!,
# relative to 1 - exp(-A) >= A (1 - A / 2)
_Q = _Series(
    [0.0] + [(-1) ** (k + 1) / math.factorial(k) for k in range(1, 14)],
    lambda z, d: z**d / math.factorial(d + 1) / (1 - z / 2),
)


def exp_series(y: np.ndarray, y_max: float, out: np.ndarray | None = None) -> np.ndarray:
    """exp(y) for |y| <= y_max <= EXP_SERIES_MAX, float32: a few multiply-adds instead of a
    transcendental (relative truncation error < 2^-26)."""
    return _EXP(y, y_max, out)


def dose_to_q_series(a: np.ndarray, a_max: float, out: np.ndarray | None = None) -> np.ndarray:
    """q = 1 - exp(-A) for 0 <= A <= a_max <= A_HOT, float32, from its series (relative
    truncation error < 2^-26, and no cancellation for tiny doses)."""
    return _Q(a, a_max, out)


def dose_to_q(a: np.ndarray) -> np.ndarray:
    """q = 1 - exp(-A), accurate for tiny doses in float32 (where 1 - exp rounds to 0)."""
    q = np.exp(-a)
    np.subtract(1.0, q, out=q)
    if a.size and a.min() < 1e-4:  # below this, float32 1 - exp loses > 0.3 %
        small = np.flatnonzero(a < 1e-3)
        q[small] = a[small] * (1.0 - 0.5 * a[small])
    return q


def c2c_sigma(
    dx_det: np.ndarray,
    q: np.ndarray,
    x: np.ndarray,
    p: DevicePreset,
    out: np.ndarray | None = None,
    scratch: np.ndarray | None = None,
) -> np.ndarray:
    """Cycle-to-cycle std of one pulse: a multiplicative part (sigma_mult |dx|) and an additive,
    binomial-like part (sigma_add q 2 sqrt(x (1 - x)): largest mid-window, none at a bound);
    both vanish as q -> 1 (a pulse that drives the cell to its bound leaves it there).

    Optional buffers shaped like x: `out` receives the result, `scratch` is a temporary."""
    spread = np.subtract(1.0, x, out=out)
    spread *= x
    np.clip(spread, 0.0, 0.25, out=spread)
    np.sqrt(spread, out=spread)
    spread *= q
    spread *= 2.0 * p.c2c_sigma_add
    spread *= spread
    mult = np.multiply(dx_det, p.c2c_sigma_mult, out=scratch)
    mult *= mult
    spread += mult
    np.sqrt(spread, out=spread)
    spread *= np.subtract(1.0, q, out=mult)
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
