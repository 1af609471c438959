"""read end to end: repeated reads per cell (as found, and 1 s after program-verify), read noise
metric and figures, resume, limits, and a lab station run with --sim."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from helpers import interrupted_then_resumed
from reramlab.analysis import open_log, summarize
from reramlab.analysis.figures import FIGURES
from reramlab.errors import SafetyLimitError
from reramlab.runner import execute, open_bench
from reramlab.stations.loader import load_station, station_dir

AT_50US = {"program": "true", "targets_s": "50e-6", "v_form": "4.0", "nplc": "0.01",
           "n_reads": "10"}  # fmt: skip


@pytest.fixture
def bench(tmp_path):
    """The shipped sim station on a simulated bench of its own (fresh chip)."""
    _, connected, bench = open_bench(load_station("sim"), sim=True, sim_dir=tmp_path)
    yield bench
    connected.close()


def test_reads_one_second_after_programming(bench, tmp_path) -> None:
    out = tmp_path / "r.h5"
    result = execute("read", out=out, cells="0,0:3", bench=bench, settings=AT_50US)
    assert result.status == "completed", result.error
    with open_log(out) as log:
        tables = log.run(result.run_id)
        metrics = summarize(log)["runs"][0]["metrics"]
        ts = log.timeseries(run=result.run_id)
        figures = FIGURES["read"](tables, ts, log.parameters(result.run_id))
    cells = tables["cells"]
    assert len(cells) == 3 and cells["converged"].all()
    assert np.allclose(cells["tau_s"], 1.0, atol=1e-3)  # first read 1 s after the last pulse
    assert np.allclose(cells["g_mean_s"], 50e-6, rtol=0.03)  # 2 % window + 1 s relaxation
    assert ((cells["g_std_s"] > 0.02e-6) & (cells["g_std_s"] < 0.5e-6)).all()
    assert cells["n_reads"].eq(10).all()
    assert 0.02 < metrics["read_noise_uS"] < 0.5
    assert metrics["t_after_program_median_s"] == pytest.approx(1.0, abs=1e-9)  # clock rounding
    # the 10 reads of each cell are logged one by one, after its programming, in time order
    for _, d in ts.groupby(["row", "col"]):
        last = d[d["op"].astype(str).str.endswith("_pulse")]["t_s"].max()
        reads = d[(d["op"] == "read") & (d["t_s"] > last + 0.5)]
        assert len(reads) == 10 and reads["t_s"].is_monotonic_increasing
    assert {name for name, _ in figures} == {"g_map", "noise_vs_g"}


def test_reads_cells_as_found_in_one_sweep_each(bench, tmp_path) -> None:
    sim = bench.station.simulator
    cost = {}
    for n, cells in ((5, "1,0:2"), (50, "1,2:4")):
        before = sim.transactions
        result = execute("read", out=tmp_path / f"r{n}.h5", cells=cells, bench=bench,
                         settings={"n_reads": str(n)})  # fmt: skip
        cost[n] = sim.transactions - before
        with open_log(tmp_path / f"r{n}.h5") as log:
            table = log.run(result.run_id)["cells"]
        assert (table["g_mean_s"] < 1e-7).all()  # a fresh chip: pristine cells, nS
        assert "converged" not in table and table["tau_s"].isna().all()
    # the reads of a cell are one instrument-side list sweep: 10x the reads, same bus cost
    assert cost[50] - cost[5] <= 2


def test_resume_skips_read_cells(bench, tmp_path) -> None:
    out = tmp_path / "r.h5"
    result = interrupted_then_resumed("read", stop_when=lambda p: p.done == 1, out=out,
                                      cells="0,0:3", bench=bench, settings=AT_50US)  # fmt: skip
    assert result.run_id == "0001_read" and result.status == "completed"
    with h5py.File(out, "r") as f:
        cells = f["runs/0001_read/cells"][()]
        first = f["cells/r00c00/timeseries"][()]
    assert sorted(zip(cells["row"], cells["col"], strict=True)) == [(0, 0), (0, 1), (0, 2)]
    assert (first["op"] == b"form_pulse").sum() == 1


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"vg": "4.0"}, "vg = 4.0 V exceeds"),
        ({"program": "true", "v_form": "6.0"}, "v_form = 6.0 V exceeds"),
        ({"i_compliance_a": "0.05"}, "i_compliance_a = 0.05 A outside"),
    ],
)
def test_limits_refused_before_the_first_command(bench, tmp_path, settings, message) -> None:
    before = bench.station.simulator.transactions
    with pytest.raises(SafetyLimitError, match=message):
        execute("read", out=tmp_path / "r.h5", cells="0,0", bench=bench, settings=settings)
    assert bench.station.simulator.transactions == before
    assert not (tmp_path / "r.h5").exists()


def test_runs_on_a_lab_station_with_sim(tmp_path) -> None:
    station = load_station(station_dir() / "lab-2450-81160-707b.yaml")
    _, connected, bench = open_bench(station, sim=True, sim_dir=tmp_path)
    try:
        result = execute("read", out=tmp_path / "r.h5", cells="0,0:2", bench=bench,
                         settings={"n_reads": "4", "program": "true", "v_form": "4.0",
                                   "max_iterations": "3", "width_s": "2.5e-6"})  # fmt: skip
        assert result.status == "completed", result.error
        with open_log(tmp_path / "r.h5") as log:
            cells = log.run(result.run_id)["cells"]
        assert len(cells) == 2 and (cells["g_mean_s"] > 1e-6).all()
        assert all(len(i.errors) == 0 for i in connected.simulator.instruments.values())
    finally:
        connected.close()


def test_the_listing_marks_what_only_the_programming_step_uses() -> None:
    """`reramlab protocols`: read and retention take the program-verify settings; those that
    only their optional programming step uses say so, the read settings they share do not."""
    from reramlab.protocols import program_verify, read, retention
    from reramlab.protocols.base import describe

    for module in (read, retention):
        helps = {p["name"]: p["help"] for p in describe(module)}
        assert helps["width_s"].startswith("[program step, with program] ")
        assert helps["acceptance"].startswith("[program step, with program] ")
        assert not helps["v_read"].startswith("[") and not helps["nplc"].startswith("[")
    assert not any(p["help"].startswith("[") for p in describe(program_verify))
