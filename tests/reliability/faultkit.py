"""Helpers of the reliability tests: a small simulated station with short VISA timeouts, fault
overlays, and checks that the simulated bench was left safe (fixtures: conftest.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from reramlab.protocols.base import PROTOCOL_MODULES
from reramlab.stations.loader import station_dir

#: VISA timeout of the test stations (ms): a fault that swallows a reply costs this much
TIMEOUT_MS = 60
INSTRUMENTS = ("smu", "smu_gate", "pg", "sw_wl", "sw_bl", "sw_sl")
#: a short forming ramp: 25 steps from 2.8 V
QUICK_FORMING = {"v_start": "2.8", "v_step": "0.05"}


def write_station(directory: Path, *, faults: Any = None, rows: int = 4, cols: int = 4,
                  name: str = "sim-test", **extra: Any) -> Path:  # fmt: skip
    """A station overlay of the shipped `sim` station: a small chip, short timeouts, faults."""
    overlay: dict[str, Any] = {
        "extends": str(station_dir() / "sim.yaml"),
        "name": name,
        "chip": {"name": f"test-{rows}x{cols}", "rows": rows, "cols": cols},
        "instruments": {n: {"init": {"timeout": TIMEOUT_MS}} for n in INSTRUMENTS},
    }
    if faults is not None:
        overlay["sim"] = {"faults": faults}
    overlay.update(extra)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(overlay, sort_keys=False))
    return path


def assert_bench_safe(lib) -> None:
    """Every line of the chip floats (matrices open), every source output off."""
    v_bl, v_sl, v_wl = lib.bench.line_voltages()
    assert np.all(np.isnan(v_bl)) and np.all(np.isnan(v_sl)) and np.all(np.isnan(v_wl))
    assert not any(lib.bench.closed.values()), lib.bench.closed
    for name, inst in lib.instruments.items():
        if hasattr(inst, "output"):
            assert not inst.output, f"{name} output still on"
        for k, ch in getattr(inst, "ch", {}).items():
            assert not ch.output, f"{name} channel {k} output still on"


def messages(lib, instrument: str, since: int = 0) -> list[str]:
    """The program messages `instrument` received (lib.bench.command_log must be a list)."""
    return [text for name, text in lib.bench.command_log[since:] if name == instrument]


def protocol_names() -> list[Any]:
    """Every registered protocol; one whose module is not importable yet is skipped, named."""
    out = []
    for name, module in PROTOCOL_MODULES.items():
        try:
            __import__(module)
        except ImportError as e:
            out.append(pytest.param(name, marks=pytest.mark.skip(reason=f"{module}: {e}")))
        else:
            out.append(name)
    return out


def finite(x: float) -> bool:
    return isinstance(x, float) and math.isfinite(x)
