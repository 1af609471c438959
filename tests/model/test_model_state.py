"""ArrayModel.state() / load_state(): a restored chip continues bit for bit, for both device
classes, through an .npz file; a state of another chip (or a damaged one) is refused whole."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from reramlab.sim_backend.array_model import ArrayModel, ChipStateError
from reramlab.sim_backend.clock import SimClock
from reramlab.sim_backend.presets import get_preset

NAN = np.nan


def _lines(m: ArrayModel, rows=None, cols=None, v_bl=0.0, v_sl=0.0, v_wl=0.0):
    bl, sl, wl = np.full(m.cols, NAN), np.full(m.rows, NAN), np.zeros(m.rows)
    bl[slice(None) if cols is None else cols] = v_bl
    sl[slice(None) if rows is None else rows] = v_sl
    wl[slice(None) if rows is None else rows] = v_wl
    return bl, sl, wl


def _read(m: ArrayModel, out: list) -> None:
    """Noisy reads of every row (draws from the random stream), plus the noiseless state."""
    for r in range(m.rows):
        i_bl, _ = m.currents(*_lines(m, rows=r, v_bl=0.2, v_wl=1.2), aperture_s=1e-3)
        out.append(i_bl)
    out.append(m.g_s)
    out.append(m.wear_cycles)


def session_a(m: ArrayModel, out: list) -> None:
    """Forming ramps on some rows, single SET/RESET pulses, a half-selected burst."""
    p = m.preset
    for r in range(0, m.rows, 2):
        for v in np.arange(2.8, 4.0, 0.05):
            m.apply(*_lines(m, rows=r, v_bl=v, v_wl=1.2), 1e-3)
            m.clock.advance(1e-3)
    _read(m, out)
    m.apply(*_lines(m, v_bl=p.pt_v_set_v, v_wl=p.vg_set_v), p.pt_width_s)
    m.clock.advance(1e-3)
    m.apply(*_lines(m, rows=[1], cols=[0, 2], v_sl=-p.pt_v_reset_v, v_wl=p.vg_reset_v), 1e-6)
    m.clock.advance(2.0)  # relaxation runs for seconds
    m.apply(*_lines(m, cols=[1], v_bl=0.5 * p.pt_v_set_v, v_wl=p.vg_set_v), 1e-6, count=50)
    m.apply(*_lines(m, rows=[0, 2], v_sl=-p.pt_v_reset_v, v_wl=p.vg_reset_v), p.pt_width_s,
            count=30)  # fmt: skip
    set_ = dict(zip(("v_bl", "v_sl", "v_wl"), _lines(m, v_bl=1.4, v_wl=1.2), strict=True))
    reset = dict(zip(("v_bl", "v_sl", "v_wl"), _lines(m, v_sl=1.3, v_wl=3.3), strict=True))
    m.apply_sequence([dict(set_, duration_s=1e-6), dict(reset, duration_s=1e-6)], repeat=300)
    m.set_stuck(np.s_[m.rows - 1, 0], 20e-6)
    m.clock.advance(0.1)
    _read(m, out)


def session_b(m: ArrayModel, out: list) -> None:
    """Relaxation over an hour, trains in closed form (wear), a sequence, reads."""
    p = m.preset
    m.clock.advance(3600.0)
    _read(m, out)
    m.apply(*_lines(m, v_bl=0.0, v_sl=-p.pt_v_reset_v, v_wl=p.vg_reset_v), p.pt_width_s, count=400)
    m.clock.advance(1.0)
    set_ = dict(zip(("v_bl", "v_sl", "v_wl"), _lines(m, v_bl=1.4, v_wl=1.2), strict=True))
    reset = dict(zip(("v_bl", "v_sl", "v_wl"), _lines(m, v_sl=1.3, v_wl=3.3), strict=True))
    m.apply_sequence([dict(set_, duration_s=1e-6), dict(reset, duration_s=1e-6)], repeat=20000)
    m.clock.advance(10.0)
    _read(m, out)
    m.apply(*_lines(m, rows=[0, 3], v_bl=p.pt_v_set_v, v_wl=p.vg_set_v), p.pt_width_s, count=3)
    m.clock.advance(0.5)
    _read(m, out)


def _roundtrip(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    buf = io.BytesIO()
    np.savez(buf, **state)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _assert_same(a: list, b: list) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def _assert_same_state(s1: dict, s2: dict) -> None:
    assert s1.keys() == s2.keys()
    for k in s1:
        np.testing.assert_array_equal(s1[k], s2[k], err_msg=k)


@pytest.mark.parametrize(
    ("preset", "rows", "cols", "seed"),
    [
        ("cmo-hfox-130nm", 6, 5, 3),
        ("cmo-hfox-350nm", 4, 4, 0),
        ("hfox-weak-reset", 6, 5, 7),
    ],
)
def test_restored_chip_continues_bit_for_bit(preset, rows, cols, seed) -> None:
    kept, kept_out = ArrayModel(preset, rows, cols, seed=seed), []
    session_a(kept, kept_out)
    saved = _roundtrip(kept.state())
    session_b(kept, kept_out)

    clock = SimClock()
    fresh, fresh_out = ArrayModel(preset, rows, cols, seed=seed, clock=clock), []
    session_a(ArrayModel(preset, rows, cols, seed=seed), fresh_out)  # the same A, elsewhere
    fresh.load_state(saved)
    assert clock.now_s == float(saved["clock_now_s"]) > 2.0  # the clock comes back too
    assert fresh.formed.any()
    np.testing.assert_array_equal(fresh.formed.reshape(-1), saved["formed"])
    session_b(fresh, fresh_out)

    _assert_same(kept_out, fresh_out)
    _assert_same_state(kept.state(), fresh.state())
    assert kept.clock.now_s == fresh.clock.now_s


def test_state_covers_formed_stuck_wear_and_clock() -> None:
    m = ArrayModel("cmo-hfox-130nm", 4, 4, seed=1)
    m.program(np.eye(4, dtype=bool), 40e-6)
    m.set_stuck(np.s_[3, :], 20e-6)
    m.set_unformable(np.s_[2, 0])
    p = m.preset
    m.apply(*_lines(m, v_bl=p.pt_v_set_v, v_wl=p.vg_set_v), p.pt_width_s, count=1000)
    m.clock.advance(12.5)
    restored = ArrayModel("cmo-hfox-130nm", 4, 4, seed=1)
    restored.load_state(_roundtrip(m.state()))
    assert restored.clock.now_s == 12.5
    np.testing.assert_array_equal(restored.formed, m.formed)
    np.testing.assert_array_equal(restored.stuck, m.stuck)
    np.testing.assert_array_equal(restored.g_s, m.g_s)
    np.testing.assert_array_equal(restored.wear_cycles, m.wear_cycles)
    assert restored.wear_cycles.max() > 0
    # state() is a copy: using the chip later does not change a state taken before
    s = m.state()
    m.apply(*_lines(m, v_bl=p.pt_v_set_v, v_wl=p.vg_set_v), p.pt_width_s, count=10)
    _assert_same_state(s, restored.state())


def test_large_array_with_pooled_normals_continues_bit_for_bit() -> None:
    """Above 65536 cells normals come from a pool drawn from the seed: not saved, redrawn."""
    a = ArrayModel("cmo-hfox-130nm", 260, 260, seed=2)
    a.program(np.ones((260, 260), dtype=bool), 30e-6)
    p = a.preset
    set_all = _lines(a, v_bl=p.pt_v_set_v, v_wl=p.vg_set_v)
    a.apply(*set_all, p.pt_width_s, count=3)
    a.clock.advance(5.0)
    saved = a.state()
    b = ArrayModel("cmo-hfox-130nm", 260, 260, seed=2)
    b.load_state(saved)
    for m in (a, b):
        m.apply(*set_all, p.pt_width_s, count=2)
        m.clock.advance(5.0)
    np.testing.assert_array_equal(a.currents(*set_all, aperture_s=1e-3)[0],
                                  b.currents(*set_all, aperture_s=1e-3)[0])  # fmt: skip
    _assert_same_state(a.state(), b.state())


@pytest.mark.parametrize(
    ("other", "named"),
    [
        (
            dict(preset="cmo-hfox-350nm"),
            "preset: saved 'cmo-hfox-130nm', this chip 'cmo-hfox-350nm'",
        ),
        (dict(rows=5), "rows: saved 4, this chip 5"),
        (dict(cols=3), "cols: saved 4, this chip 3"),
        (dict(seed=9), "seed: saved 1, this chip 9"),
        (dict(preset=get_preset("cmo-hfox-130nm", g_hi_s=100e-6)), "overrides: saved {}"),
    ],
)
def test_another_chips_state_is_refused_naming_the_difference(other, named) -> None:
    saved = ArrayModel("cmo-hfox-130nm", 4, 4, seed=1)
    saved.program(np.ones((4, 4), dtype=bool), 40e-6)
    kw = dict(preset="cmo-hfox-130nm", rows=4, cols=4, seed=1) | other
    m = ArrayModel(**kw)
    before = m.state()
    with pytest.raises(ChipStateError) as e:
        m.load_state(saved.state())
    assert named in str(e.value)
    _assert_same_state(before, m.state())  # nothing changed


def test_overrides_are_part_of_the_identity() -> None:
    p = get_preset("cmo-hfox-130nm", g_hi_s=100e-6)
    m = ArrayModel(p, 2, 2, seed=0)
    assert m.identity() == {"preset": "cmo-hfox-130nm", "overrides": {"g_hi_s": 100e-6},
                            "rows": 2, "cols": 2, "seed": 0}  # fmt: skip
    ArrayModel(get_preset("cmo-hfox-130nm", g_hi_s=100e-6), 2, 2).load_state(m.state())
    # an override equal to the preset's own value is the same chip
    same = ArrayModel(get_preset("cmo-hfox-130nm", g_lo_s=8.0e-6), 2, 2)
    same.load_state(ArrayModel("cmo-hfox-130nm", 2, 2).state())


def test_damaged_state_is_refused_whole() -> None:
    m = ArrayModel("cmo-hfox-130nm", 3, 3, seed=0)
    good = m.state()
    for damage, named in [
        (lambda s: s.pop("formed"), "missing 'formed'"),
        (lambda s: s.update({"dev.x": np.zeros(4, np.float32)}), "'dev.x' is float32[4]"),
        (lambda s: s.update({"t_prog": s["t_prog"].astype(np.float32)}), "'t_prog' is float32"),
        (lambda s: s.update({"extra": np.zeros(1)}), "unknown entry 'extra'"),
        (lambda s: s.update({"rng": np.asarray("{}")}), "'rng' is not a PCG64 state"),
        (lambda s: s.pop("identity"), "no chip identity"),
    ]:
        bad = dict(good)
        damage(bad)
        target = ArrayModel("cmo-hfox-130nm", 3, 3, seed=0)
        target.program(np.ones((3, 3), dtype=bool), 40e-6)
        before = target.state()
        with pytest.raises(ChipStateError, match=re.escape(named)):
            target.load_state(bad)
        _assert_same_state(before, target.state())
