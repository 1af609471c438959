"""Ctrl-C, SIGTERM and SIGKILL: the bench is made safe where it can be, the log stays whole and
readable, and ``--resume`` finishes a killed run without repeating done cells."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
import pyvisa
from faultkit import QUICK_FORMING, assert_bench_safe, write_station

from reramlab.analysis import open_log
from reramlab.errors import CellSelectionError, LogFileError, ParameterError
from reramlab.runner import execute
from reramlab.sim_backend.audit import CommandRecorder, audit
from reramlab.sim_backend.library import ReramSimLibrary

SETS = [arg for k, v in QUICK_FORMING.items() for arg in ("--set", f"{k}={v}")]


# -- in the process ----------------------------------------------------------------------------
def test_a_second_ctrl_c_cannot_stop_the_clean_up(bench, tmp_path, monkeypatch) -> None:
    lib = bench.station.simulator
    safe = bench.safe

    def safe_interrupted_twice():
        os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C again, then again
        os.kill(os.getpid(), signal.SIGINT)
        return safe()

    monkeypatch.setattr(bench, "safe", safe_interrupted_twice)

    def ctrl_c(progress) -> None:
        raise KeyboardInterrupt

    out = tmp_path / "f.h5"
    with pytest.raises(KeyboardInterrupt):
        execute("forming", out=out, cells="0,0:2", bench=bench, settings=QUICK_FORMING,
                on_progress=ctrl_c)  # fmt: skip
    with h5py.File(out, "r", locking=False) as f:
        run = f["runs/0001_forming"]
        assert run.attrs["status"] == "aborted" and "interrupted" in run.attrs["error"]
        assert len(run["cells"]) == 1
    assert_bench_safe(lib)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_stop_signals_end_the_run_as_aborted(bench, tmp_path, sig) -> None:
    before = signal.getsignal(sig)

    def signal_after_first_cell(progress) -> None:
        if progress.done == 1:
            os.kill(os.getpid(), sig)

    out = tmp_path / "f.h5"
    with pytest.raises(KeyboardInterrupt, match=signal.Signals(sig).name):
        execute("forming", out=out, cells="0,0:3", bench=bench, settings=QUICK_FORMING,
                on_progress=signal_after_first_cell)  # fmt: skip
    assert signal.getsignal(sig) is before  # the run's handler is gone with the run
    with open_log(out) as log:
        assert log.runs.status.tolist() == ["aborted"]
        assert len(log.run("0001_forming")["cells"]) == 1
    assert_bench_safe(bench.station.simulator)


def test_a_signal_during_a_log_flush_waits_for_the_flush(bench, tmp_path, monkeypatch) -> None:
    import reramlab.log as log_module

    append = log_module._append
    sent = []

    def append_with_a_signal_in_between(group, name, rows):
        if name == "cells" and not sent:  # SIGTERM between appending two tables
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)
        append(group, name, rows)

    monkeypatch.setattr(log_module, "_append", append_with_a_signal_in_between)
    out = tmp_path / "f.h5"
    with pytest.raises(KeyboardInterrupt):
        execute("forming", out=out, cells="0,0:3", bench=bench, settings=QUICK_FORMING)
    with open_log(out) as log:
        runs = log.runs
        ts = log.timeseries()
        cells = log.run("0001_forming")["cells"]
    assert runs.status.tolist() == ["aborted"]
    assert len(cells) == 1 and (ts.t_s > 0).all() and set(ts.op) == {"form_step", "read"}
    assert_bench_safe(bench.station.simulator)


def test_resume_refuses_other_parameters_or_cells(bench, tmp_path) -> None:
    out = tmp_path / "f.h5"

    def stop(progress) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute("forming", out=out, cells="0,0:2", bench=bench, settings=QUICK_FORMING,
                on_progress=stop)  # fmt: skip
    with pytest.raises(ParameterError, match=r"v_step = 0.05 \(now 0.02\)"):
        execute("forming", out=out, cells="0,0:2", bench=bench, resume=True,
                settings={"v_start": "2.8"})  # fmt: skip
    with pytest.raises(CellSelectionError, match=r"started with --cells '0,0:2', not '0,0:3'"):
        execute("forming", out=out, cells="0,0:3", bench=bench, resume=True,
                settings=QUICK_FORMING)  # fmt: skip
    result = execute("forming", out=out, cells="0,0:2", bench=bench, resume=True,
                     settings=QUICK_FORMING)  # fmt: skip
    assert result.status == "completed" and result.run_id == "0001_forming"
    with h5py.File(out, "r") as f:
        resumed = f["runs/0001_forming"].attrs["resumed"]
        assert '"previous_status": "aborted"' in resumed


def test_one_writer_per_log(bench, tmp_path) -> None:
    import fcntl

    out = tmp_path / "f.h5"
    execute("forming", out=out, cells="0,0", bench=bench, settings=QUICK_FORMING)
    fd = os.open(out, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another reramlab process writing it
    try:
        with pytest.raises(LogFileError, match="another reramlab process is writing this log"):
            execute("forming", out=out, cells="0,1", bench=bench, settings=QUICK_FORMING)
    finally:
        os.close(fd)


# -- the command line in a subprocess ----------------------------------------------------------
def start_cli(args: list[str], cwd: Path, record_dir: Path) -> subprocess.Popen:
    env = {**os.environ, ReramSimLibrary.RECORD_DIR_ENV: str(record_dir)}
    record_dir.mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "reramlab.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def cells_done(path: Path) -> int:
    """Rows in the run's cells table, read while another process writes (0 if not readable)."""
    try:
        with h5py.File(path, "r", locking=False) as f:
            return len(f["runs/0001_forming/cells"])
    except (OSError, KeyError, RuntimeError, ValueError):
        return 0


def wait_for_cells(proc: subprocess.Popen, path: Path, n: int, timeout_s: float = 30.0) -> int:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        done = cells_done(path)
        if done >= n:
            return done
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError(f"{path}: fewer than {n} cells after {timeout_s} s")


def recordings(record_dir: Path) -> list[CommandRecorder]:
    """The subprocess's command recordings, also handed to the session's audit."""
    recs = [CommandRecorder.load(p) for p in sorted(record_dir.glob("*.jsonl"))]
    session = os.environ.get(ReramSimLibrary.RECORD_DIR_ENV)
    if session:
        for p in record_dir.glob("*.jsonl"):
            shutil.copy(p, Path(session) / f"{record_dir.parent.name}-{p.name}")
    return recs


def replayed(rec: CommandRecorder, tmp_path: Path):
    """A fresh simulated bench from the same resource file, fed the recorded messages in order:
    its instruments end in the state the subprocess left its own in."""
    copy = tmp_path / "replay.yaml"
    copy.write_text(Path(rec.source).read_text())
    lib = pyvisa.ResourceManager(f"{copy}@reramsim").visalib
    devices = {dev.instrument.name: dev for dev in lib.devices.values()}
    for inst, text, _ in rec.messages():
        dev = devices[inst]
        dev.write(text.encode() + dev.query_eom)
        dev.reset_io()
    return lib


def test_ctrl_c_makes_the_bench_safe_and_marks_the_run_aborted(tmp_path) -> None:
    station = write_station(tmp_path, rows=4, cols=16)
    out = tmp_path / "f.h5"
    proc = start_cli(["run", "forming", "--station", str(station), "--cells", "all", "--out",
                      str(out), *SETS], tmp_path, tmp_path / "rec")  # fmt: skip
    done = wait_for_cells(proc, out, 3)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "aborted" in stderr and "Traceback" not in stderr
    with h5py.File(out, "r") as f:
        run = f["runs/0001_forming"]
        assert run.attrs["status"] == "aborted"
        assert "interrupted by the user" in run.attrs["error"]
        n = len(run["cells"])
        assert done <= n < 64
        assert all(f"cells/r{r:02d}c{c:02d}" in f for r, c in zip(run["cells"]["row"], run["cells"]["col"], strict=True))  # fmt: skip
    (rec,) = recordings(tmp_path / "rec")
    assert audit(rec).violations == []
    assert_bench_safe(replayed(rec, tmp_path))


def test_a_killed_run_leaves_a_readable_log_that_resume_finishes(tmp_path) -> None:
    station = write_station(tmp_path, rows=4, cols=8)
    out = tmp_path / "f.h5"
    args = ["run", "forming", "--station", str(station), "--cells", "all", "--out", str(out), *SETS]
    proc = start_cli(args, tmp_path, tmp_path / "rec")
    wait_for_cells(proc, out, 3)
    proc.kill()  # SIGKILL: nothing runs after it
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # plain h5py opens it; the run says 'running'; everything flushed is there
    with h5py.File(out, "r") as f:
        run = f["runs/0001_forming"]
        assert run.attrs["status"] == "running"
        before = run["cells"][()]
        history = {f"r{r:02d}c{c:02d}": f[f"cells/r{r:02d}c{c:02d}/timeseries"][()]
                   for r, c in zip(before["row"], before["col"], strict=True)}  # fmt: skip
    assert 3 <= len(before) < 32
    with open_log(out) as log:
        assert log.runs.status.tolist() == ["running"]
        assert len(log.run("0001_forming")["cells"]) == len(before)
    # --resume (a new process, a new simulated chip: the log decides what is done)
    res = subprocess.run([sys.executable, "-m", "reramlab.cli", *args, "--resume"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr
    with h5py.File(out, "r") as f:
        run = f["runs/0001_forming"]
        assert list(f["runs"]) == ["0001_forming"] and run.attrs["status"] == "completed"
        cells = run["cells"][()]
        assert sorted(zip(cells["row"], cells["col"], strict=True)) == [
            (r, c) for r in range(4) for c in range(8)
        ]
        assert cells[: len(before)].tobytes() == before.tobytes()  # done rows untouched
        for key, rows in history.items():  # ... and their cells not formed again
            assert f[f"cells/{key}/timeseries"][()].tobytes() == rows.tobytes(), key
    recordings(tmp_path / "rec")  # the killed run's flushed recording joins the session audit
