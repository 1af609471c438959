"""Device presets: small, flat, aihwkit-style configs for the simulated ReRAM array.

Sources: [A] Falcone et al. 2025 (arXiv 2502.04524, 130 nm CMO/HfOx 1T1R), [B] Choi et al.,
Adv. Sci. 2025 (350 nm, 60 ns), [C] aihwkit ReRamCMONoiseModel, [D] Majumdar et al., IEEE TED
68(10) 4925 (2021), [F] Stecconi et al., Nano Lett. 24(3) 866 (2024). "calibrated" means fitted
by the checks in tests/model against REFERENCE_RESULTS.md; "assumed" means no source pins it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class DevicePreset:
    """Every physical constant of one chip generation, SI units (S, V, A, s, K, eV)."""

    name: str
    device_class: str = "cmo"  # "cmo" (analog soft-bounds CMO/HfOx) or "weak_reset" ([D] HfOx)

    # --- read-out and cell I-V -----------------------------------------------------------------
    v_read_v: float = 0.2  # [A] reads at 0.1-0.2 V; g_s is the chord conductance here
    iv_v0_v: float = 1.0  # I = G Vr sinh(V/V0)/sinh(Vr/V0); assumed: ~1e-4 A at 1.3 V in LRS [A]

    # --- conductance window (soft bounds), device-to-device spread -------------------------------
    g_lo_s: float = 8.0e-6  # HRS bound; calibrated: 800 RESET pulses end near 10 uS [A] and
    # >= 99 % of cells can still reach the 10 uS P&V level ([C] aihwkit g_min is 9.0 uS)
    g_hi_s: float = 115e-6  # LRS bound; calibrated so 800 SET pulses reach ~100 uS [A]
    g_lo_d2d_rel: float = 0.05  # assumed (research 5.6 suggests 10 %; 5 % keeps 10 uS reachable)
    g_hi_d2d_rel: float = 0.05  # assumed (research 5.6)
    g_pristine_s: float = 1e-9  # assumed: virgin oxide leakage ~1 nS (research 5.4)

    # --- access NMOS (alpha-power law) -----------------------------------------------------------
    nmos_vth_v: float = 0.79  # [A] fit: Isat(1.2 V) = 258 uA, R_triode 0.8 kOhm
    nmos_k_a_per_v_alpha: float = 0.82e-3  # [A] same fit
    nmos_alpha: float = 1.3  # [A] same fit
    nmos_lambda_per_v: float = 0.05  # [A] same fit (output slope)
    nmos_g_off_s: float = 1e-12  # assumed: off-state leakage, keeps the node defined

    # --- electroforming --------------------------------------------------------------------------
    v_form_cell_mean_v: float = 3.17  # [A] cell-level forming voltage
    v_form_cell_sigma_v: float = 0.075  # [A] +-sigma = 75 mV
    v_form_overdrive_v: float = 0.21  # [A] 1T1R 3.38 V minus cell 3.17 V (= 258 uA x 0.8 kOhm)

    # --- SET/RESET kinetics: r = nu exp(-E/kT) sinh(a V/kT), T = T0 + R_th |V I| -----------------
    nu_hz: float = 1e13  # assumed attempt frequency (research 5.11)
    e_set_ev: float = 1.1638  # calibrated: SET dose 3e-3 per +1.35 V / 1 us pulse at 15 uS [A]
    a_set_ev_per_v: float = 0.458  # [B]-derived width/amplitude trade-off (research 5.11), assumed
    # to hold for the 130 nm stack too
    e_reset_ev: float = 0.9124  # calibrated: RESET dose 1e-2 per -1.3 V / 1 us at 30 uS [A]
    a_reset_ev_per_v: float = 0.268  # [B]-derived (research 5.11)
    r_th_set_k_per_w: float = 1e5  # assumed filament thermal resistance in SET (research 5.11)
    r_th_reset_k_per_w: float = 5e5  # calibrated: RESET heats the CMO dome far more (JART uses a
    # polarity-dependent R_th too); gives RESET its strong G dependence ([A] P&V uses -1.5 V at low G)
    t_ambient_k: float = 300.0  # assumed room temperature
    sigma_e_d2d_ev: float = 0.015  # assumed d2d of barriers (research 5.6)
    sigma_ln_nu_d2d: float = 0.3  # assumed d2d of ln(prefactor) (research 5.6)

    # --- cycle-to-cycle noise (per pulse, relative to the deterministic step) ---------------------
    c2c_sigma_mult: float = 0.5  # assumed: NSR 50-100 % per pulse (research 5.6, [A] NSR >= 20 %)
    c2c_sigma_add: float = 0.3  # assumed, same basis

    # --- read noise (1/f), [C] ------------------------------------------------------------------
    read_noise_k_s: float = 0.0277316483e-6  # [C] K: sigma = K log10(G/1uS) sqrt(ln((t+ta)/2ta))

    # --- relaxation in log-time, [C] (time-consistent per cell, from the last programming event) -
    relax_mean_s_per_ln: float = -0.08900206e-6  # [C] mean -0.089 uS ln(t/1 s)
    relax_sigma0_s: float = 0.41183342e-6  # [C] sigma at 1 s
    relax_sigma1_s: float = 0.04201137e-6  # [C] sigma slope per ln(t/1 s)
    relax_onset_s: float = 0.1  # assumed: sub-second sigma ramps 0 -> sigma0 over [onset, 1 s]
    relax_event_threshold_s: float = 1e-9  # assumed: a pulse moving G by > 1 nS re-programs

    # --- endurance wear-out ----------------------------------------------------------------------
    wear_n_e: float = 1e8  # [B] endurance > 1e8 cycles (unverified [S]); full-swing cycles
    wear_beta: float = 0.5  # assumed (research 5.9)
    wear_eps_hi: float = 0.1  # assumed: G_hi shrinks 10 % at N_e
    wear_eps_lo: float = 0.1  # assumed: G_lo grows 10 % at N_e
    wear_life_shape: float = 2.0  # assumed Weibull shape of the stuck-at lifetime
    wear_life_scale: float = 3e8  # assumed Weibull scale (cycles) of the stuck-at lifetime

    # --- fabrication faults ----------------------------------------------------------------------
    p_stuck: float = 0.0  # assumed 0 by default (deterministic checks); set e.g. 0.005
    p_unformable: float = 0.0  # assumed 0 by default; [A] yield >= 0.99 allows <= 0.01

    # --- weak-RESET HfOx class, [D] (used when device_class == "weak_reset") ----------------------
    wr_m1_loc: float = 3.74e-5  # [D] exponential loc
    wr_m1_scale: float = 6.56e-4  # [D] exponential scale (mean ~7e-4 per pulse)
    wr_m1_max: float = 7.6e-3  # [D] truncation
    wr_tstar_median: float = 542.5  # [D] lognormal scale (pulses)
    wr_tstar_sigma_ln: float = 0.803  # [D] lognormal s
    wr_tstar_min: float = 41.0  # [D] truncation
    wr_tstar_max: float = 2000.0  # [D] truncation
    wr_c1_mean: float = 0.00529  # [D]
    wr_c1_sd: float = 0.0532  # [D]
    wr_c1_abs_max: float = 0.15  # [D]
    wr_m2_scale: float = 2.89e-5  # [D] exponential scale
    wr_m2_max: float = 1.3e-4  # [D] truncation
    wr_r0_mean_ohm: float = 6988.0  # [D] LRS after SET
    wr_r0_sd_ohm: float = 381.7  # [D]
    wr_r0_min_ohm: float = 6252.0  # [D]
    wr_r0_max_ohm: float = 7897.0  # [D]
    wr_rtn_p_high: float = 8e-4  # [D] per-pulse transition low -> high
    wr_rtn_p_low: float = 2e-3  # [D] per-pulse transition high -> low
    wr_rtn_amp_max: float = 0.5  # [D] amp_dev ~ U(0, 0.5) per device
    wr_pink_alpha: float = 2.5e-2  # [D] 1/f scale
    wr_pink_taps: int = 15  # [D] fractional-integration filter order
    wr_ref_v: float = 1.2  # assumed: the reference weak-RESET pulse (SL amplitude) counts as 1
    wr_ref_width_s: float = 1e-6  # assumed, same reference pulse
    wr_ref_vg_v: float = 3.3  # assumed, same reference pulse

    # --- recommended bench settings (what the calibration checks use; protocols may differ) -----
    vg_form_v: float = 1.2  # [A] forming gate voltage
    form_step_v: float = 0.02  # assumed ramp step
    form_step_s: float = 1e-3  # assumed ramp dwell
    vg_set_v: float = 1.2  # [A] SET gate (compliance)
    vg_reset_v: float = 3.3  # assumed: RESET needs a strong gate (source is the internal node)
    pv_width_s: float = 10e-6  # calibrated: ~10 iterations at 2 % acceptance [A]
    pt_v_set_v: float = 1.35  # assumed: [A]'s mid-range P&V SET amplitude, reused open loop
    pt_v_reset_v: float = -1.3  # assumed: [A]'s mid-range P&V RESET amplitude, reused open loop
    pt_width_s: float = 1e-6  # calibrated (with e_set/e_reset): 800 pulses span ~10 -> ~100 uS [A]


_CMO_130NM = DevicePreset(name="cmo-hfox-130nm")

_CMO_350NM = dataclasses.replace(
    _CMO_130NM,
    name="cmo-hfox-350nm",
    g_lo_s=5.0e-6,  # research 5.11 (prototype fitted to [B] pulse data)
    g_hi_s=110e-6,  # research 5.11
    v_form_cell_mean_v=2.59,  # [B] 1T1R mean 2.8 V minus the same 0.21 V overdrive (assumed)
    e_set_ev=1.4052,  # calibrated: dx = 2.5e-3 per +1.4 V / 2.5 us at 50 uS ([B] via research 5.11)
    a_set_ev_per_v=0.62,  # calibrated: half-select drift < 1 % (max over cells) after 1e5 pulses [B]
    e_reset_ev=1.2723,  # calibrated: dx = 5.8e-3 per -1.9 V / 2.5 us at 50 uS ([B] via 5.11)
    a_reset_ev_per_v=0.36,  # calibrated: same half-select bound at Gmax [B]
    r_th_reset_k_per_w=2e5,  # calibrated: 800 RESET pulses still reach ~Gmin (research 5.12)
    # relaxation: [C] was fitted on [A]'s 130 nm chip; applied here it would move a 5 uS cell by
    # ~8 % within the 0.25 s of a 1e5-pulse disturb run, which [B] does not see (< 1 %), so it is
    # scaled by 0.02 (assumed).
    relax_mean_s_per_ln=-0.02 * 0.08900206e-6,
    relax_sigma0_s=0.02 * 0.41183342e-6,
    relax_sigma1_s=0.02 * 0.04201137e-6,
    pv_width_s=2.5e-6,  # [B] array pulse width
    pt_v_set_v=1.4,  # [B] array pulses
    pt_v_reset_v=-1.9,  # [B] array pulses
    pt_width_s=2.5e-6,  # [B]
)

_HFOX_WEAK_RESET = dataclasses.replace(
    _CMO_130NM,
    name="hfox-weak-reset",
    device_class="weak_reset",
    iv_v0_v=2.0,  # assumed: HfOx LRS is close to ohmic
    v_form_cell_mean_v=2.3,  # assumed: CEA-Leti HfO2 1T1R forming (not in [D])
    v_form_cell_sigma_v=0.1,  # assumed
    relax_mean_s_per_ln=0.0,  # [D] has no relaxation term; RTN and 1/f carry the noise
    relax_sigma0_s=0.0,  # [D]
    relax_sigma1_s=0.0,  # [D]
    e_set_ev=1.0,  # assumed: a +1.5 V / 1 us pulse SETs with probability ~0.9, reads never
    e_reset_ev=1.123,  # assumed: weak-RESET activation (only ratios to the reference pulse count)
    pt_v_set_v=1.5,  # assumed full-SET pulse
    pt_v_reset_v=-1.2,  # = wr_ref_v: the reference weak-RESET pulse
    pt_width_s=1e-6,  # = wr_ref_width_s
)

PRESETS: dict[str, DevicePreset] = {p.name: p for p in (_CMO_130NM, _CMO_350NM, _HFOX_WEAK_RESET)}


def get_preset(name: str, **overrides: object) -> DevicePreset:
    """The named preset, with fields replaced by `overrides` (dataclasses.replace)."""
    try:
        base = PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown device preset {name!r}; known: {sorted(PRESETS)}") from None
    fields = {f.name for f in dataclasses.fields(DevicePreset)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TypeError(f"unknown DevicePreset field(s) {unknown} for preset {name!r}")
    return dataclasses.replace(base, **overrides)
