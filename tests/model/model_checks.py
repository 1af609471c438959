"""Model-level versions of the reference scenarios (REFERENCE_RESULTS.md), run straight on the
ArrayModel API (no instruments). Each returns the metrics the reference table names.

`python tests/model/model_checks.py` prints every metric (the numbers quoted in
sim_backend/README.md).
"""

from __future__ import annotations

import time

import numpy as np

from reramlab.sim_backend.array_model import ArrayModel
from reramlab.sim_backend.presets import DevicePreset, get_preset

NAN = np.nan


def _preset(preset: DevicePreset | str) -> DevicePreset:
    return get_preset(preset) if isinstance(preset, str) else preset


def _lines(m: ArrayModel, rows=None, cols=None, v_bl=0.0, v_sl=0.0, v_wl=0.0):
    """Line vectors driving only the given rows / columns (others floating, gates off)."""
    bl = np.full(m.cols, NAN)
    sl = np.full(m.rows, NAN)
    wl = np.zeros(m.rows)
    bl[slice(None) if cols is None else cols] = v_bl
    sl[slice(None) if rows is None else rows] = v_sl
    wl[slice(None) if rows is None else rows] = v_wl
    return bl, sl, wl


def pulse_all(m: ArrayModel, v: float, width_s: float, count: int = 1, **edges) -> None:
    """SET (v > 0: BL high, gate vg_set) or RESET (v < 0: SL high, gate vg_reset) every cell."""
    p = m.preset
    if v >= 0:
        lines = _lines(m, v_bl=v, v_sl=0.0, v_wl=p.vg_set_v)
    else:
        lines = _lines(m, v_bl=0.0, v_sl=-v, v_wl=p.vg_reset_v)
    m.apply(*lines, width_s, count=count, **edges)
    m.clock.advance(count * (width_s + 1e-6))


def formed_model(preset, rows: int, cols: int, g_s: float = 50e-6, seed: int = 0) -> ArrayModel:
    m = ArrayModel(_preset(preset), rows, cols, seed=seed)
    m.program(np.ones((rows, cols), dtype=bool), g_s)
    return m


# --- row 1-2: forming ---------------------------------------------------------------------------
def forming(preset, rows=16, cols=16, seed=0, vg=1.2, step_v=0.02, step_s=1e-3, v_stop=4.5):
    """BL ramp row by row (SL = 0, WL = vg): forming = first step whose current > 50 uA."""
    m = ArrayModel(_preset(preset), rows, cols, seed=seed)
    v_form = np.full((rows, cols), NAN)
    i_form = np.full((rows, cols), NAN)
    for r in range(rows):
        for v in np.arange(step_v, v_stop + 1e-9, step_v):
            lines = _lines(m, rows=r, v_bl=v, v_sl=0.0, v_wl=vg)
            m.apply(*lines, step_s)
            m.clock.advance(step_s)
            i_bl, _ = m.currents(*lines)
            new = np.isnan(v_form[r]) & (i_bl > 50e-6)
            v_form[r, new] = v
            i_form[r, new] = i_bl[new]
            if not np.isnan(v_form[r]).any():
                break
    ok = np.isfinite(v_form)
    return {
        "v_form_mean": float(np.mean(v_form[ok])),
        "v_form_std": float(np.std(v_form[ok])),
        "i_form_mean": float(np.mean(i_form[ok])),
        "yield": float(ok.mean()),
        "v_form_cell_mean": float(m.v_form_cell.mean()),
    }


# --- row 3: quasi-static cycling ----------------------------------------------------------------
def quasi_static(
    preset="cmo-hfox-130nm",
    cols=16,
    v_min=-1.5,
    v_max=1.3,
    step_v=0.01,
    dwell_s=10e-3,
    vg=1.2,
    cycles=3,
):
    """BL sweep 0 -> v_max -> v_min -> 0 (SL = 0, WL = vg) on one row; switching voltages where
    G crosses half-way on each branch; ON/OFF from the noiseless 0.2 V conductance."""
    m = formed_model(preset, 1, cols, g_s=81e-6)
    up = np.arange(0.0, v_max + 1e-9, step_v)
    path = np.concatenate(
        [up, np.arange(v_max, v_min - 1e-9, -step_v), np.arange(v_min, 1e-9, step_v)]
    )
    for _ in range(cycles):
        g = []
        for v in path:
            m.apply(*_lines(m, v_bl=v, v_sl=0.0, v_wl=vg), dwell_s)
            m.clock.advance(dwell_s)
            g.append(m.g_s[0].copy())
    g = np.asarray(g)
    n_up = len(up)
    g_off, g_on, g_end = g[0], g[n_up - 1], g[-1]
    v_set = path[np.argmax(g[:n_up] > 0.5 * (g_off + g_on), axis=0)]
    v_reset = path[n_up + np.argmax(g[n_up:] < 0.5 * (g_on + g_end), axis=0)]
    return {
        "v_set_median": float(np.median(v_set)),
        "v_reset_median": float(np.median(v_reset)),
        "on_off_median": float(np.median(g_on / g_off)),
    }


# --- row 5: open-loop pulse train ---------------------------------------------------------------
def pulse_train(preset="cmo-hfox-130nm", rows=4, cols=8, n_down=800, n_up=800, n_alt=500):
    """From the post-forming state: n_down RESET, n_up SET, n_alt alternating (preset's pt_*)."""
    p = _preset(preset)
    m = formed_model(p, rows, cols, g_s=81e-6)
    seq = [p.pt_v_reset_v] * n_down + [p.pt_v_set_v] * n_up
    seq += [p.pt_v_set_v if k % 2 else p.pt_v_reset_v for k in range(n_alt)]
    g = []
    for v in seq:
        pulse_all(m, v, p.pt_width_s)
        g.append(m.g_s.reshape(-1).copy())
    g = np.asarray(g) * 1e6
    up = np.diff(g[n_down : n_down + n_up], axis=0)
    g_min = np.median(g[:n_down].min(axis=0))
    g_max = np.median(g[: n_down + n_up].max(axis=0))
    return {
        "g_min_uS": float(g_min),
        "g_max_uS": float(g_max),
        "g_sym_uS": float(np.median(g[-n_alt // 2 :])),
        "states": float((g_max - g_min) / np.median(np.abs(up))),
        "states_noise_limited": float((g_max - g_min) / (2 * np.median(np.std(up, axis=0)))),
    }


# --- rows 6-7: identical-pulse program-verify ----------------------------------------------------
def _pv_amplitudes(g_t_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[A] amplitudes by target range: 10-30 uS +1.35/-1.5; 30-60 +1.35/-1.3; 60-90 +1.5/-1.3."""
    return np.where(g_t_us < 60, 1.35, 1.5), np.where(g_t_us < 30, 1.5, 1.3)


def program_verify(
    preset="cmo-hfox-130nm",
    acceptance=0.02,
    n_cells=128,
    width_s=None,
    max_iter=1000,
    seed=3,
    start_g_s=None,
):
    """Bidirectional identical-pulse loop on a 1 x n row (32 levels 10-90 uS, cells in parallel,
    SET pulses by BL, RESET by SL of the same row); verify = noiseless read; stop when inside.
    Cells start from arbitrary prior states (uniform 10-90 uS) unless start_g_s is given."""
    p = _preset(preset)
    width_s = p.pv_width_s if width_s is None else width_s
    if start_g_s is None:
        start_g_s = np.random.default_rng(seed).uniform(10e-6, 90e-6, n_cells)
    m = formed_model(p, 1, n_cells, g_s=start_g_s, seed=seed)
    g_t = np.tile(np.linspace(10e-6, 90e-6, 32), n_cells // 32)
    v_set, v_reset = _pv_amplitudes(g_t * 1e6)
    iters = np.zeros(n_cells, dtype=int)
    done = np.zeros(n_cells, dtype=bool)
    final = np.full(n_cells, NAN)
    for _ in range(max_iter):
        g = m.g_s[0]
        low, high = g < g_t * (1 - acceptance), g > g_t * (1 + acceptance)
        inside = ~(low | high) & ~done
        final[inside] = g[inside]
        done |= inside
        if done.all():
            break
        iters += ~done
        for v in np.unique(v_set[~done & low]):
            sel = ~done & low & (v_set == v)
            m.apply(np.where(sel, v, NAN), np.zeros(1), np.full(1, p.vg_set_v), width_s)
        for v in np.unique(v_reset[~done & high]):
            sel = ~done & high & (v_reset == v)
            m.apply(np.where(sel, 0.0, NAN), np.full(1, v), np.full(1, p.vg_reset_v), width_s)
        m.clock.advance(2e-3)
    err = (final - g_t).reshape(-1, 32)
    sigma = np.nanstd(err, axis=0, ddof=1)
    slope, intercept = np.polyfit(g_t[:32] * 1e6, sigma * 1e6, 1)
    rel = sigma / (acceptance * g_t[:32])  # per level, in units of the acceptance range
    return {
        "success_rate": float(done.mean()),
        "iterations_median": float(np.median(iters)),
        "sigma_prog_slope": float(slope),
        "sigma_prog_intercept_uS": float(intercept),
        "sigma_rel_low": float(np.mean(rel[:8])),  # 10-28 uS levels; uniform landing = 1/sqrt(3)
        "sigma_rel_mid": float(np.mean(rel[8:24])),
        "sigma_rel_high": float(np.mean(rel[24:])),
    }


# --- row 8: half-select disturb ------------------------------------------------------------------
def half_select(preset="cmo-hfox-350nm", n_half=100_000, rows=8, cols=8):
    """k = dG(Vs/2)/dG(Vs) (both polarities, at Gmin for SET and Gmax for RESET) and the drift
    after n_half half-select pulses at Gmin and Gmax (read after relaxation has settled)."""
    p = _preset(preset)
    out = {}
    for v_full, label in ((p.pt_v_set_v, "set"), (p.pt_v_reset_v, "reset")):
        g_start = 1.2 * p.g_lo_s if v_full > 0 else 0.9 * p.g_hi_s
        m_full = formed_model(p, rows, cols, g_s=g_start)
        m_full.clock.advance(3600.0)
        g0 = m_full.g_s.copy()
        pulse_all(m_full, v_full, p.pt_width_s)
        dg_full = np.median(m_full.g_s - g0)
        m_half = formed_model(p, rows, cols, g_s=g_start)
        m_half.clock.advance(3600.0)
        g0 = m_half.g_s.copy()
        pulse_all(m_half, v_full / 2, p.pt_width_s, count=n_half)
        dg_half = np.median(m_half.g_s - g0) / n_half
        out[f"k_{label}_median"] = float(abs(dg_half / dg_full))
    for g_start, label in ((p.g_lo_s, "gmin"), (p.g_hi_s, "gmax")):
        for v_full in (p.pt_v_set_v, p.pt_v_reset_v):
            m = formed_model(p, rows, cols, g_s=g_start)
            m.clock.advance(3600.0)
            g0 = m.g_s.copy()
            pulse_all(m, v_full / 2, p.pt_width_s, count=n_half)
            key = f"half_select_drift_max_{label}"
            out[key] = max(out.get(key, 0.0), float(np.max(np.abs(m.g_s / g0 - 1))))
    out["half_select_drift_max"] = max(
        out["half_select_drift_max_gmin"], out["half_select_drift_max_gmax"]
    )
    return out


# --- row 4: endurance ----------------------------------------------------------------------------
def endurance(
    preset="cmo-hfox-350nm",
    n_pairs=100_000,
    cols=8,
    burst=200,
    v_set=1.6,
    v_reset=-2.3,
    width_s=60e-9,
):
    """n_pairs 60 ns SET/RESET pairs (one closed-form burst); the analog window is read as the
    G after `burst` SET pulses minus the G after `burst` RESET pulses, before and after."""
    p = _preset(preset)
    m = formed_model(p, 1, cols)
    set_step = dict(
        zip(
            ("v_bl", "v_sl", "v_wl"), _lines(m, v_bl=v_set, v_sl=0.0, v_wl=p.vg_set_v), strict=True
        ),
        duration_s=width_s,
    )
    rst_step = dict(
        zip(
            ("v_bl", "v_sl", "v_wl"),
            _lines(m, v_bl=0.0, v_sl=-v_reset, v_wl=p.vg_reset_v),
            strict=True,
        ),
        duration_s=width_s,
    )

    def window() -> float:
        m.apply_sequence([set_step], repeat=burst)
        g_on = m.g_s.copy()
        m.apply_sequence([rst_step], repeat=burst)
        return float(np.median(g_on - m.g_s))

    w0 = window()
    t0 = time.perf_counter()
    m.apply_sequence([set_step, rst_step], repeat=n_pairs)
    elapsed = time.perf_counter() - t0
    return {
        "pulses": n_pairs,
        "window_retained": window() / w0,
        "window_uS": w0 * 1e6,
        "burst_s": elapsed,
    }


# --- rows 10-11: retention and read noise --------------------------------------------------------
def retention(preset="cmo-hfox-130nm", rows=64, cols=64, times_s=(3600.0, 10 * 365.25 * 86400.0)):
    """Program, then read the noiseless G at each time since programming: mean and sigma of the
    change (cells programmed by program-verify-like direct setting at several levels)."""
    m = ArrayModel(_preset(preset), rows, cols, seed=5)
    levels = np.tile(np.linspace(10e-6, 90e-6, cols), (rows, 1))
    m.program(np.ones((rows, cols), dtype=bool), levels)
    g0 = m.g_s.copy()
    out = {}
    for t in times_s:
        m.clock.advance(t - m.clock.now_s)
        d = (m.g_s - g0) * 1e6
        out[t] = (float(d.mean()), float(d.std()))
    return out


def read_noise(preset="cmo-hfox-130nm", g_s=50e-6, t_s=1.0, aperture_s=1e-6, n_reads=4000, vg=1.2):
    """sigma of G = I / V_read over repeated reads of one row of cells at 50 uS, t after programming."""
    p = _preset(preset)
    m = formed_model(p, 1, 8, g_s=g_s)
    m.clock.advance(t_s)
    lines = _lines(m, v_bl=p.v_read_v, v_sl=0.0, v_wl=vg)
    reads = np.asarray([m.currents(*lines, aperture_s=aperture_s)[0] for _ in range(n_reads // 8)])
    return float(np.mean(np.std(reads / p.v_read_v, axis=0)))


# --- row 12: weak-RESET -------------------------------------------------------------------------
def weak_reset(preset="hfox-weak-reset", rows=16, cols=16, n_pulses=3000):
    """Reference weak-RESET pulses on every cell after a full SET; ln R slope early (fit over the
    first 100 pulses) and late (pulses 2000-3000, past every t*), both means over cells."""
    p = _preset(preset)
    m = ArrayModel(p, rows, cols, seed=2)
    m.program(np.ones((rows, cols), dtype=bool), 1.0 / p.wr_r0_mean_ohm)
    pulse_all(m, p.pt_v_set_v, 1e-6, count=3)  # a real SET: fresh R0 from [D]
    r = [1.0 / m.g_s.reshape(-1)]
    for _ in range(n_pulses):
        pulse_all(m, p.pt_v_reset_v, p.pt_width_s)
        r.append(1.0 / m.g_s.reshape(-1))
    ln_r = np.log(np.asarray(r))
    n = np.arange(n_pulses + 1)
    early = np.polyfit(n[:101], ln_r[:101], 1)[0]
    late, late_icpt = np.polyfit(n[2000:], ln_r[2000:], 1)
    resid = ln_r[2000:] - (late * n[2000:, None] + late_icpt)
    return {
        "ln_r_noise_std": float(np.median(np.std(resid, axis=0))),  # RTN + 1/f
        "ln_r_slope_early": float(np.mean(early)),
        "ln_r_slope_late": float(np.mean(late)),
        "r0_mean_ohm": float(np.mean(np.exp(ln_r[0]))),
    }


if __name__ == "__main__":
    print("forming 130nm", forming("cmo-hfox-130nm", 32, 32))
    print("forming 350nm", forming("cmo-hfox-350nm", 16, 16))
    print("quasi-static 130nm", quasi_static())
    print("pulse train 130nm", pulse_train())
    print("pulse train 350nm", pulse_train("cmo-hfox-350nm"))
    print("P&V 2 %", program_verify(acceptance=0.02, n_cells=640))
    print("P&V 0.2 %", program_verify(acceptance=0.002, n_cells=640))
    print(
        "P&V 2 % from post-forming 81 uS",
        program_verify(acceptance=0.02, n_cells=640, start_g_s=81e-6),
    )
    print("half-select 350nm", half_select())
    print("endurance 350nm", endurance())
    print("retention 130nm", retention())
    print("read noise 130nm", read_noise())
    print("weak reset", weak_reset())
