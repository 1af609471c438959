"""Small reramlab logs written with `reramlab.log.LogFile` directly (no simulator)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from reramlab.log import LogFile

#: cell -> forming voltage (None: not formed); formed cells also get i_form and g_form below
V_FORM = {(0, 0): 3.3, (0, 1): 3.4, (1, 0): 3.5, (1, 1): None}
I_FORM = {(0, 0): 2.5e-4, (0, 1): 2.6e-4, (1, 0): 2.7e-4}
G_FORM = {(0, 0): 30e-6, (0, 1): 40e-6, (1, 0): 50e-6}
STEPS = np.round(np.arange(3.0, 3.61, 0.1), 9)


def new_log(path: Path, chip_name: str = "chipA", station: str = "sim") -> LogFile:
    return LogFile(path, station_name=station, station_yaml=f"name: {station}\n",
                   instruments={"smu": "KEITHLEY,2450"}, chip_name=chip_name, chip_shape=(4, 4))  # fmt: skip


def write_forming(log: LogFile, status: str = "completed", cells: dict = V_FORM) -> str:
    """A forming run over `cells`: a ramp of form_step + read per step, the `cells` table."""
    run = log.new_run("forming", {"vg": 1.2, "v_stop": 3.6}, "0:2,0:2", t_s=0.0)
    t = 0.0
    for cell, v_form in cells.items():
        for v in STEPS:
            t += 1e-3
            formed = v_form is not None and v >= v_form - 1e-9
            run.op(
                cell,
                "form_step",
                t_s=t,
                v=float(v),
                vg=1.2,
                i_a=I_FORM[cell] if formed else 1e-9 * math.exp(v),
            )
            run.op(cell, "read", t_s=t, v=0.2, vg=1.2, g_s=G_FORM[cell] if formed else 1e-7)
            if formed:
                break
        run.row("cells", row=cell[0], col=cell[1], formed=v_form is not None, v_form=v_form or math.nan,
                i_form=I_FORM.get(cell, math.nan), g_form=G_FORM.get(cell, math.nan))  # fmt: skip
        run.flush()
    if status != "running":
        run.finish(status, t_s=t, error="Ctrl-C" if status == "aborted" else "")
    return run.id


@pytest.fixture
def forming_log(tmp_path: Path) -> Path:
    """A log with one completed forming run over 2x2 cells (one of them not formed)."""
    path = tmp_path / "chipA.h5"
    with new_log(path) as log:
        write_forming(log)
    return path


@pytest.fixture
def registries():
    """Protocols a test registers in METRICS or FIGURES are gone after it."""
    from reramlab.analysis import FIGURES, METRICS

    saved = [(registry, dict(registry)) for registry in (METRICS, FIGURES)]
    yield
    for registry, entries in saved:
        registry.clear()
        registry.update(entries)
