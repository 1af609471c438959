"""Fixtures of the reliability tests (helpers: faultkit.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from faultkit import write_station

from reramlab.runner import open_bench
from reramlab.stations.loader import load_station


@pytest.fixture
def station_file(tmp_path: Path) -> Path:
    return write_station(tmp_path)


@pytest.fixture
def bench(tmp_path: Path, station_file: Path):
    """A Bench on a small simulated chip of its own (4x4), short VISA timeouts; its simulated
    bench records every command (``bench.station.simulator.bench.command_log``)."""
    _, connected, bench = open_bench(load_station(station_file), sim=True, sim_dir=tmp_path)
    connected.simulator.bench.command_log = []
    yield bench
    connected.simulator.faults.clear()
    connected.close()
