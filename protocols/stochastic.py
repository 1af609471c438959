"""Stochastic parallel row/column updates (Gokmen & Vlasov, Front. Neurosci. 10:333, 2016).

An update of a block by the outer product x delta^T: row i gets a random bit stream of length BL
with pulse probability p_max |x_i|, column j one with p_max |delta_j|; a cell is updated only
where a row bit and a column bit coincide, E[coincidences] = BL p_max^2 |x_i delta_j|, with the
polarity of sign(x_i delta_j). With V/2 line levels a slot can hold only one polarity per
crossing, so signed vectors take up to four phases, one per sign quadrant (x > 0, delta > 0 and
x < 0, delta < 0 SET; the mixed ones RESET); each row (column) fires its one bit stream in the
two phases of its sign. With x >= 0 (activations) they reduce to the usual two phases.

Everything here is bookkeeping in cell voltages and counts: what the lines carry is the bench's
business (`Bench.parallel_update`, `Bench.parallel_update_multiplexed`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reramlab.bench import UpdatePhase

#: (sign of x, sign of delta) of each phase, SET quadrants first
QUADRANTS = ((1, 1), (-1, -1), (1, -1), (-1, 1))


def random_vectors(
    n_rows: int, n_cols: int, zero_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """x (rows) and delta (columns) uniform in [-1, 1], with round(zero_fraction * n) entries of
    each set to exactly 0: their lines never fire, so their cells never see a coincidence."""
    rng = np.random.default_rng([seed, 0])
    out = []
    for n in (n_rows, n_cols):
        v = rng.uniform(-1.0, 1.0, n)
        v[rng.choice(n, size=min(n, round(zero_fraction * n)), replace=False)] = 0.0
        out.append(v)
    return out[0], out[1]


def update_phases(
    x: np.ndarray,
    delta: np.ndarray,
    *,
    bit_length: int,
    p_max: float,
    v_set: float,
    v_reset: float,
    rng: np.random.Generator,
) -> list[UpdatePhase]:
    """One update's phases: bit streams drawn once per line, split by sign quadrant; a phase
    with no possible coincidence is left out (its pulses would only disturb)."""
    row_bits = rng.random((bit_length, len(x))) < p_max * np.abs(x)
    col_bits = rng.random((bit_length, len(delta))) < p_max * np.abs(delta)
    phases = []
    for sx, sd in QUADRANTS:
        rows, cols = np.sign(x) == sx, np.sign(delta) == sd
        if rows.any() and cols.any():
            phases.append(UpdatePhase(v_set if sx * sd > 0 else v_reset, row_bits & rows,
                                      col_bits & cols))  # fmt: skip
    return phases


@dataclass
class Counts:
    """Per cell of the block: coincidences and half-selects of each polarity so far."""

    set: np.ndarray
    reset: np.ndarray
    half_set: np.ndarray
    half_reset: np.ndarray

    @classmethod
    def zeros(cls, n_rows: int, n_cols: int) -> Counts:
        return cls(*(np.zeros((n_rows, n_cols), dtype=np.int64) for _ in range(4)))

    def add(self, phases: list[UpdatePhase]) -> np.ndarray:
        """Count the phases' pulses; returns the coincidences (both polarities) they hold."""
        total = np.zeros_like(self.set)
        for ph in phases:
            rb, cb = ph.row_bits.astype(np.int64), ph.col_bits.astype(np.int64)
            coinc = rb.T @ cb
            half = rb.sum(axis=0)[:, None] + cb.sum(axis=0)[None, :] - 2 * coinc
            if ph.v_cell >= 0:
                self.set += coinc
                self.half_set += half
            else:
                self.reset += coinc
                self.half_reset += half
            total += coinc
        return total

    @property
    def net(self) -> np.ndarray:
        """SET minus RESET coincidences (the signed update each cell received)."""
        return self.set - self.reset


def rank_one_terms(
    error: np.ndarray, rel_floor: float
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """The singular terms of `error` down to `rel_floor` of the largest, each as (x, delta,
    amplitude) with max |x| = max |delta| = 1 and error ~ sum amplitude * outer(x, delta)."""
    u, s, vt = np.linalg.svd(error, full_matrices=False)
    terms = []
    for k in range(len(s)):
        if s[k] <= 0 or s[k] < rel_floor * s[0]:
            break
        x, d = u[:, k], vt[k]
        mx, md = np.abs(x).max(), np.abs(d).max()
        terms.append((x / mx, d / md, float(s[k] * mx * md)))
    return terms


def target_pattern(name: str, n_rows: int, n_cols: int, lo: float, hi: float) -> np.ndarray:
    """A target weight map between lo and hi: 'checker', 'stripes' (by row) or 'ramp' (along
    the columns)."""
    i, j = np.indices((n_rows, n_cols))
    if name == "checker":
        frac = ((i + j) % 2).astype(float)
    elif name == "stripes":
        frac = (i % 2).astype(float)
    elif name == "ramp":
        frac = j / max(n_cols - 1, 1)
    else:
        raise ValueError(f"unknown pattern {name!r}")
    return lo + (hi - lo) * frac
