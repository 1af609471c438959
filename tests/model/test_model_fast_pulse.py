"""The one-pulse kernel (CmoCells.pulse: blocked, exp-free, fused) against the arithmetic it
replaced (_step_det + c2c_sigma, which the closed form still uses), from identical states and
with identical noise draws: the two agree to float32 rounding."""

from __future__ import annotations

import types

import numpy as np
import pytest

from reramlab.sim_backend import cmo_cells
from reramlab.sim_backend.array_model import ArrayModel
from reramlab.sim_backend.soft_bounds import c2c_sigma, dose_to_q_series, exp_series

X_TOL = 4 * float(np.spacing(np.float32(1.0)))  # a few float32 roundings of x in [0, 1]


def _reference_pulse(self, rates, idx, combo, normals):
    """CmoCells.pulse before the fast kernel, kept as the oracle."""
    x = self.x if idx is None else self.x[idx]
    target = rates.target[0] if combo is None else rates.target[combo]
    dx, q = self._step_det(rates, idx, combo, x, target)
    kick = c2c_sigma(dx, q, x, self.p)
    kick *= normals.draw(len(x))
    dx += kick
    x_new = x + dx
    np.clip(x_new, 0.0 if x.min(initial=0.0) >= 0 else np.minimum(x, 0.0), 1.0, out=x_new)
    d = np.abs(x_new - x)
    if idx is None:
        self.x = x_new
    else:
        self.x[idx] = x_new
    self._account_wear(idx, d)
    return d * (self.dg if idx is None else self.dg[idx])


def _twins(preset, rows, cols, below_zero=False):
    """Two identical formed models (random states); the second pulses with the oracle."""
    rng = np.random.default_rng(5)
    g = rng.uniform(5e-6, 120e-6, (rows, cols))
    pair = []
    for _ in range(2):
        m = ArrayModel(preset, rows, cols, seed=3)
        m.program(np.ones((rows, cols), dtype=bool), g)
        if below_zero:  # as a relaxation fold-in leaves them: down to G_lo / 2
            d = m._dev
            d.add_g(np.arange(0, d.n, 7), -0.4 * d.glo[::7])
        m.clock.advance(1e-3)
        pair.append(m)
    pair[1]._dev.pulse = types.MethodType(_reference_pulse, pair[1]._dev)
    return pair


def _cases(rows, cols):
    z, o = np.zeros(cols), np.ones(cols)
    zr, orow = np.zeros(rows), np.ones(rows)
    bl = z.copy()
    bl[: cols // 3] = 1.4
    sl = zr.copy()
    sl[rows // 2 :] = 0.7
    one_bl, one_sl, one_wl = np.full(cols, np.nan), np.full(rows, np.nan), zr.copy()
    one_bl[2], one_sl[1], one_wl[1] = 1.4, 0.0, 1.2
    analog = np.random.default_rng(1).uniform(0.8, 1.5, cols)  # > 256 biases: direct mode
    return {
        "set": ((1.35 * o, zr, 1.2 * orow), dict(duration_s=1e-6)),
        "reset_some_hot": ((z, 1.3 * orow, 3.3 * orow), dict(duration_s=1e-6)),
        "set_all_hot": ((2.0 * o, zr, 1.5 * orow), dict(duration_s=1e-5)),
        "reset_steep_table": ((z, 3.0 * orow, 3.3 * orow), dict(duration_s=1e-6)),
        "half_select": ((0.7 * o, zr, 1.2 * orow), dict(duration_s=1e-6)),
        "edges": ((1.4 * o, zr, 1.2 * orow), dict(duration_s=1e-6, rise_s=2e-7, fall_s=2e-7)),
        "triangle": ((z, 1.5 * orow, 3.3 * orow), dict(duration_s=2e-6, shape="triangle")),
        "two_combos": ((bl, sl, 1.2 * orow), dict(duration_s=1e-6)),
        "one_cell": ((one_bl, one_sl, one_wl), dict(duration_s=1e-6)),
        "direct_mode": ((analog, zr, 1.2 * orow), dict(duration_s=1e-6)),
    }


@pytest.mark.parametrize("case", sorted(_cases(4, 300)))
@pytest.mark.parametrize("preset,below_zero", [("cmo-hfox-130nm", False), ("cmo-hfox-350nm", True)])
def test_fast_pulse_matches_reference_arithmetic(monkeypatch, preset, below_zero, case):
    monkeypatch.setattr(cmo_cells, "_BLOCK", 250)  # several blocks and a short last one
    rows, cols = 4, 300
    fast, ref = _twins(preset, rows, cols, below_zero)
    lines, kw = _cases(rows, cols)[case]
    x0 = fast._dev.x.copy()
    fast.apply(*lines, **kw)
    ref.apply(*lines, **kw)
    moved = np.abs(ref._dev.x - x0)
    assert moved.max() > 0 or case == "half_select"
    np.testing.assert_allclose(fast._dev.x, ref._dev.x, rtol=0, atol=X_TOL)
    np.testing.assert_allclose(fast._dev.wear, ref._dev.wear, rtol=0, atol=X_TOL)
    np.testing.assert_allclose(fast.g_s, ref.g_s, rtol=1e-5)
    assert (fast._dg_first > 1e-9).sum() == (ref._dg_first > 1e-9).sum()
    assert fast._rng.bit_generator.state == ref._rng.bit_generator.state  # same draws


def test_fast_pulses_track_the_reference_over_many_pulses():
    fast, ref = _twins("cmo-hfox-130nm", 64, 64)
    for k in range(40):
        v = np.full(64, 1.35) if k % 2 else np.zeros(64)
        lines = (v, np.zeros(64), np.full(64, 1.2)) if k % 2 else (v, np.full(64, 1.3), 3.3)
        for m in (fast, ref):
            m.apply(*lines, 1e-6)
            m.clock.advance(2e-6)
    np.testing.assert_allclose(fast.g_s, ref.g_s, rtol=1e-5)


@pytest.mark.parametrize("y_max", [1e-4, 0.01, 0.1, 0.5])
def test_exp_series_is_float32_accurate(y_max):
    y = np.linspace(-y_max, y_max, 100_001, dtype=np.float32)
    rel = exp_series(y, y_max) / np.exp(y.astype(float)) - 1.0
    assert np.abs(rel).max() < 2 * float(np.spacing(np.float32(1.0)))


@pytest.mark.parametrize("a_max", [1e-6, 1e-3, 0.04, 0.3])
def test_dose_to_q_series_is_float32_accurate_down_to_tiny_doses(a_max):
    a = np.concatenate([[0.0], np.geomspace(1e-12, a_max, 100_000)]).astype(np.float32)
    q = dose_to_q_series(a, a_max)
    exact = -np.expm1(-a.astype(float))
    assert q[0] == 0.0
    assert np.abs(q[1:] / exact[1:] - 1.0).max() < 2 * float(np.spacing(np.float32(1.0)))
