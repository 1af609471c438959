"""Bus and instrument faults: reads are retried after a device clear, anything that changed a
level or fired a pulse is not (the run fails with the reason, nothing measured before is lost),
and the bench is left safe on every exit path."""

from __future__ import annotations

import json

import h5py
import pytest
from faultkit import QUICK_FORMING, assert_bench_safe, messages, write_station

from reramlab.errors import InstrumentIOError, SafeStateError, StationError
from reramlab.protocols.base import PROTOCOL_MODULES
from reramlab.runner import execute, open_bench
from reramlab.sim_backend.scpi import fmt_nr3
from reramlab.stations.loader import load_station


@pytest.fixture
def probe(monkeypatch):
    """Register the test protocol 'probe' (read, SET pulse, read per cell)."""
    monkeypatch.setitem(PROTOCOL_MODULES, "probe", "probe_protocol")
    return "probe"


def run_attrs(path, run_id):
    with h5py.File(path, "r", locking=False) as f:
        a = f["runs"][run_id].attrs
        cells = f["runs"][run_id]["cells"][()] if "cells" in f["runs"][run_id] else []
        return dict(a), cells


# -- reads: retried after clearing the I/O -----------------------------------------------------
@pytest.mark.parametrize("kind", ["timeout", "late", "garble", "truncate"])
def test_a_bad_read_is_retried_after_a_device_clear(bench, kind) -> None:
    lib = bench.station.simulator
    bench.prepare_dc(i_compliance_a=1e-3)
    bench.read((0, 0), 0.2, 1.2)  # route and levels set; only the measurement is faulted below
    if kind == "late":
        lib.faults.timeout("smu", match=r":READ\?", late=True)
    else:
        getattr(lib.faults, kind)("smu", match=r":READ\?")
    since = len(lib.bench.command_log)
    i, g = bench.read((0, 0), 0.2, 1.2)
    smu = lib.instruments["smu"]
    # the value is the retry's own reading (a late reply to the abandoned query was cleared)
    assert fmt_nr3(i) == fmt_nr3(smu.buffer[-1].current_a) and g == pytest.approx(i / 0.2)
    sent = messages(lib, "smu", since)
    assert sent.count(":READ?") == 2, sent  # one retry, no level written again
    assert not any("VOLT:LEV" in m for m in sent)
    note = bench.io_notes[-1]
    assert "attempt 1/3 failed" in note and "I/O cleared" in note and "retrying" in note
    # the next read is aligned with its own query too
    i2, _ = bench.read((0, 0), 0.2, 1.2)
    assert fmt_nr3(i2) == fmt_nr3(smu.buffer[-1].current_a)


def test_a_late_reply_without_a_device_clear_answers_the_next_query(bench) -> None:
    """Why the clear matters: the simulated fault really leaves a stale reply behind."""
    lib = bench.station.simulator
    smu = bench.drive
    smu.adapter.connection.timeout = 60
    lib.faults.timeout("smu", match=r"\*IDN\?", late=True)
    with pytest.raises(Exception, match="VI_ERROR_TMO"):
        smu.ask("*IDN?")
    assert smu.ask(":SOUR:VOLT?").startswith("KEITHLEY")  # the stale answer
    smu.clear_io()
    assert float(smu.ask(":SOUR:VOLT?")) == 0.0


def test_a_read_gives_up_after_bounded_retries(bench) -> None:
    lib = bench.station.simulator
    bench.prepare_dc(i_compliance_a=1e-3)
    lib.faults.timeout("smu", match=r":READ\?", count=10)
    since = len(lib.bench.command_log)
    with pytest.raises(InstrumentIOError, match=r"read of cell \(1, 2\) on smu.1: failed 3 times"):
        bench.read((1, 2), 0.2, 1.2)
    assert messages(lib, "smu", since).count(":READ?") == 3


def test_a_read_sweep_is_retried_only_when_declared_read_only(bench) -> None:
    lib = bench.station.simulator
    bench.prepare_dc(i_compliance_a=1e-3)
    lib.faults.garble("smu", match=r":TRAC:DATA\?")
    out = bench.sweep((0, 0), [0.2, 0.2, 0.2], 1.2, read_only=True)
    assert len(out) == 3 and "read sweep" in bench.io_notes[-1]
    lib.faults.garble("smu", match=r":TRAC:DATA\?")
    with pytest.raises(ValueError):
        bench.sweep((0, 0), [0.2, 1.0], 1.2)  # levels that may program the cell: not repeated


def test_runs_log_the_retries_they_recovered_from(bench, tmp_path) -> None:
    lib = bench.station.simulator
    lib.faults.timeout("smu", match=r":READ\?", after=3)  # the second read of the first cell
    lib.faults.garble("smu", match=r":READ\?", after=9)
    out = tmp_path / "f.h5"
    result = execute("forming", out=out, cells="0,0:2", bench=bench, settings=QUICK_FORMING)
    assert result.status == "completed", result.error
    attrs, cells = run_attrs(out, result.run_id)
    notes = json.loads(attrs["io_notes"])
    assert len(notes) == 2 and "VisaIOError" in notes[0] and "ValueError" in notes[1]
    assert len(cells) == 2 and all(cells["formed"])
    assert_bench_safe(lib)


# -- what changed a level or fired a pulse: no retry, the run fails ----------------------------
def test_a_programming_step_is_not_retried_and_the_run_fails(bench, tmp_path) -> None:
    lib = bench.station.simulator
    since = {}

    def fault_after_first_cell(progress) -> None:
        if progress.done == 1:  # the next :READ? measures the first forming step of cell 2
            lib.faults.timeout("smu", match=r":READ\?")
            since["n"] = len(lib.bench.command_log)

    out = tmp_path / "f.h5"
    with pytest.raises(Exception, match="VI_ERROR_TMO"):
        execute("forming", out=out, cells="0,0:3", bench=bench, settings=QUICK_FORMING,
                on_progress=fault_after_first_cell)  # fmt: skip
    assert messages(lib, "smu", since["n"]).count(":READ?") == 1  # no retry at 2.8 V
    attrs, cells = run_attrs(out, "0001_forming")
    assert attrs["status"] == "failed" and "VisaIOError" in attrs["error"]
    assert len(cells) == 1 and tuple(cells[0])[:2] == (0, 0)  # the first cell is intact
    with h5py.File(out, "r", locking=False) as f:
        assert len(f["cells/r00c00/timeseries"]) > 2
    assert_bench_safe(lib)


def test_a_level_change_is_not_retried(bench, tmp_path) -> None:
    lib = bench.station.simulator
    lib.faults.timeout("smu_gate", match=r":SOUR:VOLT:LEV 1\.2")
    since = len(lib.bench.command_log)
    out = tmp_path / "f.h5"
    with pytest.raises(Exception, match="VI_ERROR_TMO"):
        execute("forming", out=out, cells="0,0:2", bench=bench, settings=QUICK_FORMING)
    assert sum("VOLT:LEV 1.2" in m for m in messages(lib, "smu_gate", since)) == 1
    attrs, _ = run_attrs(out, "0001_forming")
    assert attrs["status"] == "failed" and "VI_ERROR_TMO" in attrs["error"]
    assert_bench_safe(lib)


def test_a_pulse_is_never_repeated(bench, tmp_path, probe) -> None:
    lib = bench.station.simulator
    lib.faults.timeout("pg", match=r"\*TRG", after=1)  # the second cell's pulse loses its answer
    since = len(lib.bench.command_log)
    out = tmp_path / "p.h5"
    with pytest.raises(Exception, match="VI_ERROR_TMO"):
        execute(probe, out=out, cells="0,0:3", bench=bench)
    assert sum("*TRG" in m for m in messages(lib, "pg", since)) == 2  # one per cell, no retry
    attrs, cells = run_attrs(out, "0001_probe")
    assert attrs["status"] == "failed" and "VisaIOError" in attrs["error"]
    assert len(cells) == 1
    assert_bench_safe(lib)


def test_an_instrument_error_fails_the_run_with_its_code(bench, tmp_path) -> None:
    lib = bench.station.simulator
    lib.faults.error("smu", code=-363, message="Input buffer overrun", match=r"VOLT:LEV 2\.9")
    out = tmp_path / "f.h5"
    with pytest.raises(Exception, match="-363"):
        execute("forming", out=out, cells="0,0:2", bench=bench, settings=QUICK_FORMING)
    attrs, _ = run_attrs(out, "0001_forming")
    assert attrs["status"] == "failed"
    assert "InstrumentError" in attrs["error"] and "-363, Input buffer overrun" in attrs["error"]
    assert all(len(inst.errors) == 0 for inst in lib.instruments.values())
    assert_bench_safe(lib)


# -- instruments that disappear ----------------------------------------------------------------
def test_an_instrument_gone_for_a_moment_during_a_read_is_retried(bench) -> None:
    lib = bench.station.simulator
    bench.prepare_dc(i_compliance_a=1e-3)
    bench.read((0, 0), 0.2, 1.2)
    lib.faults.disconnect("smu", ops=1, match=r":READ\?")
    i, _ = bench.read((0, 0), 0.2, 1.2)
    assert "VI_ERROR_CONN_LOST" in bench.io_notes[-1]
    assert fmt_nr3(i) == fmt_nr3(lib.instruments["smu"].buffer[-1].current_a)


def test_an_instrument_that_comes_back_is_made_safe(bench, tmp_path) -> None:
    lib = bench.station.simulator
    # the gate SMU drops off when its level changes, for 0.4 s of bench time
    lib.faults.disconnect("smu_gate", for_s=0.4, match=r"VOLT:LEV 1\.2")
    out = tmp_path / "f.h5"
    with pytest.raises(Exception, match="VI_ERROR_CONN_LOST"):
        execute("forming", out=out, cells="0,0:2", bench=bench, settings=QUICK_FORMING)
    attrs, _ = run_attrs(out, "0001_forming")
    assert attrs["status"] == "failed" and "safe state incomplete" not in attrs["error"]
    assert any("smu_gate safe state" in n for n in json.loads(attrs["io_notes"]))
    assert_bench_safe(lib)


def test_an_instrument_that_stays_gone_is_cut_off_from_the_chip(bench, tmp_path) -> None:
    lib = bench.station.simulator

    def gate_gone_after_first_cell(progress) -> None:
        if progress.done == 1:  # the gate SMU is at 1.2 V, output on, routed to WL0
            assert lib.instruments["smu_gate"].v_level == 1.2
            lib.faults.disconnect("smu_gate")

    out = tmp_path / "f.h5"
    with pytest.raises(SafeStateError, match="could not be made safe: smu_gate") as err:
        execute("forming", out=out, cells="0:2,0", bench=bench, settings=QUICK_FORMING,
                on_progress=gate_gone_after_first_cell)  # fmt: skip
    assert "marked failed: VisaIOError: VI_ERROR_CONN_LOST" in str(err.value)
    attrs, _ = run_attrs(out, "0001_forming")
    assert attrs["status"] == "failed"
    assert "safe state incomplete: smu_gate: smu_gate safe state: failed 4 times" in attrs["error"]
    assert lib.instruments["smu_gate"].output  # unreachable: still on ...
    v_bl, v_sl, v_wl = lib.bench.line_voltages()  # ... but every matrix opened: the chip floats
    assert all(v != v for v in (*v_bl, *v_sl, *v_wl))
    # opening its relay live was the only way left to cut the gate off: the one hot switch
    assert lib.acknowledge("hot-switch") == [
        "sw_wl row B column 1 (WL0) moved with smu_gate.1 at 1.2 V"
    ]
    lib.faults.reconnect("smu_gate")
    assert bench.safe() == []
    assert_bench_safe(lib)


def test_a_power_cycled_instrument_comes_back_with_its_outputs_off(bench) -> None:
    lib = bench.station.simulator
    bench.prepare_dc(i_compliance_a=1e-3)
    bench.read((0, 0), 0.2, 1.2)
    assert lib.instruments["smu_gate"].output
    lib.faults.disconnect("smu_gate", ops=2, power_cycle=True)
    assert not lib.instruments["smu_gate"].output
    assert bench.safe() == []
    assert_bench_safe(lib)


def test_an_instrument_missing_at_connect_is_a_station_error(tmp_path) -> None:
    path = write_station(tmp_path, faults=[{"kind": "disconnect", "instrument": "pg"}])
    with pytest.raises(StationError, match=r"instruments\.pg: cannot open GPIB0::10::INSTR"):
        open_bench(load_station(path), sim=True, sim_dir=tmp_path)


def test_an_instrument_gone_for_a_moment_at_connect_is_opened_again(tmp_path) -> None:
    """Opening sends nothing to the chip, so a VISA fault there is tried again; the first run on
    the bench logs what was retried."""
    path = write_station(tmp_path, faults=[{"kind": "disconnect", "instrument": "pg", "ops": 1}])
    _, connected, bench = open_bench(load_station(path), sim=True, sim_dir=tmp_path)
    try:
        assert [n.split(":")[0] for n in connected.notes] == ["opening pg at GPIB0"]
        out = tmp_path / "f.h5"
        result = execute("forming", out=out, cells="0,0", bench=bench, settings=QUICK_FORMING)
        assert result.status == "completed", result.error
        notes = json.loads(run_attrs(out, result.run_id)[0]["io_notes"])
        assert "opening pg at GPIB0::10::INSTR: attempt 1/3 failed" in notes[0]
        assert "VI_ERROR_RSRC_NFOUND" in notes[0] and connected.notes == []
    finally:
        connected.close()


# -- the chip misbehaves -----------------------------------------------------------------------
def test_stuck_unformable_shorted_and_spiking_cells_from_a_station_overlay(tmp_path) -> None:
    faults = [
        {"kind": "stuck", "cells": [[0, 0]], "g_s": 1e-7},
        {"kind": "unformable", "cells": [[0, 1]]},
        {"kind": "short", "cells": [[0, 2]], "r_ohm": 50.0},
        {"kind": "forming_spike", "cells": [[0, 3]], "i_a": 20e-3},
    ]
    path = write_station(tmp_path, faults=faults)
    _, connected, bench = open_bench(load_station(path), sim=True, sim_dir=tmp_path)
    lib = connected.simulator
    out = tmp_path / "f.h5"
    settings = {**QUICK_FORMING, "v_stop": "3.6"}
    result = execute("forming", out=out, cells="0:2,0:4", bench=bench, settings=settings)
    assert result.status == "completed"
    _, cells = run_attrs(out, result.run_id)
    by_cell = {(int(c["row"]), int(c["col"])): c for c in cells}
    assert not by_cell[0, 0]["formed"] and not by_cell[0, 1]["formed"]
    # the short and the spike reach the SMU's compliance (1 mA), never more
    assert by_cell[0, 2]["formed"] and by_cell[0, 2]["i_form"] == pytest.approx(1e-3)
    assert by_cell[0, 2]["v_form"] == pytest.approx(2.8)
    assert by_cell[0, 3]["formed"] and by_cell[0, 3]["i_form"] == pytest.approx(1e-3)
    normal = [c for (r, _), c in by_cell.items() if r == 1]
    assert all(c["formed"] and c["i_form"] < 0.5e-3 for c in normal)
    with h5py.File(out, "r", locking=False) as f:
        for key in f["cells"]:
            assert (abs(f["cells"][key]["timeseries"]["i_a"]) <= 1e-3 * (1 + 1e-9)).all(), key
    kinds = {k for k, *_ in lib.faults.fired}
    assert {"stuck", "unformable", "forming_spike"} <= kinds
    assert_bench_safe(lib)
    connected.close()


def test_cell_faults_from_a_test(bench, tmp_path) -> None:
    lib = bench.station.simulator
    lib.faults.stuck([(2, 0)], g_s=100e-6)  # stuck conductive: "formed" at the first step
    out = tmp_path / "f.h5"
    result = execute("forming", out=out, cells="2,0", bench=bench, settings=QUICK_FORMING)
    _, cells = run_attrs(out, result.run_id)
    assert cells[0]["formed"] and cells[0]["v_form"] == pytest.approx(2.8)
    assert lib.model.stuck[2, 0]


# -- fault overlays are validated like the rest of a station -----------------------------------
@pytest.mark.parametrize(
    ("faults", "message"),
    [
        ([{"kind": "melt", "instrument": "smu"}], "sim.faults.0.kind"),
        ([{"kind": "timeout"}], "names an 'instrument'"),
        ([{"kind": "stuck", "instrument": "smu", "cells": [[0, 0]]}], "lists 'cells'"),
        (
            [{"kind": "garble", "instrument": "smu", "late": True}],
            "late: not an option of a garble",
        ),
        ([{"kind": "timeout", "instrument": "smu", "match": "(["}], "not a regular expression"),
        ([{"kind": "timeout", "instrument": "smu", "count": 0}], "sim.faults.0.count"),
        ({"timeout": "smu"}, "expected a mapping of fault options"),
    ],
)
def test_bad_fault_overlays_name_the_key(tmp_path, faults, message) -> None:
    path = write_station(tmp_path, faults=faults)
    with pytest.raises(StationError, match="sim-test.yaml") as err:
        load_station(path)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        ([{"kind": "timeout", "instrument": "dmm"}], "sim.faults.0.instrument: no instrument named 'dmm'"),
        ([{"kind": "short", "cells": [[9, 0]]}], "sim.faults.0.cells: cell [9, 0] is outside the 4x4 chip"),
    ],
)  # fmt: skip
def test_fault_targets_must_exist(tmp_path, faults, message) -> None:
    path = write_station(tmp_path, faults=faults)
    with pytest.raises(StationError, match="sim-test.yaml") as err:
        open_bench(load_station(path), sim=True, sim_dir=tmp_path)
    assert message in str(err.value)


def test_a_fault_mapping_overlay_is_accepted(tmp_path) -> None:
    path = write_station(tmp_path, faults={"garble": [{"instrument": "smu", "count": 2}],
                                           "stuck": {"cells": [[1, 1]], "g_s": 1e-6}})  # fmt: skip
    st = load_station(path)
    assert [f.kind for f in st.spec.sim.faults] == ["garble", "stuck"]
    _, connected, _ = open_bench(st, sim=True, sim_dir=tmp_path)
    assert connected.simulator.model.stuck[1, 1]
    connected.close()
