"""The physical model of a 1T1R ReRAM array: what the simulated instruments drive and measure.

Cell (r, c) sits between bit line BL[c] and source line SL[r]; its access NMOS is gated by
WL[r]; the memristor is on the BL side. Cell bias = V_BL[c] - V_SL[r]; NaN = floating line.
The model reads `clock.now_s` (relaxation, read noise) but never advances it. See README.md
in this folder for the equations, parameters and what each preset reproduces.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .bias import BiasPlan, plan_bias
from .clock import SimClock
from .cmo_cells import CmoCells
from .kinetics import RateTableCache, StepRates, Waveform
from .noise import NormalSource, read_noise_sigma_s, relaxation_offset_s
from .presets import PRESETS, DevicePreset, get_preset
from .transistor import CircuitTables
from .weak_reset import WeakResetCells

_STEP_KEYS = {"v_bl", "v_sl", "v_wl", "duration_s", "rise_s", "fall_s", "shape"}
_G_FLOOR_S = 1e-8
_MEMO_SIZE = 256  # memoised bias plans / pulse steps  # relaxation never drives a read below 10 nS


class ChipStateError(ValueError):
    """A saved chip state that is not this chip's (another preset, shape or seed) or is not a
    complete ArrayModel.state(); `differences` lists what does not match."""

    def __init__(self, differences: list[str]):
        super().__init__("; ".join(differences))
        self.differences = differences


@dataclass(frozen=True)
class _Step:
    """One pulse step: which cells see which bias, and the rate tables of those biases."""

    plan: BiasPlan
    rates: StepRates


class ArrayModel:
    """Vectorised state of a rows x cols 1T1R array: forming, SET/RESET kinetics, noise,
    relaxation and wear-out. Same seed + same calls => identical results."""

    def __init__(
        self,
        preset: DevicePreset | str,
        rows: int,
        cols: int,
        seed: int = 0,
        clock: SimClock | None = None,
    ):
        if rows < 1 or cols < 1:
            raise ValueError(f"array must be at least 1x1, got {rows}x{cols}")
        self.preset = get_preset(preset) if isinstance(preset, str) else preset
        self.rows, self.cols, self.seed = int(rows), int(cols), int(seed)
        self.clock = clock if clock is not None else SimClock()
        p, n = self.preset, self.rows * self.cols
        self._n = n
        frozen = np.random.default_rng([self.seed, 0xD2D])
        self._v_form_cell = p.v_form_cell_mean_v + p.v_form_cell_sigma_v * frozen.standard_normal(n)
        self._v_breakdown = self._v_form_cell + p.v_form_overdrive_v
        self._frozen_unformable = frozen.random(n) < p.p_unformable
        self._frozen_stuck = frozen.random(n) < p.p_stuck
        self._frozen_g_stuck = np.where(frozen.random(n) < 0.5, p.g_lo_s, p.g_hi_s)
        if p.device_class == "cmo":
            self._dev: CmoCells | WeakResetCells = CmoCells(p, n, frozen)
        elif p.device_class == "weak_reset":
            self._dev = WeakResetCells(p, n, frozen)
        else:
            raise ValueError(f"unknown device_class {p.device_class!r} in preset {p.name!r}")
        g_grid_max = 1.6 * self._dev.g_max_s
        self._circuit = CircuitTables(p, g_grid_max)
        self._rate_tables = RateTableCache(self._circuit)
        if isinstance(self._dev, WeakResetCells):
            self._dev.calibrate_reference(self._rate_tables)
        self._plans: dict[tuple, BiasPlan] = {}
        self._steps: dict[tuple, _Step | None] = {}
        self._relaxes = max(abs(p.relax_mean_s_per_ln), p.relax_sigma0_s, p.relax_sigma1_s) > 0
        self.reset()

    # --- public state ---------------------------------------------------------------------------
    @property
    def g_s(self) -> np.ndarray:
        """Noiseless read conductance (S) at the preset's read voltage, relaxation included."""
        return self._g_read(None).astype(float).reshape(self.rows, self.cols)

    @property
    def formed(self) -> np.ndarray:
        return self._formed.reshape(self.rows, self.cols).copy()

    @property
    def stuck(self) -> np.ndarray:
        return self._stuck.reshape(self.rows, self.cols).copy()

    @property
    def v_form_cell(self) -> np.ndarray:
        """Frozen per-cell forming voltages at cell level (V); the 1T1R breakdown is this plus
        the preset's overdrive (the transistor drop at compliance, [A])."""
        return self._v_form_cell.reshape(self.rows, self.cols).copy()

    @property
    def wear_cycles(self) -> np.ndarray:
        """Cumulative full-swing-equivalent cycles per cell (CMO class; zeros otherwise)."""
        wear = getattr(self._dev, "wear", np.zeros(self._n))
        return (0.5 * wear).reshape(self.rows, self.cols)

    # --- test hooks -------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to pristine: same frozen device-to-device parameters, same random stream."""
        self._rng = np.random.default_rng([self.seed, 0xD1CE])
        self._normals = NormalSource(self._rng, self._n)
        self._formed = np.zeros(self._n, dtype=bool)
        self._unformable = self._frozen_unformable.copy()
        self._stuck = self._frozen_stuck.copy()
        self._g_stuck = self._frozen_g_stuck.copy()
        self._t_prog = np.zeros(self._n)
        self._t_prog_floor = 0.0  # a lower bound of min(_t_prog): skips relaxation work
        self._xi = np.zeros(self._n, dtype=np.float32)
        self._dg_first = np.zeros(self._n, dtype=np.float32)  # |dG| of one period, per call
        self._dev.reset_state(self._rng)

    def set_stuck(self, mask: object, g_s: object) -> None:
        """Freeze the selected cells at conductance g_s (scalar or per cell)."""
        idx, g = self._select(mask, g_s)
        self._stuck[idx] = True
        self._g_stuck[idx] = g

    def set_unformable(self, mask: object) -> None:
        """The selected cells return to pristine and never form."""
        idx, _ = self._select(mask, 0.0)
        self._unformable[idx] = True
        self._formed[idx] = False

    def program(self, mask_or_index: object, g_s: object) -> None:
        """Directly set formed cells to g_s (clipped to each cell's window): a programming event
        at clock.now_s. For model tests and fast set-up only."""
        idx, g = self._select(mask_or_index, g_s)
        self._formed[idx] = True
        self._dev.set_g(idx, g)
        self._mark_programmed(idx, self.clock.now_s)

    # --- persistence ----------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        """What makes a saved state this chip's: the preset's name and the fields that differ
        from the registered preset of that name (all fields if there is none), the shape and the
        seed (which draws every frozen device-to-device parameter). JSON-ready."""
        fields = dataclasses.asdict(self.preset)
        base = PRESETS.get(self.preset.name)
        ref = dataclasses.asdict(base) if base is not None else {}
        overrides = {
            k: v for k, v in fields.items() if k != "name" and (k not in ref or ref[k] != v)
        }
        return json.loads(json.dumps({
            "preset": self.preset.name, "overrides": overrides, "rows": self.rows,
            "cols": self.cols, "seed": self.seed,
        }))  # fmt: skip

    def state(self) -> dict[str, np.ndarray]:
        """A copy of everything that changes as the chip is used: formed/unformable/stuck flags,
        stuck conductances, relaxation clocks and deviates, the device class's state (CMO:
        state x, wear and the window it has closed; weak-RESET: pulse counts, R0, RTN and 1/f
        buffers), the random stream, and the clock time; plus `identity` (JSON). Another model
        with the same identity continues bit for bit after load_state() of it."""
        return {k: np.array(v, copy=True) for k, v in self._state_refs().items()}

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Put the chip (and its clock) in a state() of a chip with the same identity. Raises
        ChipStateError, changing nothing, if it is another chip's or incomplete."""
        saved = _json(state, "identity")
        mine = self.identity()
        if not isinstance(saved, dict):
            raise ChipStateError(["no chip identity in the saved state"])
        differ = [
            f"{k}: saved {saved.get(k)!r}, this chip {mine[k]!r}"
            for k in mine
            if saved.get(k) != mine[k]
        ]
        if differ:
            raise ChipStateError(differ)
        refs = self._state_refs()
        variable = {f"dev.{k}" for k in self._dev.STATE_VARIABLE}
        problems = [f"missing {k!r}" for k in refs if k not in state]
        problems += [f"unknown entry {k!r}" for k in state if k not in refs]
        new: dict[str, np.ndarray] = {}
        for k, ref in refs.items():
            if k not in state or k in ("identity", "rng"):
                continue
            arr = np.asarray(state[k])
            shape_ok = arr.ndim == ref.ndim if k in variable else arr.shape == ref.shape
            if arr.dtype != ref.dtype or not shape_ok:
                problems.append(
                    f"{k!r} is {arr.dtype}{list(arr.shape)}, expected {ref.dtype}{list(ref.shape)}"
                )
            new[k] = np.array(arr, copy=True)
        rng_state = _json(state, "rng") if "rng" in state else None
        if not problems:
            try:  # on a scratch generator: a bad state must not touch this one
                np.random.default_rng().bit_generator.state = rng_state
            except (TypeError, ValueError, KeyError) as e:
                problems.append(
                    f"'rng' is not a {type(self._rng.bit_generator).__name__} state ({e})"
                )
        if problems:
            raise ChipStateError(problems)
        self._rng.bit_generator.state = rng_state  # in place: the noise source and cells share it
        self.clock.now_s = float(new["clock_now_s"])
        self._t_prog_floor = float(new["t_prog_floor"])
        self._formed, self._unformable = new["formed"], new["unformable"]
        self._stuck, self._g_stuck = new["stuck"], new["g_stuck"]
        self._t_prog, self._xi, self._dg_first = new["t_prog"], new["xi"], new["dg_first"]
        self._dev.load_state({k[4:]: v for k, v in new.items() if k.startswith("dev.")})

    def _state_refs(self) -> dict[str, np.ndarray]:
        """state() without the copies."""
        refs = {
            "identity": np.asarray(json.dumps(self.identity(), sort_keys=True)),
            "rng": np.asarray(json.dumps(self._rng.bit_generator.state)),
            "clock_now_s": np.asarray(self.clock.now_s, dtype=float),
            "t_prog_floor": np.asarray(self._t_prog_floor, dtype=float),
            "formed": self._formed,
            "unformable": self._unformable,
            "stuck": self._stuck,
            "g_stuck": self._g_stuck,
            "t_prog": self._t_prog,
            "xi": self._xi,
            "dg_first": self._dg_first,
        }
        refs.update({f"dev.{k}": v for k, v in self._dev.state().items()})
        return refs

    # --- bias --------------------------------------------------------------------------------------
    def apply(
        self,
        v_bl: object,
        v_sl: object,
        v_wl: object,
        duration_s: float,
        *,
        rise_s: float = 0.0,
        fall_s: float = 0.0,
        shape: str = "square",
        count: int = 1,
    ) -> None:
        """Apply `count` identical pulses (lines at 0 V in between)."""
        step = dict(v_bl=v_bl, v_sl=v_sl, v_wl=v_wl, duration_s=duration_s)
        self.apply_sequence([dict(step, rise_s=rise_s, fall_s=fall_s, shape=shape)], count)

    def apply_sequence(self, steps: list[dict], repeat: int = 1) -> None:
        """Apply the pulse sequence `steps`, `repeat` times. The first period is stepped pulse by
        pulse (forming included); the rest use the closed form of the device class."""
        repeat = int(repeat)
        if repeat < 0:
            raise ValueError(f"repeat/count must be >= 0, got {repeat}")
        prepared, total_s = [], 0.0
        for s in steps:
            unknown = set(s) - _STEP_KEYS
            if unknown:
                raise ValueError(
                    f"unknown pulse-step keys {sorted(unknown)}; known {sorted(_STEP_KEYS)}"
                )
            wf = Waveform(
                float(s["duration_s"]), float(s.get("rise_s", 0.0)), float(s.get("fall_s", 0.0)),
                s.get("shape", "square"),
            )  # fmt: skip
            total_s += wf.total_s
            step = self._step(s["v_bl"], s["v_sl"], s["v_wl"], wf) if wf.total_s > 0 else None
            if step is not None:
                prepared.append(step)
        if repeat == 0 or not prepared:
            return
        union = self._union([st.plan.cells for st in prepared])
        formed_before = _take(self._formed, union).copy()
        alone = union is None and len(prepared) == 1  # the pulse sets all of _dg_first
        if union is None and not alone:
            self._dg_first.fill(0.0)
        elif union is not None:
            self._dg_first[union] = 0.0
        for st in prepared:
            self._pulse_once(st, alone)
        if repeat > 1:
            kinetic = [(st.rates, *self._kinetic_cells(st, ())) for st in prepared]
            k_union = self._union([k[1] for k in kinetic if k[1] is None or len(k[1])])
            if k_union is None or len(k_union):
                k_union = np.arange(self._n) if k_union is None else k_union
                self._dev.repeat(kinetic, repeat - 1, k_union, self._normals)
        t_end_s = self.clock.now_s + repeat * total_s
        self._after_programming(union, formed_before, _take(self._dg_first, union), t_end_s)

    def currents(
        self, v_bl: object, v_sl: object, v_wl: object, *, aperture_s: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """DC currents into each BL and SL from its driver (A); read noise for an `aperture_s`
        measurement (None = noiseless). Does not change the state."""
        plan = self._plan(v_bl, v_sl, v_wl)
        i_bl, i_sl = np.zeros(self.cols), np.zeros(self.rows)
        if plan.empty:
            return i_bl, i_sl
        cells = plan.cells
        g = self._g_read(cells)
        if aperture_s is not None:
            if aperture_s <= 0:
                raise ValueError(f"aperture_s must be > 0 s, got {aperture_s}")
            t_since = self.clock.now_s - _take(self._t_prog, cells)
            sigma = read_noise_sigma_s(g, t_since, float(aperture_s), self.preset)
            g = np.maximum(g + sigma * self._normals.draw(len(g)), 0.0)
        i = self._circuit.currents(plan.bias, plan.combo, g)
        if cells is None:
            i2 = i.reshape(self.rows, self.cols)
            return i2.sum(axis=0), -i2.sum(axis=1)
        i_bl = np.bincount(cells % self.cols, weights=i, minlength=self.cols)
        i_sl = -np.bincount(cells // self.cols, weights=i, minlength=self.rows)
        return i_bl, i_sl

    # --- internals -------------------------------------------------------------------------------
    def _plan(self, v_bl: object, v_sl: object, v_wl: object) -> BiasPlan:
        """plan_bias, memoised on the exact line vectors (protocols repeat a few biases)."""
        key = tuple(np.asarray(v, dtype=float).tobytes() for v in (v_bl, v_sl, v_wl))
        plan = self._plans.get(key)
        if plan is None:
            plan = plan_bias(v_bl, v_sl, v_wl, self.rows, self.cols)
            if len(self._plans) >= _MEMO_SIZE:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _step(self, v_bl: object, v_sl: object, v_wl: object, wf: Waveform) -> _Step | None:
        """Bias plan plus rate tables of one pulse step (memoised); None if nothing is biased."""
        key = (*(np.asarray(v, dtype=float).tobytes() for v in (v_bl, v_sl, v_wl)), wf)
        step = self._steps.get(key)
        if step is None:
            plan = self._plan(v_bl, v_sl, v_wl)
            step = (
                _Step(plan, self._rate_tables.step_rates(plan.bias, wf)) if not plan.empty else None
            )
            if len(self._steps) >= _MEMO_SIZE:
                self._steps.clear()
            self._steps[key] = step
        return step

    def _g_read(self, cells: np.ndarray | None) -> np.ndarray:
        """Noiseless read conductance of cells (None = all): state + relaxation, with pristine
        and stuck cells overridden."""
        g = self._dev.g(cells).astype(float)
        if self._relaxes:
            t_since = self.clock.now_s - _take(self._t_prog, cells)
            g += relaxation_offset_s(t_since, _take(self._xi, cells), self.preset)
            np.maximum(g, _G_FLOOR_S, out=g)
        g = np.where(_take(self._formed, cells), g, self.preset.g_pristine_s)
        return np.where(_take(self._stuck, cells), _take(self._g_stuck, cells), g)

    def _select(self, mask_or_index: object, g_s: object) -> tuple[np.ndarray, np.ndarray]:
        grid = np.arange(self._n).reshape(self.rows, self.cols)
        picked = np.asarray(grid[mask_or_index])
        idx = picked.reshape(-1)
        g = np.asarray(g_s, dtype=float)
        if g.shape == (self.rows, self.cols) and picked.shape != g.shape:
            g = g.reshape(-1)[idx]
        return idx, np.broadcast_to(g, picked.shape).reshape(-1).copy()

    @staticmethod
    def _union(parts: list[np.ndarray | None]) -> np.ndarray | None:
        if any(p is None for p in parts):
            return None
        if not parts:
            return np.zeros(0, dtype=np.intp)
        return parts[0] if len(parts) == 1 else np.unique(np.concatenate(parts))

    def _kinetic_cells(self, st: _Step, exclude) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Cells of a step that move: formed, not stuck, non-negligible dose, not just formed."""
        plan, rates = st.plan, st.rates
        mobile = self._formed & ~self._stuck
        if len(exclude):
            mobile = mobile.copy()
            mobile[exclude] = False
        if plan.cells is None:
            if rates.negligible[0]:
                return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.int32)
            if mobile.all():
                return None, None
            idx = np.flatnonzero(mobile)
            return idx, np.zeros(len(idx), dtype=np.int32)
        keep = mobile[plan.cells] & ~rates.negligible[plan.combo]
        return plan.cells[keep], plan.combo[keep]

    def _pulse_once(self, st: _Step, alone: bool = False) -> None:
        """One pulse step; adds each cell's |dG| to _dg_first (alone: sets all of it)."""
        just_formed = self._form(st)
        idx, combo = self._kinetic_cells(st, just_formed)
        if idx is None:
            dg = self._dev.pulse(st.rates, idx, combo, self._normals)
            if alone:
                self._dg_first = dg.astype(np.float32, copy=False)
            else:
                self._dg_first += dg
            return
        if alone:
            self._dg_first.fill(0.0)
        if len(idx):
            self._dg_first[idx] += self._dev.pulse(st.rates, idx, combo, self._normals)

    def _form(self, st: _Step) -> np.ndarray:
        """Pristine cells whose (pristine) cell voltage reaches their breakdown voltage form:
        the filament is left at G = I_cc / V_F, I_cc = the NMOS saturation current [A]."""
        if self._formed.all():
            return np.zeros(0, dtype=np.intp)
        cells, combo = st.plan.cells, st.plan.combo
        if cells is None:
            cells, combo = np.arange(self._n), np.zeros(self._n, dtype=np.int32)
        cand = ~self._formed[cells] & ~self._unformable[cells]
        cells, combo = cells[cand], combo[cand]
        r = st.rates
        fire = (r.target[combo] > 0) & (r.v_cell_pristine_v[combo] >= self._v_breakdown[cells])
        new, combo = cells[fire], combo[fire]
        if len(new):
            self._formed[new] = True
            self._dev.form(new, r.i_compliance_a[combo] / self._v_form_cell[new])
        return new

    def _after_programming(self, union, formed_before, dg_first, t_end_s: float) -> None:
        """Relaxation bookkeeping: cells that one period of the sequence moved by more than the
        event threshold (or that formed) restart their relaxation clock at the end of the call,
        with a fresh deviate; the relaxation they had accumulated is folded into their state.
        A burst of half-select pulses (each far below the threshold) is not a programming event."""
        formed_after = _take(self._formed, union)
        event = dg_first > self.preset.relax_event_threshold_s
        newly_formed = None if formed_before.all() else formed_after & ~formed_before
        if newly_formed is not None:
            event &= formed_after
        fold = event if newly_formed is None else event & formed_before
        stale = self.clock.now_s - self._t_prog_floor >= self.preset.relax_onset_s
        if self._relaxes and stale and fold.any():
            t_since = self.clock.now_s - _take(self._t_prog, union)
            if np.max(t_since, where=fold, initial=-np.inf) >= self.preset.relax_onset_s:
                cells = np.flatnonzero(fold) if union is None else union[fold]
                offset = relaxation_offset_s(t_since[fold], self._xi[cells], self.preset)
                self._dev.add_g(cells, offset)
        if newly_formed is not None:
            event |= newly_formed
        if union is None and event.all():
            self._t_prog.fill(t_end_s)
            self._xi = self._normals.draw(self._n).copy()
            self._t_prog_floor = t_end_s
        elif union is None:
            xi = self._normals.draw(self._n)
            keep = np.flatnonzero(~event)
            if len(keep) > self._n // 8:
                np.copyto(self._t_prog, t_end_s, where=event)
                np.copyto(self._xi, xi, where=event)
            else:  # = the copyto(where=event) above; faster with few non-event cells
                t_keep, xi_keep = self._t_prog[keep], self._xi[keep]
                self._t_prog.fill(t_end_s)
                self._xi[...] = xi
                self._t_prog[keep], self._xi[keep] = t_keep, xi_keep
        else:
            self._mark_programmed(union[event], t_end_s)
        worn = self._dev.worn_out(union)
        if len(worn):
            self._g_stuck[worn] = self._g_read(worn)
            self._stuck[worn] = True

    def _mark_programmed(self, idx: np.ndarray, t_s: float) -> None:
        """Restart the relaxation clock of cells idx with fresh deviates."""
        self._t_prog[idx] = t_s
        self._xi[idx] = self._normals.draw(len(idx))


def _take(arr: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    return arr if idx is None else arr[idx]


def _json(state: Mapping[str, np.ndarray], key: str) -> Any:
    """A JSON entry of a state() (a 0-d string array); None if absent or not JSON."""
    try:
        return json.loads(str(np.asarray(state[key])[()]))
    except (KeyError, TypeError, ValueError):
        return None
