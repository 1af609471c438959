"""The shipped lab stations (real addresses, "@ivi") run against the simulator with --sim:
`station check` passes, and forming runs end to end through their own drivers and wiring."""

from __future__ import annotations

import pytest

from reramlab.analysis import open_log, summarize
from reramlab.runner import execute, open_bench
from reramlab.stations.check import check_station
from reramlab.stations.loader import load_station, station_dir

LAB_STATIONS = ["lab-2450-81160-707b", "lab-b2902-33600-707b", "lab-2636b-81160-707b"]


@pytest.mark.parametrize("name", LAB_STATIONS)
def test_lab_station_is_a_real_bench_that_checks_out_simulated(name: str) -> None:
    path = station_dir() / f"{name}.yaml"
    station = load_station(path)
    assert station.spec.visa_library == "@ivi"
    assert station.text.startswith("#")  # the bench is described in a comment header
    report = check_station(path, sim=True)
    assert report.ok, (report.problems, [(r.name, r.errors) for r in report.rows])
    roles = {role for row in report.rows for role in row.roles}
    assert {"WL lines", "BL lines", "SL lines"} <= roles
    assert {r.split("=")[0] for r in roles if "=" in r} == {"drive", "gate", "pulse_bl", "pulse_sl"}


@pytest.mark.parametrize("name", LAB_STATIONS)
def test_forming_runs_on_the_lab_station_with_sim(name: str, tmp_path) -> None:
    _, connected, bench = open_bench(load_station(station_dir() / f"{name}.yaml"), sim=True,
                                     sim_dir=tmp_path)  # fmt: skip
    try:
        result = execute("forming", out=tmp_path / "f.h5", cells="0,0:2", bench=bench)
        simulator = connected.simulator
        assert result.status == "completed", result.error
        with open_log(tmp_path / "f.h5") as log:
            metrics = summarize(log)["runs"][0]["metrics"]
        assert metrics["n_cells"] == 2 and metrics["yield"] == 1.0
        assert all(len(inst.errors) == 0 for inst in simulator.instruments.values())
        assert not [e for e in simulator.bench.events if e.kind == "short"]
    finally:
        connected.close()
