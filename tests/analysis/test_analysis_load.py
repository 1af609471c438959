"""Loading logs into pandas: runs, run tables, timeseries; aborted, running and foreign files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import V_FORM, new_log, write_forming

from reramlab.analysis import open_log, summarize
from reramlab.analysis.load import categorical
from reramlab.errors import LogFileError

N_OPS = 8 + 10 + 12 + 14  # form_step + read per ramp step, per cell of V_FORM


def test_runs_table(forming_log) -> None:
    with open_log(forming_log) as log:
        runs = log.runs
        assert log.info["chip_name"] == "chipA" and log.info["instruments"] == {
            "smu": "KEITHLEY,2450"
        }
    for col in ("id", "protocol", "status", "start", "end", "parameters"):
        assert col in runs.columns
    run = runs.iloc[0]
    assert (run["id"], run["number"], run["protocol"], run["status"]) == (
        "0001_forming",
        1,
        "forming",
        "completed",
    )
    assert run["parameters"] == {"vg": 1.2, "v_stop": 3.6}
    assert isinstance(run["start"], pd.Timestamp) and run["end"] >= run["start"]


def test_timeseries_columns_and_filters(forming_log) -> None:
    with open_log(forming_log) as log:
        ts = log.timeseries()
        one = log.timeseries(cells=[(1, 1)])
        by_run = log.timeseries(run="0001_forming")
        none = log.timeseries(run=1, cells=[(3, 3)])
        assert log.cells == sorted(V_FORM)
    assert list(ts.columns) == [
        "row",
        "col",
        "t_s",
        "op",
        "v",
        "width_s",
        "vg",
        "i_a",
        "g_s",
        "n",
        "run",
    ]
    assert len(ts) == N_OPS and len(by_run) == N_OPS and len(none) == 0
    assert isinstance(ts["op"].dtype, pd.CategoricalDtype)
    assert set(ts["op"]) == {"form_step", "read"}
    assert len(one) == 14 and (one["row"] == 1).all() and (one["col"] == 1).all()
    assert np.allclose(
        one.loc[one["op"] == "form_step", "v"], np.round(np.arange(3.0, 3.61, 0.1), 9)
    )
    last_read = ts[ts["op"] == "read"].groupby(["row", "col"])["g_s"].last()
    assert last_read[(0, 1)] == 40e-6 and (ts["run"] == 1).all()


def test_run_tables_by_id_or_number(forming_log) -> None:
    with open_log(forming_log) as log:
        a, b = log.run("0001_forming"), log.run(1)
        with pytest.raises(LogFileError, match="no run 'nosuch'"):
            log.run("nosuch")
    assert list(a) == ["cells"] and a["cells"].equals(b["cells"])
    assert list(a["cells"].columns) == ["row", "col", "formed", "v_form", "i_form", "g_form"]


def test_string_columns_decoded(tmp_path) -> None:
    with new_log(tmp_path / "s.h5") as log:
        run = log.new_run("read", {}, "all", t_s=0.0)
        for k, op in enumerate(["read", "set_pulse_long_name", "read", "reset_pulse"]):
            run.op((0, k % 2), op, t_s=float(k))
        run.row("levels", name="low", g_s=1e-5)
        run.row("levels", name="high", g_s=9e-5)
        run.finish("completed", t_s=1.0)
    with open_log(tmp_path / "s.h5") as log:
        ts = log.timeseries()
        assert list(log.run(1)["levels"]["name"]) == ["low", "high"]
    assert sorted(ts["op"]) == ["read", "read", "reset_pulse", "set_pulse_long_n"]  # S16: 16 bytes


def test_categorical_is_exact() -> None:
    rng = np.random.default_rng(1)
    names = np.array(
        [b"", b"read", b"readx", b"form_step", b"form_stepy", b"abcdefgh", b"abcdefghABCDEFGH"]
    )
    values = names[rng.integers(0, len(names), 1000)]
    records = np.zeros(
        1000, dtype=[("x", "f8"), ("op", "S16"), ("k", "i4")]
    )  # strided, unaligned field
    records["op"] = values
    for arr in (values, records["op"], np.array([b"ab", b"c", b"ab"]), np.array([], "S16")):
        assert list(categorical(arr)) == [v.decode() for v in arr.tolist()]


def test_aborted_run_is_readable(tmp_path) -> None:
    path = tmp_path / "a.h5"
    with new_log(path) as log:
        write_forming(log, status="aborted", cells={(0, 0): 3.3, (0, 1): 3.4})
    with open_log(path) as log:
        run = summarize(log)["runs"][0]
        assert log.runs["error"].iloc[0] == "Ctrl-C"
    assert run["status"] == "aborted" and run["metrics"]["n_cells"] == 2


WRITER = """
import sys
sys.path.insert(0, {tests!r})
from conftest import new_log, write_forming
log = new_log({path!r})
write_forming(log, status="running")
print("flushed", flush=True)
sys.stdin.readline()
"""


def test_run_still_open_in_another_process_then_killed(tmp_path) -> None:
    path = tmp_path / "live.h5"
    code = textwrap.dedent(WRITER).format(tests=os.path.dirname(__file__), path=str(path))
    writer = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "flushed"
        for _ in range(2):  # while the writer holds it open, then after SIGKILL left it flagged
            with open_log(path) as log:
                assert log.runs["status"].tolist() == ["running"]
                assert len(log.timeseries()) == N_OPS
                assert summarize(log)["runs"][0]["metrics"]["yield"] == 0.75
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=10)
    finally:
        writer.kill()
        writer.wait(timeout=10)
    before = path.read_bytes()
    with open_log(path) as log:
        log.timeseries()
    assert path.read_bytes() == before  # only ever read


def test_foreign_missing_and_newer_files_refused(tmp_path) -> None:
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(LogFileError, match=r"foreign.h5: an HDF5 file, but not a reramlab log"):
        open_log(foreign)
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(LogFileError, match="cannot open as HDF5"):
        open_log(text)
    with pytest.raises(LogFileError, match="cannot open: no such file"):
        open_log(tmp_path / "missing.h5")
    newer = tmp_path / "newer.h5"
    new_log(newer).close()
    with h5py.File(newer, "r+") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(LogFileError, match="version 99 is newer"):
        open_log(newer)


def test_json_of_summary_is_plain(forming_log) -> None:
    with open_log(forming_log) as log:
        text = json.dumps(summarize(log), default=float)
    assert '"v_form_mean"' in text
