"""Rows 4 and 8 of REFERENCE_RESULTS on the 350 nm preset, at model level."""

from __future__ import annotations

import pytest
from model_checks import endurance, half_select


@pytest.fixture(scope="module")
def disturb():
    return half_select(n_half=100_000, rows=8, cols=8)


def test_half_select_k_below_0p005_both_polarities(disturb):
    assert disturb["k_set_median"] < 0.005
    assert disturb["k_reset_median"] < 0.005


def test_half_select_drift_below_1_percent_at_gmin_and_gmax(disturb):
    assert disturb["half_select_drift_max_gmin"] < 0.01
    assert disturb["half_select_drift_max_gmax"] < 0.01


def test_endurance_window_open_after_1e5_pairs_of_60ns_pulses():
    r = endurance(n_pairs=100_000)
    assert r["window_retained"] >= 0.5
    assert r["window_uS"] > 10
    assert r["burst_s"] < 1.0


def test_wear_out_closes_the_window_eventually():
    r = endurance(n_pairs=10**10)
    assert r["window_retained"] < 0.9
