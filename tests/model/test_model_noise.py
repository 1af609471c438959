"""Rows 10-11 of REFERENCE_RESULTS: relaxation and read noise laws of [C], at model level."""

from __future__ import annotations

import numpy as np
import pytest
from model_checks import formed_model, read_noise, retention

TEN_YEARS_S = 10 * 365.25 * 86400.0


@pytest.fixture(scope="module")
def drift():
    return retention(rows=64, cols=64, times_s=(3600.0, TEN_YEARS_S))


def test_relaxation_after_1_hour(drift):
    mean, sigma = drift[3600.0]
    assert mean == pytest.approx(-0.73, rel=0.2)
    assert sigma == pytest.approx(0.76, rel=0.2)


def test_relaxation_after_10_years(drift):
    mean, sigma = drift[TEN_YEARS_S]
    assert mean == pytest.approx(-1.74, rel=0.2)
    assert sigma == pytest.approx(1.23, rel=0.2)


def test_relaxation_is_time_consistent_and_g_independent():
    m = formed_model("cmo-hfox-130nm", 32, 32)
    m.program(np.ones((32, 32), dtype=bool), np.tile(np.linspace(15e-6, 85e-6, 32), (32, 1)))
    g0 = m.g_s.copy()
    traj = []
    for t in (10.0, 100.0, 1e4, 1e6):
        m.clock.advance(t - m.clock.now_s)
        traj.append(m.g_s - g0)
    traj = np.asarray(traj)
    # one deviate per cell: (dG - mean(t)) / sigma(t) is the same number at every t
    p = m.preset
    ln_t = np.log([10.0, 100.0, 1e4, 1e6])[:, None, None]
    z = (traj - p.relax_mean_s_per_ln * ln_t) / (p.relax_sigma0_s + p.relax_sigma1_s * ln_t)
    assert np.allclose(z[0], z[-1], atol=1e-3)
    low, high = traj[-1][:, :16], traj[-1][:, 16:]
    assert np.mean(low) == pytest.approx(np.mean(high), abs=0.15e-6)


def test_verify_reads_right_after_a_pulse_see_no_relaxation():
    m = formed_model("cmo-hfox-130nm", 4, 4, g_s=50e-6)
    m.clock.advance(0.05)
    assert np.allclose(m.g_s, 50e-6, rtol=1e-6)


def test_read_noise_at_50uS_1s_1us_reads():
    assert read_noise(n_reads=4000) == pytest.approx(0.17e-6, rel=0.3)


def test_long_aperture_right_after_programming_is_quiet():
    assert read_noise(t_s=1e-3, aperture_s=1e-3, n_reads=800) < 0.02e-6
