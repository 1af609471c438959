"""program-verify end to end on the simulated 130 nm chip: outcome table, ops, metrics, figures,
resume, limits, algorithms and a lab station run with --sim."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from helpers import interrupted_then_resumed
from reramlab.analysis import open_log, summarize
from reramlab.analysis.figures import FIGURES
from reramlab.errors import ParameterError, SafetyLimitError
from reramlab.protocols.program_verify import Params
from reramlab.protocols.programming import Ladder
from reramlab.runner import execute, open_bench
from reramlab.stations.loader import load_station, station_dir

FORM = {"v_form": "4.0"}


@pytest.fixture
def bench(tmp_path):
    """The shipped sim station on a simulated bench of its own (fresh chip)."""
    _, connected, bench = open_bench(load_station("sim"), sim=True, sim_dir=tmp_path)
    yield bench
    connected.close()


def test_block_lands_every_cell_inside_its_window(bench, tmp_path) -> None:
    out = tmp_path / "pv.h5"
    sim = bench.station.simulator
    marks: list[int] = []
    read = bench.read
    bench.read = lambda *a, **k: (marks.append(sim.transactions), read(*a, **k))[1]
    result = execute("program-verify", out=out, cells="0,0:4", bench=bench,
                     settings={**FORM, "n_levels": "2"})  # fmt: skip
    assert result.status == "completed", result.error
    with open_log(out) as log:
        cells = log.run(result.run_id)["cells"]
        metrics = summarize(log)["runs"][0]["metrics"]
        ts = log.timeseries(run=result.run_id)
        figures = FIGURES["program-verify"](
            log.run(result.run_id), ts, log.parameters(result.run_id)
        )
    assert list(cells["target_g_s"] * 1e6) == pytest.approx([10, 90, 10, 90])  # round-robin
    assert cells["converged"].all() and cells["formed"].all()
    assert (abs(cells["final_g_s"] - cells["target_g_s"]) <= 0.02 * cells["target_g_s"]).all()
    assert set(cells["algorithm"]) == {"identical"}
    assert metrics["levels"] == 2 and metrics["success_rate"] == 1.0
    assert metrics["iterations_median"] >= 1 and np.isfinite(metrics["sigma_prog_slope"])
    # every verify read and pulse is an op: first read, forming pulse, read, then read per pulse
    for (r, c), d in ts.groupby(["row", "col"]):
        n = int(cells[(cells.row == r) & (cells.col == c)]["iterations"].iloc[0])
        ops = d["op"].astype(str).value_counts()
        assert ops["read"] == n + 2 and ops.get("form_pulse") == 1
        assert ops.get("set_pulse", 0) + ops.get("reset_pulse", 0) == n
    assert {"iterations_histogram", "programmed_levels", "sigma_vs_target",
            "convergence_traces"} <= {name for name, _ in figures}  # fmt: skip
    # an iteration (pulse + verify read) costs 2 bus messages (SET) or 6 (RESET: the SL ground
    # crosspoint and the gate move), 1 more when the read guessed the next polarity wrong
    assert np.median(np.diff(marks)) <= 6 and max(np.diff(marks)) <= 12
    assert all(len(inst.errors) == 0 for inst in sim.instruments.values())


@pytest.mark.parametrize(("algorithm", "mode"), [("ispva", "incremental"), ("igvva", "cumulative")])
def test_incremental_algorithms_converge(bench, tmp_path, algorithm, mode) -> None:
    out = tmp_path / "pv.h5"
    settings = {**FORM, "targets_s": "40e-6", "algorithm": algorithm, "mode": mode,
                "v_step": "0.05", "vg_step": "0.1"}  # fmt: skip
    result = execute("program-verify", out=out, cells="1,0", bench=bench, settings=settings)
    with open_log(out) as log:
        cells = log.run(result.run_id)["cells"]
        pulses = log.timeseries(run=result.run_id).query("op == 'reset_pulse'")
    assert cells["converged"].all() and cells["algorithm"].iloc[0] == algorithm
    # approaching 40 uS from the formed state (> 90 uS) takes RESET pulses on a climbing ladder
    key = "v" if algorithm == "ispva" else "vg"
    ladder = pulses[key].abs().to_numpy()
    assert len(ladder) > 1 and np.all(np.diff(ladder[: min(len(ladder), 5)]) > 0)


def test_ladder_modes() -> None:
    """incremental: each polarity's ladder only climbs; cumulative: it restarts at a polarity change."""
    p = Params(algorithm="ispva", mode="incremental", v_set_start=1.0, v_reset_start=-1.0,
               v_step=0.1, targets_s=(50e-6,))  # fmt: skip
    inc = Ladder(p, 50e-6)
    assert [inc.next(s)[0] for s in (1, 1, -1, 1)] == pytest.approx([1.0, 1.1, -1.0, 1.2])
    cum = Ladder(Params(**{**p.__dict__, "mode": "cumulative"}), 50e-6)
    assert [cum.next(s)[0] for s in (1, 1, -1, 1)] == pytest.approx([1.0, 1.1, -1.0, 1.0])
    capped = [inc.next(1)[0] for _ in range(5)]
    assert max(capped) == pytest.approx(1.35)  # never beyond the v_table amplitude
    g = Ladder(Params(algorithm="igvva", vg_set_start=0.9, vg_step=0.2, vg_set=1.2), 50e-6)
    assert np.allclose([g.next(1) for _ in range(3)], [(1.35, 0.9), (1.35, 1.1), (1.35, 1.2)])
    same = Ladder(Params(), 20e-6)
    assert np.allclose([same.next(s) for s in (1, -1, 1)], [(1.35, 1.2), (-1.5, 3.3), (1.35, 1.2)])


def test_resume_skips_programmed_cells(bench, tmp_path) -> None:
    out = tmp_path / "pv.h5"
    result = interrupted_then_resumed("program-verify", stop_when=lambda p: p.done == 1,
                                      out=out, cells="0,0:3", bench=bench, settings=FORM)  # fmt: skip
    assert result.run_id == "0001_program-verify" and result.status == "completed"
    with h5py.File(out, "r") as f:
        cells = f["runs/0001_program-verify/cells"][()]
        assert sorted(zip(cells["row"], cells["col"], strict=True)) == [(0, 0), (0, 1), (0, 2)]
        first = f["cells/r00c00/timeseries"][()]
    assert (first["op"] == b"form_pulse").sum() == 1  # programmed once, not again on resume


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"v_table": "10e-6,5.0,-1.3"}, "v_table SET amplitude = 5.0 V exceeds .*v_bl_max = 4.5"),
        ({"vg_reset": "4.0"}, "vg_reset = 4.0 V exceeds .*v_wl_max = 3.5"),
        ({"v_form": "6.0"}, "v_form = 6.0 V exceeds"),
    ],
)
def test_limits_refused_before_the_first_command(bench, tmp_path, settings, message) -> None:
    before = bench.station.simulator.transactions
    with pytest.raises(SafetyLimitError, match=message):
        execute("program-verify", out=tmp_path / "pv.h5", cells="0,0", bench=bench,
                settings=settings)  # fmt: skip
    assert bench.station.simulator.transactions == before
    assert not (tmp_path / "pv.h5").exists()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"algorithm": "fast"}, "algorithm = 'fast'"),
        ({"mode": "both"}, "mode = 'both'"),
        ({"v_table": "10e-6,1.35"}, "rows of 3 values"),
        ({"g_min_s": "9e-5", "g_max_s": "1e-5"}, "below g_min_s"),
        ({"acceptance": "2"}, "acceptance = 2.0"),
    ],
)
def test_bad_parameters(bench, tmp_path, settings, message) -> None:
    with pytest.raises(ParameterError, match=message):
        execute("program-verify", out=tmp_path / "pv.h5", bench=bench, settings=settings)


def test_runs_on_a_lab_station_with_sim(tmp_path) -> None:
    station = load_station(station_dir() / "lab-2450-81160-707b.yaml")
    _, connected, bench = open_bench(station, sim=True, sim_dir=tmp_path)
    try:
        result = execute("program-verify", out=tmp_path / "pv.h5", cells="0,0:2", bench=bench,
                         settings={**FORM, "max_iterations": "5", "width_s": "2.5e-6"})  # fmt: skip
        assert result.status == "completed", result.error
        with open_log(tmp_path / "pv.h5") as log:
            cells = log.run(result.run_id)["cells"]
        assert len(cells) == 2 and (cells["iterations"] <= 5).all() and cells["formed"].all()
        assert all(len(i.errors) == 0 for i in connected.simulator.instruments.values())
    finally:
        connected.close()
