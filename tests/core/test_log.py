"""The HDF5 log: layout of DESIGN section 6, append-only cell history, run status, guards."""

import json
import math
import os

import h5py
import numpy as np
import pytest

from reramlab.errors import LogFileError
from reramlab.log import TIMESERIES_DTYPE, LogFile


def make(path):
    return LogFile(path, station_name="sim", station_yaml="name: sim\n",
                   instruments={"smu": "KEITHLEY,2450"}, chip_name="chip", chip_shape=(4, 4))  # fmt: skip


def test_layout_and_attrs(tmp_path) -> None:
    path = tmp_path / "a.h5"
    with make(path) as log:
        run = log.new_run("forming", {"vg": 1.2}, "0:2,0:2", t_s=0.0)
        run.op((1, 2), "read", t_s=1.0, v=0.2, vg=1.2, i_a=2e-6, g_s=1e-5)
        run.row("cells", row=1, col=2, formed=True, v_form=3.3)
        run.flush()
        run.finish("completed", t_s=2.0)
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "reramlab-log"
        assert f.attrs["station_name"] == "sim"
        assert json.loads(f.attrs["instruments"]) == {"smu": "KEITHLEY,2450"}
        assert list(f.attrs["chip_shape"]) == [4, 4]
        ts = f["cells/r01c02/timeseries"]
        assert ts.dtype == TIMESERIES_DTYPE and ts.maxshape == (None,)
        assert ts[0]["op"] == b"read" and ts[0]["run"] == 1 and ts[0]["g_s"] == 1e-5
        g = f["runs/0001_forming"]
        assert g.attrs["status"] == "completed" and g.attrs["t_end_s"] == 2.0
        assert json.loads(g.attrs["parameters"]) == {"vg": 1.2}
        assert g["cells"][0]["v_form"] == 3.3


def test_history_appends_across_runs_and_sessions(tmp_path) -> None:
    path = tmp_path / "a.h5"
    for k in range(2):
        with make(path) as log:
            run = log.new_run("read", {}, "all", t_s=float(k))
            run.op((0, 0), "read", t_s=float(k))
            run.finish("completed", t_s=float(k))
    with h5py.File(path, "r") as f:
        assert list(f["runs"]) == ["0001_read", "0002_read"]
        assert list(f["cells/r00c00/timeseries"]["run"]) == [1, 2]


def test_flushed_steps_are_on_disk_while_running(tmp_path) -> None:
    path = tmp_path / "a.h5"
    log = make(path)
    run = log.new_run("forming", {}, "all", t_s=0.0)
    run.op((0, 0), "read", t_s=0.0)
    run.flush()
    run.op((0, 1), "read", t_s=0.0)  # queued, not flushed
    with h5py.File(path, "r", locking=False) as f:
        assert f["runs/0001_forming"].attrs["status"] == "running"
        assert "r00c00" in f["cells"] and "r00c01" not in f["cells"]
    log.close()


def test_resumable_run_is_the_last_unfinished_one(tmp_path) -> None:
    with make(tmp_path / "a.h5") as log:
        a = log.new_run("forming", {}, "all", t_s=0.0)
        a.finish("aborted", t_s=1.0, error="Ctrl-C")
        assert log.resumable_run("forming").id == a.id
        b = log.new_run("forming", {}, "all", t_s=0.0)
        b.finish("completed", t_s=1.0)
        assert log.resumable_run("forming") is None


def test_not_ours_and_read_only(tmp_path) -> None:
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(LogFileError, match="not a reramlab log"):
        make(foreign)
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(LogFileError, match="not an HDF5 file"):
        make(text)
    ro = tmp_path / "ro.h5"
    make(ro).close()
    os.chmod(ro, 0o444)
    if os.access(ro, os.W_OK):  # running as root: permissions are not enforced
        pytest.skip("file permissions are not enforced for this user")
    with pytest.raises(LogFileError, match="read-only"):
        make(ro)


def test_bad_status_refused(tmp_path) -> None:
    with make(tmp_path / "a.h5") as log:
        run = log.new_run("x", {}, "all", t_s=0.0)
        with pytest.raises(ValueError):
            run.finish("done", t_s=math.nan)
