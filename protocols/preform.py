"""Forming as the first step of another protocol: pristine cells get the forming protocol's ramp.

A cycling, endurance or pulse-train run on a fresh chip needs formed cells. With `preform` on,
each selected cell is read first; cells reading below `G_PRISTINE_MAX_S` (a pristine cell carries
nA at a read voltage, a formed one in its deepest HRS still microamps) are formed by the
`forming` protocol itself, with its default parameters, inside the host run. Its per-cell table
lands in the host run as `forming_cells` and its steps in the cells' timeseries, so the log shows
exactly what was applied. Cells that read formed are left alone.
"""

from __future__ import annotations

from typing import Any

from reramlab.bench import Bench
from reramlab.log import Run

from . import forming
from .base import Cell, Progress, ProtocolRun

#: read conductance below which a cell counts as pristine (not a model constant: a decade below
#: the lowest HRS of a formed CMO/HfOx or HfOx cell, and decades above a pristine oxide)
G_PRISTINE_MAX_S = 1e-6
PREFIX = "forming_"


class _Group:
    def __init__(self, group: Any, prefix: str) -> None:
        self.group, self.prefix = group, prefix

    def __contains__(self, name: str) -> bool:
        return self.prefix + name in self.group


class PrefixedTables:
    """A run as seen by a sub-protocol: its tables carry `prefix`, its operations go through."""

    def __init__(self, run: Run, prefix: str) -> None:
        self.run, self.prefix = run, prefix
        self.group = _Group(run.group, prefix)

    def table(self, name: str) -> Any:
        return self.run.table(self.prefix + name)

    def row(self, table: str, **fields: Any) -> None:
        self.run.row(self.prefix + table, **fields)

    def op(self, *args: Any, **kwargs: Any) -> None:
        self.run.op(*args, **kwargs)

    def flush(self) -> None:
        self.run.flush()


def check(enabled: bool, bench: Bench) -> None:
    """The forming ramp's limits, checked with the host's (before the first command)."""
    if enabled:
        forming.check(forming.Params(), bench)


def preform(bench: Bench, cells: list[Cell], enabled: bool, log: Run) -> ProtocolRun:
    """Form the pristine ones of `cells` (if `enabled`); yields the forming progress."""
    if not enabled or not cells:
        return
    fp = forming.Params()
    bench.prepare_dc(i_compliance_a=fp.i_compliance_a, nplc=fp.nplc)
    pristine = []
    for cell in cells:
        i, g = bench.read(cell, fp.v_read, fp.vg)
        log.op(cell, "read", t_s=bench.now_s(), v=fp.v_read, vg=fp.vg, i_a=i, g_s=g)
        if g < G_PRISTINE_MAX_S:
            pristine.append(cell)
    log.flush()
    for p in forming.run(bench, pristine, fp, PrefixedTables(log, PREFIX)):  # type: ignore[arg-type]
        yield Progress(p.done, p.total, f"forming {p.message}")
