"""Every protocol runs on every shipped lab station against the simulator (`--sim`): the same
instruments, addresses and wiring, tiny settings; the run must complete with error queues empty."""

from __future__ import annotations

import pytest

from reramlab.analysis.load import open_log
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


def test_program_verify_converges_with_the_350nm_benchs_own_defaults(tmp_path) -> None:
    """lab-2636b-81160-707b mounts a 350 nm chip, whose RESET the 130 nm defaults barely move:
    its station file's protocol_defaults (2.5 us, about -2 V) make program-verify converge;
    `--set` still overrides them, and the log records what ran."""
    out = tmp_path / "pv.h5"
    station = station_dir() / "lab-2636b-81160-707b.yaml"
    _, connected, bench = open_bench(load_station(station), sim=True, sim_dir=tmp_path)
    try:
        assert execute("forming", out=out, cells="0:2,0:4", bench=bench).status == "completed"
        result = execute("program-verify", out=out, cells="0:2,0:4", bench=bench,
                         settings={"n_levels": "8", "max_iterations": "300"})  # fmt: skip
        assert result.status == "completed", result.error
        with open_log(out) as log:
            cells = log.run(result.run_id)["cells"]
            params = log.parameters(result.run_id)
        assert cells["converged"].all(), cells
        assert params["width_s"] == 2.5e-6 and params["v_table"][2] == -2.1
        assert params["n_levels"] == 8
    finally:
        connected.close()
