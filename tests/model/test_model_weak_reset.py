"""Row 12 of REFERENCE_RESULTS: the HfOx weak-RESET regime [D], at model level."""

from __future__ import annotations

import numpy as np
import pytest
from model_checks import pulse_all, weak_reset

from reramlab.sim_backend.array_model import ArrayModel


@pytest.fixture(scope="module")
def wr():
    return weak_reset(rows=16, cols=16, n_pulses=3000)


def test_ln_r_slopes(wr):
    assert wr["ln_r_slope_early"] == pytest.approx(7e-4, rel=0.4)
    assert wr["ln_r_slope_late"] == pytest.approx(3e-5, rel=0.4)


def test_rtn_and_pink_noise_ride_on_top(wr):
    assert 1e-3 < wr["ln_r_noise_std"] < 0.1


def test_r0(wr):
    assert wr["r0_mean_ohm"] == pytest.approx(7000, abs=380)


def test_full_set_restores_lrs_and_half_amplitude_barely_counts():
    m = ArrayModel("hfox-weak-reset", 8, 8, seed=1)
    m.program(np.ones((8, 8), dtype=bool), 1 / 7000)
    p = m.preset
    pulse_all(m, p.pt_v_reset_v, p.pt_width_s, count=1000)
    r_high = np.median(1 / m.g_s)
    assert r_high > 1.2 * 7000
    pulse_all(m, p.pt_v_reset_v / 2, p.pt_width_s, count=1000)
    assert np.median(1 / m.g_s) == pytest.approx(r_high, rel=0.05)
    pulse_all(m, p.pt_v_set_v, 1e-6, count=5)
    assert np.median(1 / m.g_s) == pytest.approx(7000, rel=0.1)
