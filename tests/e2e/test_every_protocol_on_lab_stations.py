"""Every protocol runs on every shipped lab station against the simulator (`--sim`): the same
instruments, addresses and wiring, tiny settings; the run must complete with error queues empty."""

from __future__ import annotations

import pytest

from reramlab.protocols.base import PROTOCOL_MODULES
from reramlab.runner import execute, open_bench
from reramlab.stations.loader import load_station, station_dir

LAB_STATIONS = sorted(p.name for p in station_dir().glob("lab-*.yaml"))
PV_TINY = {"n_levels": "2", "max_iterations": "3", "width_s": "2.5e-6", "v_form": "4.0"}
TINY: dict[str, tuple[str, dict[str, str]]] = {
    "forming": ("0,0", {}),
    "cycling": ("0,0", {"n_cycles": "1", "v_step": "0.05", "preform": "true"}),
    "endurance": ("0,0", {"n_cycles": "1000", "n_probe": "5", "preform": "true"}),
    "pulse-train": ("0,0", {"phases": "down,up", "n_down": "5", "n_up": "5", "preform": "true"}),
    "program-verify": ("0,0:2", PV_TINY),
    "read": ("0,0:2", {"n_reads": "3"}),
    "retention": ("0,0:2", PV_TINY | {"program": "true", "times_s": "1,3600"}),
    "disturb": (
        "0,0",
        {"n_half": "100", "n_prep": "10", "n_full": "2", "n_reads": "2", "preform": "true"},
    ),
}


def test_every_protocol_has_a_tiny_setting() -> None:
    assert set(TINY) == set(PROTOCOL_MODULES)


@pytest.mark.parametrize("station_file", LAB_STATIONS)
def test_every_protocol_completes_on_the_simulated_lab_station(station_file, tmp_path) -> None:
    station = load_station(station_dir() / station_file)
    _, connected, bench = open_bench(station, sim=True, sim_dir=tmp_path)
    try:
        for protocol, (cells, settings) in TINY.items():
            result = execute(
                protocol, out=tmp_path / "all.h5", cells=cells, settings=settings, bench=bench
            )
            assert result.status == "completed", (protocol, result.error)
        sim = connected.simulator
        assert all(len(inst.errors) == 0 for inst in sim.instruments.values())
    finally:
        connected.close()
