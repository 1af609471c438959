"""Bad input gets one clear error (file, key or value, and what was expected), exit status 2,
and no traceback unless --debug."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from faultkit import QUICK_FORMING, write_station

from reramlab import cli
from reramlab.runner import execute
from reramlab.stations.loader import station_dir

SIM = str(station_dir() / "sim.yaml")


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """`reramlab ARGS` in this process: (exit status, stderr with its line wrapping undone)."""
    monkeypatch.setattr(sys, "argv", ["reramlab", *args])
    try:
        cli.main()
        code = 0
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    return code, " ".join(err.split())


def station(tmp_path: Path, text: str, name: str = "bad.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


STATIONS = {
    "incomplete": ("name: x\n", "bad.yaml: invalid station file instruments: Field required chip: Field required"),
    "not YAML": ("a: [1, 2\n", "bad.yaml: line 2, column 1 not valid YAML"),
    "not a mapping": ("- 1\n- 2\n", "bad.yaml: expected a mapping of station keys, got list"),
    "unknown key": (f"extends: {SIM}\nbogus: 1\n", "bogus: unknown key"),
    "wrong type": (f"extends: {SIM}\nlimits: {{v_bl_max: high}}\n",
                   "limits.v_bl_max: Input should be a valid number"),
    "wrong container": (f"extends: {SIM}\nchip: [64, 64]\n", "chip: Input should be a valid dictionary"),
    "unknown driver module": (f"extends: {SIM}\ninstruments: {{smu: {{driver: 'reramlab.instruments.nosuch:X'}}}}\n",
                              "instruments.smu.driver: cannot import 'reramlab.instruments.nosuch'"),
    "unknown driver class": (f"extends: {SIM}\ninstruments: {{smu: {{driver: 'reramlab.instruments.keithley2450:Nope'}}}}\n",
                             "instruments.smu.driver: reramlab.instruments.keithley2450 has no class 'Nope'"),
    "unknown instrument": (f"extends: {SIM}\nwiring: {{lines: {{WL: {{switch: sw_xx}}}}}}\n",
                           "wiring.lines.WL.switch: no instrument named 'sw_xx'"),
    "limit beyond the instrument": (f"extends: {SIM}\nlimits: {{v_bl_max: 15}}\n",
                                    "limits: pulse_bl needs up to 15.0 V but pg (Keysight81160A) sources at most 10.0 V"),
    "malformed extends": ("extends: 5\nname: y\n", "bad.yaml: extends: expected the path or name of a station file"),
    "bad fault overlay": (f"extends: {SIM}\nsim: {{faults: [{{kind: melt}}]}}\n", "sim.faults.0.kind"),
    "bad protocol default": (f"extends: {SIM}\nprotocol_defaults: {{cycling: {{n_cycle: 3}}}}\n",
                             "bad.yaml: protocol_defaults.cycling: unknown parameter 'n_cycle'"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(STATIONS))
def test_bad_station_files(tmp_path, monkeypatch, capsys, case) -> None:
    text, message = STATIONS[case]
    path = station(tmp_path, text)
    for args in (["run", "forming", "--station", path, "--out", str(tmp_path / "f.h5")],
                 ["station", "check", path, "--sim"]):  # fmt: skip
        code, err = run_cli(monkeypatch, capsys, *args)
        assert code == 2, err
        assert err.startswith("error:") and message in err and "Traceback" not in err
    assert not (tmp_path / "f.h5").exists()


def test_a_station_that_cannot_be_read(tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00")
    for name, message in (("folder.yaml", "Is a directory"), ("binary.yaml", "can't decode")):
        for cmd in (["run", "forming", "--station"], ["station", "check"]):
            code, err = run_cli(monkeypatch, capsys, *cmd, str(tmp_path / name))
            assert code == 2 and f"{name}: cannot read the station file" in err and message in err


BAD_RUNS = {
    "unknown protocol": (["run", "nosuch"], "unknown protocol 'nosuch'; known: forming"),
    "unknown parameter": (["--set", "v_end=3"], "unknown parameter 'v_end' for protocol forming"),
    "no key=value": (["--set", "vg"], "--set 'vg': expected key=value"),
    "wrong type": (["--set", "vg=high"], "vg = 'high': expected float"),
    "not finite": (["--set", "vg=nan"], "vg = nan: must be a finite number"),
    "out of range": (["--set", "v_stop=30"], "v_stop = 30.0 V: valid range is [0.0, 20.0] V"),
    "inconsistent": (["--set", "v_stop=1"], "v_stop = 1.0 V must exceed v_start = 1.5 V"),
    "beyond the station": (["--set", "v_stop=4.9"],
                           "v_stop = 4.9 V exceeds the station limit limits.v_bl_max = 4.5 V"),
    "cells outside": (["--cells", "9,0"], "--cells '9,0': rows index 9 outside 0..3"),
    "cells zero step": (["--cells", "0:4:0,0"], "--cells '0:4:0,0': slice step cannot be zero"),
    "cells empty": (["--cells", "2:2,0"], "selects no cell on a 4x4 chip"),
    "cells malformed": (["--cells", "a-b"], "expected 'ROWS,COLS'"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_RUNS))
def test_bad_runs(tmp_path, monkeypatch, capsys, case) -> None:
    extra, message = BAD_RUNS[case]
    st = str(write_station(tmp_path))
    args = extra if extra[0] == "run" else ["run", "forming", "--station", st, "--cells", "0,0",
                                            "--out", str(tmp_path / "f.h5"), *extra]  # fmt: skip
    code, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2, err
    assert err.startswith("error:") and message in err and "Traceback" not in err
    assert not (tmp_path / "f.h5").exists()


def test_bad_logs(tmp_path, monkeypatch, capsys) -> None:
    st = str(write_station(tmp_path))
    (tmp_path / "text.h5").write_text("not a log")
    (tmp_path / "folder.h5").mkdir()
    foreign = tmp_path / "foreign.h5"
    import h5py

    with h5py.File(foreign, "w") as f:
        f["x"] = 1
    done = tmp_path / "done.h5"
    execute("forming", out=done, station=st, sim=True, cells="0,0", settings=QUICK_FORMING)
    os.chmod(done, 0o444)
    cases = {
        "text.h5": "text.h5: not an HDF5 file",
        "foreign.h5": "foreign.h5: an HDF5 file, but not a reramlab log",
        "folder.h5": "folder.h5: is a folder; --out takes a file name",
        "done.h5": "done.h5: log file is read-only; choose another --out",
        "text.h5/run.h5": "text.h5 is not a folder",
    }
    for name, message in cases.items():
        code, err = run_cli(monkeypatch, capsys, "run", "forming", "--station", st, "--cells",
                            "0,1", "--out", str(tmp_path / name))  # fmt: skip
        assert code == 2 and message in err and "Traceback" not in err, (name, err)
    os.chmod(done, 0o644)
    with h5py.File(done, "r") as f:
        assert list(f["runs"]) == ["0001_forming"]  # the refused runs added nothing


def test_resume_with_other_parameters_is_bad_input(tmp_path, monkeypatch, capsys) -> None:
    st = str(write_station(tmp_path))
    out = tmp_path / "f.h5"
    base = ["run", "forming", "--station", st, "--cells", "0,0", "--out", str(out)]
    (code, err) = run_cli(
        monkeypatch, capsys, *base, "--set", "v_start=2.8", "--set", "v_step=0.05"
    )
    assert code == 0, err
    with h5py_file(out) as f:  # make it look interrupted
        f["runs/0001_forming"].attrs["status"] = "aborted"
    code, err = run_cli(monkeypatch, capsys, *base, "--resume", "--set", "v_start=2.8")
    assert code == 2 and "--resume of run 0001_forming: it was started with v_step = 0.05" in err


def h5py_file(path):
    import h5py

    return h5py.File(path, "r+")


def test_debug_shows_the_traceback(tmp_path, monkeypatch, capsys) -> None:
    code, err = run_cli(monkeypatch, capsys, "--debug", "run", "forming", "--station",
                        station(tmp_path, "name: x\n"))  # fmt: skip
    assert code == 2 and "Traceback" in err and "StationError" in err


def test_a_failed_run_exits_1_with_the_reason(tmp_path, monkeypatch, capsys) -> None:
    faults = [{"kind": "timeout", "instrument": "smu_gate", "match": "VOLT:LEV 1.2"}]
    st = str(write_station(tmp_path, faults=faults))
    code, err = run_cli(monkeypatch, capsys, "run", "forming", "--station", st, "--cells", "0,0",
                        "--out", str(tmp_path / "f.h5"))  # fmt: skip
    assert code == 1 and "failed: VisaIOError: VI_ERROR_TMO" in err and "Traceback" not in err


def test_the_installed_command_prints_no_traceback(tmp_path) -> None:
    bad = station(tmp_path, yaml.safe_dump({"extends": SIM, "limits": {"v_wl_max": -1}}))
    res = subprocess.run([sys.executable, "-m", "reramlab.cli", "run", "forming", "--station", bad],
                         capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert res.returncode == 2 and "limits.v_wl_max" in res.stderr
    assert "Traceback" not in res.stderr and res.stderr.count("error:") == 1


def test_protocols_shows_a_stations_defaults(monkeypatch, capsys) -> None:
    """`reramlab protocols --station NAME` lists the defaults a run there uses."""
    import json

    monkeypatch.setattr(sys, "argv", ["reramlab", "protocols", "--json", "--station",
                                      "lab-2636b-81160-707b"])  # fmt: skip
    cli.main()
    listed = json.loads(capsys.readouterr().out)["protocols"]
    pv = {p["name"]: p["default"] for p in listed["program-verify"]["parameters"]}
    assert pv["width_s"] == 2.5e-6 and pv["v_table"][:3] == [1e-5, 1.45, -2.1]
    assert pv["acceptance"] == 0.02  # not set by the station: the protocol's own
