"""What a run already holds, per cell, so that `--resume` continues instead of repeating.

Protocols whose cells take many steps (cycles, checkpoints, pulses) write one table row per step;
on resume they continue each cell after its last logged row. Steps applied after the last flush
of an interrupted run are not in the log and are not repeated either: the cell's history is
complete up to the last flush, and at most one unlogged step behind it.
"""

from __future__ import annotations

import numpy as np

from reramlab.log import Run

from .base import Cell


def logged_rows(log: Run, table: str) -> dict[Cell, np.ndarray]:
    """The rows of the run's `table` grouped by cell, in logged order ({} if none yet)."""
    rows = log.table(table)
    if not len(rows):
        return {}
    keys = list(zip(rows["row"].tolist(), rows["col"].tolist(), strict=True))
    out: dict[Cell, list[int]] = {}
    for k, key in enumerate(keys):
        out.setdefault(key, []).append(k)
    return {cell: rows[idx] for cell, idx in out.items()}
