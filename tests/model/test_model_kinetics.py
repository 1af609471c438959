"""Rows 3, 5, 6, 7 of REFERENCE_RESULTS on the 130 nm preset, at model level."""

from __future__ import annotations

import numpy as np
import pytest
from model_checks import formed_model, program_verify, pulse_all, pulse_train, quasi_static


def test_quasi_static_sweep_switches_inside_1v5_with_on_off_5_to_30():
    r = quasi_static(cols=8, cycles=2)
    assert 0 < r["v_set_median"] < 1.3  # SET inside the +1.3 V sweep
    assert -1.5 < r["v_reset_median"] < 0
    assert 5 <= r["on_off_median"] <= 30


@pytest.fixture(scope="module")
def train():
    return pulse_train(rows=4, cols=8)


def test_pulse_train_window_10_to_100_uS(train):
    assert train["g_min_uS"] == pytest.approx(10, rel=0.3)
    assert train["g_max_uS"] == pytest.approx(100, rel=0.3)


def test_pulse_train_symmetry_point_and_states(train):
    assert 20 <= train["g_sym_uS"] <= 40
    assert train["states"] > 30
    assert train["states_noise_limited"] > 30


def _assert_sigma_tracks_acceptance(r):
    """[A]/[C]: programmed spread = AR/sqrt(3) x G (uniform landing), at every level range."""
    for key in ("sigma_rel_low", "sigma_rel_mid", "sigma_rel_high"):
        assert r[key] == pytest.approx(3**-0.5, rel=0.4), key


def test_program_verify_2_percent():
    r = program_verify(acceptance=0.02, n_cells=128)
    assert r["success_rate"] >= 0.99
    assert r["iterations_median"] <= 3 * 10
    assert r["sigma_prog_slope"] == pytest.approx(1.13e-2, rel=0.4)
    _assert_sigma_tracks_acceptance(r)


def test_program_verify_0p2_percent():
    r = program_verify(acceptance=0.002, n_cells=128)
    assert 90 / 3 <= r["iterations_median"] <= 3 * 90
    assert r["sigma_prog_slope"] == pytest.approx(1.07e-3, rel=0.4)
    _assert_sigma_tracks_acceptance(r)


def test_soft_bounds_steps_shrink_towards_the_bound():
    m = formed_model("cmo-hfox-130nm", 1, 64, g_s=20e-6)
    g = [m.g_s.copy()]
    for _ in range(60):
        pulse_all(m, 1.35, 10e-6)
        g.append(m.g_s.copy())
    steps = np.diff(np.median(np.asarray(g), axis=(1, 2)))
    assert steps[:10].mean() > 3 * steps[-10:].mean() > 0


def test_gate_voltage_sets_the_compliance():
    """A long SET at high BL voltage: a lower gate voltage leaves a lower conductance."""
    out = []
    for vg in (0.95, 1.2):
        m = formed_model("cmo-hfox-130nm", 1, 16, g_s=15e-6)
        m.apply(np.full(16, 2.0), np.zeros(1), np.full(1, vg), 1e-3)
        out.append(np.median(m.g_s))
    assert out[0] < 0.9 * out[1]


def test_reset_through_the_source_follower_needs_a_strong_gate():
    """RESET by raising SL: the NMOS source is the internal node, so V_GS = V_WL - V_node and a
    1.2 V gate caps the cell voltage near V_WL - V_th; a 3.3 V gate (or a negative BL) resets."""
    dg = {}
    for label, lines in {
        "sl_vg1.2": (np.zeros(8), np.full(1, 1.5), np.full(1, 1.2)),
        "sl_vg3.3": (np.zeros(8), np.full(1, 1.5), np.full(1, 3.3)),
        "neg_bl_vg1.2": (np.full(8, -1.5), np.zeros(1), np.full(1, 1.2)),
    }.items():
        m = formed_model("cmo-hfox-130nm", 1, 8, g_s=60e-6)
        i_bl, _ = m.currents(*lines)
        m.apply(*lines, 10e-6, count=5)
        dg[label] = (float(np.median(m.g_s)) - 60e-6, float(np.median(i_bl)))
    assert -dg["sl_vg1.2"][1] < 0.45 * 60e-6 * 1.1  # |V_cell| < ~0.45 V
    assert dg["sl_vg1.2"][0] > -0.1e-6
    assert dg["sl_vg3.3"][0] < -10e-6 and dg["neg_bl_vg1.2"][0] < -10e-6
