"""Forming end to end: station -> drivers -> pyvisa -> simulator -> HDF5 log -> analysis."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from reramlab.analysis import open_log, summarize
from reramlab.errors import ParameterError, SafetyLimitError
from reramlab.runner import execute, open_bench
from reramlab.stations.loader import load_station


@pytest.fixture
def bench(tmp_path):
    """The shipped sim station on a simulated bench of its own (fresh chip)."""
    station = load_station("sim")
    _, connected, bench = open_bench(station, sim=True, sim_dir=tmp_path)
    yield bench
    connected.close()


def test_forming_block_reproduces_the_130nm_chip(bench, tmp_path) -> None:
    out = tmp_path / "f.h5"
    result = execute("forming", out=out, cells="0:4,0:8", bench=bench)
    assert result.status == "completed"
    with open_log(out) as log:
        run = summarize(log)["runs"][0]
        ts = log.timeseries()
    m = run["metrics"]
    assert m["n_cells"] == 32 and m["yield"] >= 0.99
    assert abs(m["v_form_mean"] - 3.38) <= 0.1
    assert 0.2e-3 <= m["i_form_mean"] <= 0.31e-3
    # every step was read back: the last read of each formed cell is above the threshold
    last = ts[ts.op == "read"].groupby(["row", "col"]).g_s.last()
    assert (last >= 20e-6).all() and len(last) == 32
    # the simulated bench took real bench time: ~100 steps x 2 readings x ~3 ms per cell
    assert result.bench_time_s > 32 * 0.1


def test_bench_is_left_safe_and_error_queues_empty(bench, tmp_path) -> None:
    execute("forming", out=tmp_path / "f.h5", cells="0,0:2", bench=bench)
    sim = bench.station.simulator
    v_bl, v_sl, v_wl = sim.bench.line_voltages()
    assert np.all(np.isnan(v_bl)) and np.all(np.isnan(v_sl)) and np.all(np.isnan(v_wl))
    for name in bench.station.instruments:
        assert len(sim.instruments[name].errors) == 0, name
    assert all(not inst.output for inst in [sim.instruments["smu"], sim.instruments["smu_gate"]])


def test_limits_refused_before_the_first_command(bench, tmp_path) -> None:
    sim = bench.station.simulator
    before = sim.transactions
    with pytest.raises(
        SafetyLimitError, match=r"v_stop = 5.0 V exceeds the station limit limits.v_bl_max = 4.5 V"
    ):
        execute(
            "forming", out=tmp_path / "f.h5", cells="0,0", settings={"v_stop": "5.0"}, bench=bench
        )
    assert sim.transactions == before
    assert not (tmp_path / "f.h5").exists()


def test_bad_parameters(bench, tmp_path) -> None:
    with pytest.raises(ParameterError, match="unknown parameter 'v_end'"):
        execute("forming", out=tmp_path / "f.h5", settings={"v_end": "3"}, bench=bench)
    with pytest.raises(ParameterError, match="vg = 'high': expected float"):
        execute("forming", out=tmp_path / "f.h5", settings={"vg": "high"}, bench=bench)
    with pytest.raises(ParameterError, match="must exceed v_start"):
        execute("forming", out=tmp_path / "f.h5", settings={"v_stop": "1.0"}, bench=bench)


def test_resume_skips_finished_cells(bench, tmp_path) -> None:
    out = tmp_path / "f.h5"
    n = 0

    def stop_after_two(progress) -> None:
        nonlocal n
        n += 1
        if n == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute("forming", out=out, cells="0,0:4", bench=bench, on_progress=stop_after_two)
    with h5py.File(out, "r") as f:
        assert f["runs/0001_forming"].attrs["status"] == "aborted"
        assert len(f["runs/0001_forming/cells"]) == 2
    result = execute("forming", out=out, cells="0,0:4", bench=bench, resume=True)
    assert result.run_id == "0001_forming" and result.status == "completed"
    with h5py.File(out, "r") as f:
        cells = f["runs/0001_forming/cells"][()]
        assert sorted(zip(cells["row"], cells["col"], strict=True)) == [
            (0, 0),
            (0, 1),
            (0, 2),
            (0, 3),
        ]
        # the first two cells were not formed again: one forming sequence each
        assert (f["cells/r00c00/timeseries"]["run"] == 1).all()


def test_cli_run_then_analyze_json(tmp_path) -> None:
    out = tmp_path / "f.h5"
    env_python = sys.executable
    subprocess.run([env_python, "-m", "reramlab.cli", "run", "forming", "--station", "sim",
                    "--cells", "0:2,0:2", "--out", str(out)], check=True, capture_output=True,
                   cwd=tmp_path)  # fmt: skip
    res = subprocess.run([env_python, "-m", "reramlab.cli", "analyze", str(out), "--json"],
                         check=True, capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    data = json.loads(res.stdout)
    run = data["runs"][0]
    assert run["protocol"] == "forming" and run["status"] == "completed"
    assert abs(run["metrics"]["v_form_mean"] - 3.38) < 0.3 and run["metrics"]["yield"] == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "nosuch"], "unknown protocol 'nosuch'"),
        (["run", "forming", "--cells", "0:99,0"], "--cells"),
        (["run", "forming", "--station", "nowhere"], "unknown station 'nowhere'"),
        (["run", "forming", "--set", "vg"], "expected key=value"),
        (["analyze", "missing.h5"], "cannot open"),
    ],
)
def test_cli_bad_input_exits_2_with_one_message(tmp_path, args, message) -> None:
    res = subprocess.run([sys.executable, "-m", "reramlab.cli", *args], cwd=tmp_path,
                         capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert message in res.stderr
    assert "Traceback" not in res.stderr
