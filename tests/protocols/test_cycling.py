"""Cycling end to end on the simulated chip: quasi-static bipolar sweeps, per-cycle table, metrics,
figures, resume, limits refused before the first command, a lab station run with sim=True."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import interrupted_then_resumed
from reramlab.analysis import FIGURES, open_log, summarize
from reramlab.errors import ParameterError, SafetyLimitError
from reramlab.protocols.cycling import switching_voltage
from reramlab.runner import execute, open_bench
from reramlab.stations.loader import load_station, station_dir

FAST = {"preform": "1", "n_cycles": "2", "v_step": "0.05", "dwell_s": "1e-3"}


@pytest.fixture
def bench(tmp_path):
    _, connected, bench = open_bench(load_station("sim"), sim=True, sim_dir=tmp_path)
    yield bench
    connected.close()


def test_cycles_table_metrics_and_figures(bench, tmp_path) -> None:
    out = tmp_path / "c.h5"
    result = execute("cycling", out=out, cells="0,0:2", settings=FAST, bench=bench)
    assert result.status == "completed", result.error
    with open_log(out) as log:
        tables = log.run(result.run_id)
        metrics = summarize(log)["runs"][0]["metrics"]
        ts = log.timeseries(run=result.run_id)
        figures = FIGURES["cycling"](tables, ts, log.parameters(result.run_id))
    cycles = tables["cycles"]
    assert len(cycles) == 2 * 3 and set(cycles["cycle"]) == {0, 1, 2}  # initial RESET + 2 cycles
    real = cycles[cycles["cycle"] >= 1]
    assert (real["g_lrs_s"] > 2 * real["g_hrs_s"]).all()
    assert ((real["v_set"] > 0) & (real["v_set"] <= 1.3)).all()
    assert ((real["v_reset"] < 0) & (real["v_reset"] >= -1.5)).all()
    assert 0 < metrics["v_set_median"] <= 1.3 and -1.5 <= metrics["v_reset_median"] < 0
    assert 5 <= metrics["on_off_median"] <= 30 and metrics["g_lrs_median_uS"] > 30
    sweeps = ts[ts["op"] == "sweep"]
    set_half, reset_half = 26 + 25, 30 + 29  # 0.05 V steps up to 1.3 V (1.5 V) and back
    assert len(sweeps) == 2 * (reset_half + 2 * (set_half + reset_half))
    assert sweeps["v"].max() == pytest.approx(1.3) and sweeps["v"].min() == pytest.approx(-1.5)
    assert {"iv_loops", "switching_voltages", "lrs_hrs_cycles"} <= {name for name, _ in figures}


def test_switching_voltage_definition() -> None:
    v = np.r_[np.arange(1, 11), np.arange(9, 0, -1)] * 0.1
    g = np.where(np.arange(19) < 6, 10e-6, 100e-6)  # jumps from 10 to 100 uS at 0.7 V
    assert switching_voltage(v, g * v, 0.2, 2.0) == pytest.approx(0.7)
    assert np.isnan(switching_voltage(v, 10e-6 * v, 0.2, 2.0))  # no switching
    g_reset = np.where(np.arange(19) < 3, 100e-6, 10e-6)  # RESET: falls at -0.4 V
    assert switching_voltage(-v, -g_reset * v, 0.2, 2.0) == pytest.approx(-0.4)


def test_resume_continues_after_the_last_logged_cycle(bench, tmp_path) -> None:
    out = tmp_path / "c.h5"
    result = interrupted_then_resumed(
        "cycling", stop_when=lambda p: p.message.startswith("cell"), out=out, cells="0,0:2",
        settings=FAST, bench=bench,
    )  # fmt: skip
    assert result.status == "completed"
    with open_log(out) as log:
        cycles = log.run(result.run_id)["cycles"]
        forming = log.run(result.run_id)["forming_cells"]
    assert len(forming) == 2  # formed once, not again on resume
    for col in (0, 1):
        assert list(cycles[cycles["col"] == col]["cycle"]) == [0, 1, 2]


@pytest.mark.parametrize(
    ("settings", "error", "match"),
    [
        ({"v_set_max": "5.0"}, SafetyLimitError, "v_set_max = 5.0 V exceeds the station limit"),
        ({"vg_reset": "4.0"}, SafetyLimitError, "vg_reset = 4.0 V exceeds"),
        ({"v_reset_max": "0.5"}, ParameterError, "v_reset_max = 0.5 V"),
    ],
)
def test_limits_refused_before_the_first_command(bench, tmp_path, settings, error, match) -> None:
    before = bench.station.simulator.transactions
    with pytest.raises(error, match=match):
        execute("cycling", out=tmp_path / "c.h5", cells="0,0", settings=settings, bench=bench)
    assert bench.station.simulator.transactions == before
    assert not (tmp_path / "c.h5").exists()


def test_runs_on_a_lab_station_with_sim(tmp_path) -> None:
    """The lab bench carries the 350 nm chip: it switches at higher voltages than 130 nm."""
    station = load_station(station_dir() / "lab-2450-81160-707b.yaml")
    _, connected, bench = open_bench(station, sim=True, sim_dir=tmp_path)
    try:
        result = execute("cycling", out=tmp_path / "c.h5", cells="0,0", bench=bench,
                         settings=FAST | {"n_cycles": "1", "v_set_max": "1.8", "v_reset_max": "-2.0"})  # fmt: skip
        assert result.status == "completed", result.error
        with open_log(tmp_path / "c.h5") as log:
            metrics = summarize(log)["runs"][0]["metrics"]
        assert metrics["n_cycles"] == 1 and metrics["on_off_median"] > 2
        assert all(len(inst.errors) == 0 for inst in connected.simulator.instruments.values())
    finally:
        connected.close()
