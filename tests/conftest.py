"""Shared fixtures: a simulated bench per test (isolated chip), stations, temporary logs.

Also the suite-wide safety audit: every command any simulated instrument receives during the
whole session (in this process, and in the CLI subprocesses tests start, through
``RERAMSIM_RECORD_DIR``) is recorded and, at the end, checked against the limits of the station
it came from (``reramlab.sim_backend.audit``), and every hazard a station bench's simulated
hardware saw (a relay moved under a live source, a short, a free-running output) is listed. A
violation or a hazard fails the session (a test that provokes one on purpose acknowledges it:
``ReramSimLibrary.acknowledge``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import pyvisa

from helpers import bench_yaml
from reramlab.sim_backend.audit import AuditResult, CommandRecorder, audit_all
from reramlab.sim_backend.library import ReramSimLibrary
from reramlab.stations.loader import load_station

_AUDIT: dict[str, AuditResult] = {}


@pytest.fixture(scope="session", autouse=True)
def command_audit():
    """Record every command sent to a simulated instrument during the session; audit at the end."""
    recorders: list[CommandRecorder] = []
    previous, ReramSimLibrary.recorders = ReramSimLibrary.recorders, recorders
    folder = tempfile.mkdtemp(prefix="reramsim-audit-")
    env_before = os.environ.get(ReramSimLibrary.RECORD_DIR_ENV)
    os.environ[ReramSimLibrary.RECORD_DIR_ENV] = folder  # CLI subprocesses stream here
    try:
        yield recorders
    finally:
        ReramSimLibrary.recorders = previous
        if env_before is None:
            os.environ.pop(ReramSimLibrary.RECORD_DIR_ENV, None)
        else:
            os.environ[ReramSimLibrary.RECORD_DIR_ENV] = env_before
    streamed = [CommandRecorder.load(p) for p in sorted(Path(folder).glob("*.jsonl"))]
    shutil.rmtree(folder, ignore_errors=True)
    result = audit_all([*recorders, *streamed])
    _AUDIT["result"] = result
    if result.violations:
        listed = "\n".join(f"  {v}" for v in result.violations[:50])
        pytest.fail(f"safety audit: {len(result.violations)} commands beyond limits reached a "
                    f"simulated instrument:\n{listed}", pytrace=False)  # fmt: skip
    if result.hazards:
        listed = "\n".join(f"  {h}" for h in result.hazards[:50])
        pytest.fail(f"safety audit: {len(result.hazards)} hazards on simulated station benches "
                    f"(hot switching, shorts, free-running outputs):\n{listed}", pytrace=False)  # fmt: skip


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    result = _AUDIT.get("result")
    if result is not None:
        terminalreporter.write_line(f"reramsim safety audit: {result.summary()}")


@pytest.fixture
def sim_rm(tmp_path: Path) -> pyvisa.ResourceManager:
    """A fresh simulated bench (4x4 chip, 2450 + 81160A + 707B) reached through plain pyvisa."""
    path = tmp_path / "bench.yaml"
    path.write_text(bench_yaml(rows=4, cols=4))
    rm = pyvisa.ResourceManager(f"{path}@reramsim")
    yield rm
    rm.close()


@pytest.fixture
def sim_station(tmp_path: Path):
    """The shipped `sim` station with its simulated bench in tmp_path (a chip of its own)."""
    station = load_station("sim")
    return station, tmp_path


def pytest_addoption(parser: pytest.Parser) -> None:
    """Options of tests/hardware (registered here: pytest reads options only from initial
    conftests, and tests/hardware/conftest.py is not one when pytest runs from the root)."""
    group = parser.getgroup("reramlab hardware", "real instruments for tests/hardware")
    models = {
        "2450": "Keithley 2450 SourceMeter",
        "81160a": "Keysight 81160A pulse generator",
        "707b": "Keithley 707B switching matrix",
    }
    for model, what in models.items():
        group.addoption(
            f"--visa-address-{model}",
            default=None,
            metavar="RESOURCE",
            help=f"VISA resource name of a {what} (its hardware tests are skipped without it)",
        )
    group.addoption(
        "--visa-library",
        default="",
        metavar="LIBRARY",
        help="VISA library for tests/hardware (e.g. @py, or bench.yaml@reramsim)",
    )
