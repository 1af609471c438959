"""retention end to end: program-verify then reads at log-spaced times up to 10 years on the
simulated clock, drift metrics and figure, resume, limits, and a lab station run with --sim."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from helpers import interrupted_then_resumed
from reramlab.analysis import open_log, summarize
from reramlab.analysis.figures import FIGURES
from reramlab.errors import ParameterError, SafetyLimitError
from reramlab.runner import execute, open_bench
from reramlab.stations.loader import load_station, station_dir

TEN_YEARS_S = 10 * 365.25 * 86400
PROGRAMMED = {"program": "true", "v_form": "4.0", "n_levels": "4",
              "times_s": f"1,3600,{TEN_YEARS_S}"}  # fmt: skip


@pytest.fixture
def bench(tmp_path):
    """The shipped sim station on a simulated bench of its own (fresh chip)."""
    _, connected, bench = open_bench(load_station("sim"), sim=True, sim_dir=tmp_path)
    yield bench
    connected.close()


def test_drift_of_programmed_cells_over_ten_years(bench, tmp_path) -> None:
    out = tmp_path / "ret.h5"
    result = execute("retention", out=out, cells="0,0:4", bench=bench, settings=PROGRAMMED)
    assert result.status == "completed", result.error
    assert result.bench_time_s > TEN_YEARS_S  # the simulated clock, not the wall clock
    with open_log(out) as log:
        tables = log.run(result.run_id)
        metrics = summarize(log)["runs"][0]["metrics"]
        figures = FIGURES["retention"](tables, log.timeseries(run=result.run_id), {})
    cells, reads = tables["cells"], tables["reads"]
    assert cells["converged"].all()
    # the reference is the final verify read; time zero the last programming pulse
    assert np.allclose(cells["g_ref_s"], cells["final_g_s"])
    assert (cells["t0_s"] < cells["t_final_s"]).all()
    assert sorted(zip(reads["row"], reads["col"], reads["k"], strict=True)) == [
        (0, c, k) for c in range(4) for k in range(3)
    ]
    assert (reads["t_s"] >= reads["t_sched_s"]).all()
    assert (reads["t_s"] <= reads["t_sched_s"] * 1.01 + 2.0).all()  # read on time (or nearly)
    ref = reads.merge(cells, on=["row", "col"])
    assert np.allclose(ref["drift_s"], ref["g_s"] - ref["g_ref_s"])
    for key in ("drift_mean_uS_1h", "drift_sigma_uS_1h", "drift_mean_uS_10y", "drift_sigma_uS_10y"):
        assert np.isfinite(metrics[key]) and abs(metrics[key]) < 5.0, key
    assert [name for name, _ in figures] == ["drift_vs_time"]


def test_cells_as_found_are_their_own_reference(bench, tmp_path) -> None:
    out = tmp_path / "ret.h5"
    result = execute("retention", out=out, cells="1,0:2", bench=bench,
                     settings={"times_s": "10,100"})  # fmt: skip
    with open_log(out) as log:
        tables = log.run(result.run_id)
    assert "converged" not in tables["cells"] and len(tables["reads"]) == 4
    assert (tables["reads"]["t_s"] >= 10).all() and result.bench_time_s >= 100


def test_resume_takes_only_the_missing_reads(bench, tmp_path) -> None:
    out = tmp_path / "ret.h5"
    result = interrupted_then_resumed("retention", stop_when=lambda p: p.done == 3, out=out,
                                      cells="0,0:2", bench=bench, settings=PROGRAMMED)  # fmt: skip
    assert result.run_id == "0001_retention" and result.status == "completed"
    with h5py.File(out, "r") as f:
        reads = f["runs/0001_retention/reads"][()]
        cells = f["runs/0001_retention/cells"][()]
        first = f["cells/r00c00/timeseries"][()]
    assert len(cells) == 2 and (first["op"] == b"form_pulse").sum() == 1
    keys = sorted(zip(reads["row"], reads["col"], reads["k"], strict=True))
    assert keys == sorted({(0, c, k) for c in (0, 1) for k in (0, 1, 2)})


@pytest.mark.parametrize(
    ("settings", "message", "error"),
    [
        ({"vg": "4.0"}, "vg = 4.0 V exceeds", SafetyLimitError),
        ({"program": "true", "vg_reset": "3.6"}, "vg_reset = 3.6 V exceeds", SafetyLimitError),
        ({"times_s": "10,1"}, "increasing", ParameterError),
    ],
)
def test_limits_refused_before_the_first_command(bench, tmp_path, settings, message, error) -> None:
    before = bench.station.simulator.transactions
    with pytest.raises(error, match=message):
        execute("retention", out=tmp_path / "ret.h5", cells="0,0", bench=bench, settings=settings)
    assert bench.station.simulator.transactions == before
    assert not (tmp_path / "ret.h5").exists()


def test_runs_on_a_lab_station_with_sim(tmp_path) -> None:
    station = load_station(station_dir() / "lab-2450-81160-707b.yaml")
    _, connected, bench = open_bench(station, sim=True, sim_dir=tmp_path)
    try:
        result = execute("retention", out=tmp_path / "ret.h5", cells="0,0:2", bench=bench,
                         settings={**PROGRAMMED, "max_iterations": "3", "width_s": "2.5e-6"})  # fmt: skip
        assert result.status == "completed", result.error
        with open_log(tmp_path / "ret.h5") as log:
            reads = log.run(result.run_id)["reads"]
        assert len(reads) == 6
        assert all(len(i.errors) == 0 for i in connected.simulator.instruments.values())
    finally:
        connected.close()
