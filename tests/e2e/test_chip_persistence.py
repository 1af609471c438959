"""The simulated chip is kept with its log (FILE.h5.simchip.npz): a second CLI process continues
the chip the first one formed, bit for bit; another chip's state is refused before anything is
sent; interrupted and failed runs save the chip as they left it."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from reramlab.analysis import open_log, summarize
from reramlab.errors import LogFileError
from reramlab.instruments.base import InstrumentError
from reramlab.runner import execute, open_bench
from reramlab.sim_backend.library import read_chip_state
from reramlab.simchip import chip_state_path
from reramlab.stations.loader import load_station, station_dir

QUICK_FORMING = {"v_start": "2.8", "v_step": "0.05"}


def _station(directory: Path, name: str = "sim-keep", rows: int = 4, cols: int = 8,
             **sim: object) -> Path:  # fmt: skip
    """The shipped `sim` station on a small chip (seed 1), with `sim` keys overridden."""
    overlay: dict[str, object] = {
        "extends": str(station_dir() / "sim.yaml"),
        "name": name,
        "chip": {"name": f"keep-{rows}x{cols}", "rows": rows, "cols": cols},
    }
    if sim:
        overlay["sim"] = sim
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(overlay, sort_keys=False))
    return path


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reramlab.cli", *args], cwd=cwd,
                          capture_output=True, text=True)  # fmt: skip


def _timeseries(log: Path) -> dict[str, np.ndarray]:
    with h5py.File(log, "r") as f:
        return {k: f[f"cells/{k}/timeseries"][()] for k in f["cells"]}


def _run_attrs(log: Path, run: str) -> dict[str, object]:
    with h5py.File(log, "r") as f:
        return dict(f[f"runs/{run}"].attrs)


def _run_tables(log: Path) -> dict[str, np.ndarray]:
    tables: dict[str, np.ndarray] = {}
    with h5py.File(log, "r") as f:
        f["runs"].visititems(
            lambda name, obj: (
                tables.update({name: obj[()]}) if isinstance(obj, h5py.Dataset) else None
            )
        )
    return tables


def test_second_cli_process_continues_the_chip_the_first_formed(tmp_path) -> None:
    station = str(_station(tmp_path))
    res = _cli(tmp_path, "run", "forming", "--station", station, "--cells", "0:2,0:4",
               "--set", "v_start=2.8", "--set", "v_step=0.05", "--out", "a.h5")  # fmt: skip
    assert res.returncode == 0, res.stderr
    sidecar = tmp_path / "a.h5.simchip.npz"
    assert sidecar.exists() and chip_state_path(tmp_path / "a.h5") == sidecar
    shutil.copy(tmp_path / "a.h5", tmp_path / "b.h5")  # the same log without its chip
    for log in ("a.h5", "b.h5"):
        res = _cli(tmp_path, "run", "read", "--station", station, "--cells", "0:3,0:4",
                   "--set", "n_reads=2", "--out", log)  # fmt: skip
        assert res.returncode == 0, res.stderr
    kept, lost = _timeseries(tmp_path / "a.h5"), _timeseries(tmp_path / "b.h5")
    for r in range(3):
        for c in range(4):
            key = f"r{r:02d}c{c:02d}"
            reads = kept[key][kept[key]["run"] == 2]
            assert len(reads) == 2 and (reads["op"] == b"read").all()
            if r < 2:  # formed by the first process: the second reads its filament
                assert (reads["g_s"] > 20e-6).all(), (key, reads["g_s"])
            else:  # never formed
                assert (reads["g_s"] < 1e-8).all(), (key, reads["g_s"])
            fresh = lost[key][lost[key]["run"] == 2]  # no sidecar: a pristine chip, as before
            assert (fresh["g_s"] < 1e-8).all(), (key, fresh["g_s"])
    # the simulated clock went on from where the first run left it
    t_end_1 = _run_attrs(tmp_path / "a.h5", "0001_forming")["t_end_s"]
    assert _run_attrs(tmp_path / "a.h5", "0002_read")["t_start_s"] >= t_end_1
    assert _run_attrs(tmp_path / "b.h5", "0002_read")["t_start_s"] < t_end_1
    header, state = read_chip_state(sidecar)
    assert (header["log"], header["run"], header["run_status"]) == (
        "a.h5",
        "0002_read",
        "completed",
    )
    assert float(state["clock_now_s"]) == _run_attrs(tmp_path / "a.h5", "0002_read")["t_end_s"]
    assert state["formed"].reshape(4, 8)[:2, :4].all() and state["formed"].sum() == 8


STEPS_A = [("forming", "0:4,0:4", QUICK_FORMING)]
STEPS_B = [
    ("pulse-train", "0:2,0:4", {"n_down": "20", "n_up": "20", "n_alt": "4", "n_per_read": "2"}),
    ("retention", "0:4,0:2", {"times_s": "1,3600"}),
    ("read", "0:4,0:8", {"n_reads": "3"}),
]


def test_restored_chip_continues_bit_for_bit(tmp_path) -> None:
    """A then B in one process (the bench opened for each, as the CLI does; one simulator,
    whose chip simply lives on) == A, chip saved, B on a new simulator that restored it: the
    same logs, metrics and final chip state, bit for bit."""
    station = load_station(_station(tmp_path))
    for steps in (STEPS_A, STEPS_B):
        _, connected, bench = open_bench(station, sim=True, sim_dir=tmp_path / "kept")
        try:
            for protocol, cells, settings in steps:
                execute(protocol, out=tmp_path / "kept.h5", cells=cells, settings=settings,
                        bench=bench)  # fmt: skip
        finally:
            connected.close()
    kept_state = connected.simulator.model.state()
    assert not chip_state_path(tmp_path / "kept.h5").exists()  # a passed bench: not kept

    out = tmp_path / "saved.h5"
    for n, steps in enumerate((STEPS_A, STEPS_B)):  # two simulators, as two processes
        _, connected, bench = open_bench(station, sim=True, sim_dir=tmp_path / f"process{n}",
                                         chip_of=out)  # fmt: skip
        try:
            for protocol, cells, settings in steps:
                execute(protocol, out=out, cells=cells, settings=settings, bench=bench,
                        keep_chip=True)  # fmt: skip
        finally:
            connected.close()
    restored_state = connected.simulator.model.state()

    kept_ts, saved_ts = _timeseries(tmp_path / "kept.h5"), _timeseries(out)
    assert kept_ts.keys() == saved_ts.keys() and len(kept_ts) == 32
    for key in kept_ts:
        _assert_bits(kept_ts[key], saved_ts[key], key)
    kept_tables, saved_tables = _run_tables(tmp_path / "kept.h5"), _run_tables(out)
    assert kept_tables.keys() == saved_tables.keys() and len(kept_tables) >= 4
    for name in kept_tables:
        _assert_bits(kept_tables[name], saved_tables[name], name)
    with open_log(tmp_path / "kept.h5") as a, open_log(out) as b:
        runs_a, runs_b = summarize(a)["runs"], summarize(b)["runs"]
    assert [r["metrics"] for r in runs_a] == [r["metrics"] for r in runs_b]
    assert [r["status"] for r in runs_b] == ["completed"] * 4
    assert kept_state.keys() == restored_state.keys()
    for k in kept_state:
        _assert_bits(kept_state[k], restored_state[k], k)


def _assert_bits(a: np.ndarray, b: np.ndarray, what: str) -> None:
    """Bit for bit (NaN where NaN)."""
    assert (a.dtype, a.shape) == (b.dtype, b.shape), what
    assert a.tobytes() == b.tobytes(), what


def _saved_chip(tmp_path: Path, out: Path, station: Path | None = None) -> None:
    """One short run on `station` (default the small sim station) into `out`, chip kept."""
    st = load_station(station or _station(tmp_path))
    _, connected, bench = open_bench(st, sim=True, sim_dir=tmp_path / f"sim-{out.stem}")
    try:
        execute("forming", out=out, cells="0,0:2", settings=QUICK_FORMING, bench=bench,
                keep_chip=True)  # fmt: skip
    finally:
        connected.close()


@pytest.mark.parametrize(
    ("sim", "rows", "named"),
    [
        ({"seed": 2}, 4, "seed: saved 1, this chip 2"),
        (
            {"preset": "cmo-hfox-350nm"},
            4,
            "preset: saved 'cmo-hfox-130nm', this chip 'cmo-hfox-350nm'",
        ),
        (
            {"preset_overrides": {"g_hi_s": 1e-4}},
            4,
            "overrides: saved {}, this chip {'g_hi_s': 0.0001}",
        ),
        ({}, 8, "rows: saved 4, this chip 8"),
    ],
)
def test_another_chips_state_is_refused_before_anything_is_sent(tmp_path, sim, rows, named) -> None:
    out = tmp_path / "a.h5"
    _saved_chip(tmp_path, out)
    sidecar = chip_state_path(out)
    before = (sidecar.read_bytes(), out.read_bytes())
    other = load_station(_station(tmp_path, name="sim-other", rows=rows, **sim))
    with pytest.raises(LogFileError) as e:
        execute("read", out=out, station=other, cells="0,0", sim=True)
    message = str(e.value)
    assert message.startswith(f"{sidecar}: the simulated chip saved with {out} is not this station")
    assert named in message and f"delete {sidecar.name} to continue a.h5 on a fresh chip" in message
    assert (sidecar.read_bytes(), out.read_bytes()) == before


def test_cli_mismatch_exits_2_with_one_message_and_leaves_the_log(tmp_path) -> None:
    out = tmp_path / "a.h5"
    _saved_chip(tmp_path, out)
    before = (chip_state_path(out).read_bytes(), out.read_bytes())
    other = _station(tmp_path, name="sim-other", seed=7)
    res = _cli(tmp_path, "run", "read", "--station", str(other), "--cells", "0,0", "--out", "a.h5")
    assert res.returncode == 2, res.stderr
    text = " ".join(res.stderr.split())  # rich wraps long lines
    assert "a.h5.simchip.npz: the simulated chip saved with a.h5 is not this station's chip" in text
    assert "seed: saved 1, this chip 7" in text and "Traceback" not in res.stderr
    assert (chip_state_path(out).read_bytes(), out.read_bytes()) == before


def test_chip_of_a_deleted_log_is_replaced_and_one_of_another_log_refused(tmp_path) -> None:
    out = tmp_path / "a.h5"
    _saved_chip(tmp_path, out)
    stale = read_chip_state(chip_state_path(out))[0]
    out.unlink()  # the log is gone: its chip too; the next run starts fresh and replaces it
    _, connected, _ = open_bench(load_station(_station(tmp_path)), sim=True,
                                 sim_dir=tmp_path / "fresh", chip_of=out)  # fmt: skip
    connected.close()
    assert connected.simulator.clock.now_s == 0.0 and not connected.simulator.model.formed.any()
    _saved_chip(tmp_path, out)
    header = read_chip_state(chip_state_path(out))[0]
    assert header["log_created"] == _log_created(out) != stale["log_created"]

    other = tmp_path / "b.h5"  # a log with the chip of another log of the same name
    _saved_chip(tmp_path, other)
    shutil.copy(chip_state_path(out), chip_state_path(other))
    with pytest.raises(LogFileError, match="saved with another log \\(a.h5, created "):
        execute("read", out=other, station=_station(tmp_path), cells="0,0", sim=True)

    chip_state_path(other).write_text("not a chip")
    with pytest.raises(LogFileError, match="not a chip-state file"):
        execute("read", out=other, station=_station(tmp_path), cells="0,0", sim=True)

    # a log that cannot be read cannot vouch for its chip: refused, not restored unchecked
    third = tmp_path / "c.h5"
    _saved_chip(tmp_path, third)
    third.write_bytes(b"not an HDF5 file")
    with pytest.raises(LogFileError, match="cannot read the log's creation time"):
        execute("read", out=third, station=_station(tmp_path), cells="0,0", sim=True)


def _log_created(log: Path) -> str:
    with h5py.File(log, "r") as f:
        return str(f.attrs["created"])


def test_station_cell_faults_apply_on_top_of_a_restored_chip(tmp_path) -> None:
    out = tmp_path / "a.h5"
    _saved_chip(tmp_path, out)  # cells (0, 0) and (0, 1) formed
    faulty = _station(tmp_path, name="sim-faulty", faults=[
        {"kind": "stuck", "cells": [[0, 1]], "g_s": 2e-6},
        {"kind": "unformable", "cells": [[1, 1]]},
    ])  # fmt: skip
    _, connected, _ = open_bench(load_station(faulty), sim=True, sim_dir=tmp_path / "faulty",
                                 chip_of=out)  # fmt: skip
    connected.close()
    model = connected.simulator.model
    assert model.formed[0, 0] and model.formed[0, 1]  # restored
    assert model.stuck[0, 1] and model.g_s[0, 1] == 2e-6  # the station's fault on top
    assert model.stuck.sum() == 1 and not model.formed[1].any()


def test_interrupted_and_failed_runs_save_the_chip_as_they_left_it(tmp_path) -> None:
    out = tmp_path / "a.h5"
    _, connected, bench = open_bench(load_station(_station(tmp_path)), sim=True,
                                     sim_dir=tmp_path / "sim")  # fmt: skip
    sim = connected.simulator
    try:
        seen = []

        def ctrl_c(progress) -> None:
            seen.append(progress)
            if len(seen) == 4:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            execute("forming", out=out, cells="0:4,0:8", settings=QUICK_FORMING, bench=bench,
                    keep_chip=True, on_progress=ctrl_c)  # fmt: skip
        header, state = read_chip_state(chip_state_path(out))
        attrs = _run_attrs(out, "0001_forming")
        assert header["run_status"] == attrs["status"] == "aborted"
        assert float(state["clock_now_s"]) == attrs["t_end_s"] == sim.clock.now_s
        np.testing.assert_array_equal(state["formed"], sim.model.state()["formed"])
        assert 0 < state["formed"].sum() < 32

        sim.faults.error("smu", match="READ|MEAS", after=3)  # the SMU reports an error mid-run
        with pytest.raises(InstrumentError):
            execute("read", out=out, cells="0:4,0:8", settings={"n_reads": "5"}, bench=bench,
                    keep_chip=True)  # fmt: skip
        header, state = read_chip_state(chip_state_path(out))
        attrs = _run_attrs(out, "0002_read")
        assert (header["run"], header["run_status"], attrs["status"]) == (
            "0002_read",
            "failed",
            "failed",
        )
        assert float(state["clock_now_s"]) == attrs["t_end_s"] == sim.clock.now_s
    finally:
        connected.close()


def test_ctrl_c_of_a_cli_run_saves_the_chip(tmp_path) -> None:
    station = str(_station(tmp_path, rows=16, cols=16))
    proc = subprocess.Popen([sys.executable, "-m", "reramlab.cli", "run", "forming", "--station",
                             station, "--cells", "all", "--out", "a.h5"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with h5py.File(tmp_path / "a.h5", "r", locking=False) as f:
                    if len(f["cells"]) >= 3:
                        break
            except (OSError, KeyError):
                pass
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    header, state = read_chip_state(tmp_path / "a.h5.simchip.npz")
    attrs = _run_attrs(tmp_path / "a.h5", "0001_forming")
    assert header["run_status"] == attrs["status"] == "aborted"
    assert float(state["clock_now_s"]) == attrs["t_end_s"]
    assert 0 < state["formed"].sum() < 256
    formed_logged = sum(  # cells the log saw form (a read above 20 uS)
        bool((ts["g_s"][ts["op"] == b"read"] > 20e-6).any())
        for ts in _timeseries(tmp_path / "a.h5").values()
    )
    assert state["formed"].sum() >= formed_logged > 0


def test_a_chip_that_cannot_be_saved_is_reported_and_not_left_stale(tmp_path, monkeypatch) -> None:
    out = tmp_path / "a.h5"
    _saved_chip(tmp_path, out)
    _, connected, bench = open_bench(load_station(_station(tmp_path)), sim=True,
                                     sim_dir=tmp_path / "full", chip_of=out)  # fmt: skip
    try:

        def disk_full(path, header=None) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(connected.simulator, "save_chip", disk_full)
        with pytest.raises(LogFileError) as e:
            execute("read", out=out, cells="0,0:2", settings={"n_reads": "2"}, bench=bench,
                    keep_chip=True)  # fmt: skip
    finally:
        connected.close()
    assert str(e.value).startswith(f"{chip_state_path(out)}: cannot save the simulated chip")
    assert "No space left on device" in str(e.value) and "starts from a fresh chip" in str(e.value)
    assert _run_attrs(out, "0002_read")["status"] == "completed"  # the run itself is logged
    assert not chip_state_path(out).exists()  # not the chip from before that run
    assert not list(tmp_path.glob(".a.h5.simchip.npz.*"))  # no temporary file left


def test_a_real_bench_never_writes_a_chip(tmp_path) -> None:
    """No simulator behind the bench (what a real one looks like to the runner): nothing kept."""
    _, connected, bench = open_bench(load_station(_station(tmp_path)), sim=True,
                                     sim_dir=tmp_path / "real")  # fmt: skip
    connected.simulator = None  # the instruments still answer; the runner sees a real bench
    try:
        result = execute("read", out=tmp_path / "a.h5", cells="0,0:2", settings={"n_reads": "2"},
                         bench=bench, keep_chip=True)  # fmt: skip
    finally:
        connected.close()
    assert result.status == "completed"
    assert not chip_state_path(tmp_path / "a.h5").exists()
    assert not list(tmp_path.glob("*.npz*")) and not list(tmp_path.glob(".*.tmp"))
