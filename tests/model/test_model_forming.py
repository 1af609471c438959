"""Row 1-2 of REFERENCE_RESULTS: electroforming through a BL ramp (20 mV / 1 ms, VG = 1.2 V)."""

from __future__ import annotations

import numpy as np
import pytest
from model_checks import forming

from reramlab.sim_backend.array_model import ArrayModel
from reramlab.sim_backend.transistor import nmos_saturation_current_a


@pytest.fixture(scope="module")
def form_130():
    return forming("cmo-hfox-130nm", 16, 16, seed=0)


def test_130nm_forming_voltage_mean(form_130):
    assert form_130["v_form_mean"] == pytest.approx(3.38, abs=0.1)


def test_130nm_forming_voltage_spread(form_130):
    # target ~75-90 mV with +-30 % tolerance
    assert 0.7 * 0.075 <= form_130["v_form_std"] <= 1.3 * 0.090


def test_130nm_forming_current_and_yield(form_130):
    assert form_130["i_form_mean"] == pytest.approx(258e-6, rel=0.2)
    assert form_130["yield"] >= 0.99
    assert form_130["v_form_cell_mean"] == pytest.approx(3.17, abs=0.03)


def test_350nm_forming_voltage_mean():
    assert forming("cmo-hfox-350nm", 8, 8, seed=1)["v_form_mean"] == pytest.approx(2.8, abs=0.15)


def test_post_forming_conductance_is_compliance_over_forming_voltage():
    m = ArrayModel("cmo-hfox-130nm", 4, 4, seed=2)
    v = 2.5
    while not m.formed.all():
        m.apply(np.full(4, v), np.zeros(4), np.full(4, 1.2), 1e-3)
        v += 0.02
    i_cc = float(nmos_saturation_current_a(1.2, m.preset))
    # cells that formed in the last step(s) sit at I_cc / V_F; the rest were SET further
    assert np.median(m.g_s) >= 0.95 * i_cc / m.v_form_cell.max()


def test_reset_polarity_and_gate_off_do_not_form():
    m = ArrayModel("cmo-hfox-130nm", 2, 2)
    m.apply(np.zeros(2), np.full(2, 4.0), np.full(2, 3.3), 1e-3)  # RESET polarity
    m.apply(np.full(2, 4.0), np.zeros(2), np.zeros(2), 1e-3)  # gate off
    assert not m.formed.any()
