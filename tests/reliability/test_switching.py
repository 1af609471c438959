"""What the bench sends per step, and that it never switches hot: no matrix relay moves while a
source connected to its line (before or after the move) is above 0 V, on every path the
program-and-verify loop and the endurance checkpoints take; refused commands still raise."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
import yaml
from faultkit import assert_bench_safe, messages, station_dir

from reramlab.instruments.base import InstrumentError
from reramlab.runner import execute, open_bench
from reramlab.stations.loader import load_station

FORM = {"v_form": "4.0"}


def hot_switches(lib) -> list[str]:
    """Every relay move the simulated bench saw with a source on its line (or its matrix row)
    away from 0 V (`SimBench` notes them as "hot-switch" events)."""
    return [e.detail for e in lib.bench.events if e.kind == "hot-switch"]


def iteration_costs(bench, lib) -> dict[int, list[int]]:
    """Messages per loop iteration (a pulse and the verify read after it), by pulse polarity;
    filled while the bench runs."""
    costs: dict[int, list[int]] = {1: [], -1: []}
    pulse, read = bench.pulse, bench.read
    started: dict[str, tuple[int, int]] = {}

    def pulse_marked(cell, v, *args, **kwargs):
        started["pulse"] = (len(lib.bench.command_log), 1 if v > 0 else -1)
        return pulse(cell, v, *args, **kwargs)

    def read_marked(*args, **kwargs):
        out = read(*args, **kwargs)
        if "pulse" in started:
            n0, polarity = started.pop("pulse")
            costs[polarity].append(len(lib.bench.command_log) - n0)
        return out

    bench.pulse, bench.read = pulse_marked, read_marked
    return costs


def test_program_verify_switches_nothing_hot_and_costs_2_or_6_messages(bench, tmp_path) -> None:
    """A SET iteration is the trigger and the one-message read; a RESET iteration adds the SL
    ground crosspoint (open, close: one chunk each) and the gate up and back (RESET gate
    3.3 V, read gate 1.2 V). A wrong guess of the next polarity costs one message more."""
    lib = bench.station.simulator
    costs = iteration_costs(bench, lib)
    result = execute("program-verify", out=tmp_path / "pv.h5", cells="0:2,0:3", bench=bench,
                     settings={**FORM, "n_levels": "6"})  # fmt: skip
    assert result.status == "completed", result.error
    assert hot_switches(lib) == []
    assert not [e for e in lib.bench.events if e.kind == "short"]
    assert len(costs[1]) > 3 and len(costs[-1]) > 3, costs
    assert min(costs[1]) == 2 and statistics.median(costs[1]) == 2, costs[1]
    assert min(costs[-1]) == 6 and statistics.median(costs[-1]) == 6, costs[-1]
    # a first set-up of a channel (2 more) and a wrong guess (1 more) at most
    assert max(costs[1]) <= 5 and max(costs[-1]) <= 9, costs
    assert all(len(inst.errors) == 0 for inst in lib.instruments.values())
    assert_bench_safe(lib)


@pytest.mark.parametrize("station", ["lab-b2902-33600-707b", "lab-2636b-81160-707b"])
def test_a_gate_on_the_drives_instrument_rides_in_the_read(tmp_path, station) -> None:
    """Gate and drive on one instrument (B2902 channels, 2636B SMUs): a verify read carries the
    gate's read level and the next pulse's gate, so a RESET iteration costs the trigger, the
    read and the SL ground crosspoint's open and close (4, not 6 as with a separate gate SMU);
    a SET iteration stays at 2. A wrong guess of the next pulse costs one message (drive and
    gate in one), a channel's first set-up two more. Nothing switches hot."""
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump({
        "extends": str(station_dir() / f"{station}.yaml"), "name": f"{station}-test",
        "chip": {"name": "test-4x4", "rows": 4, "cols": 4},
    }))  # fmt: skip
    st = load_station(path).simulating("cmo-hfox-130nm")
    _, connected, bench = open_bench(st, sim=True, sim_dir=tmp_path)
    try:
        lib = connected.simulator
        lib.bench.command_log = []
        costs = iteration_costs(bench, lib)
        result = execute("program-verify", out=tmp_path / "pv.h5", cells="0:2,0:3", bench=bench,
                         settings={**FORM, "n_levels": "6", "loop": "host"})  # fmt: skip
        assert result.status == "completed", result.error
        assert hot_switches(lib) == [] and not [e for e in lib.bench.events if e.kind == "short"]
        assert len(costs[1]) > 3 and len(costs[-1]) > 3, costs
        assert min(costs[1]) == 2 and statistics.median(costs[1]) == 2, costs[1]
        assert min(costs[-1]) == 4 and statistics.median(costs[-1]) <= 5, costs[-1]
        assert max(costs[1]) <= 5 and max(costs[-1]) <= 7, costs
        assert all(len(inst.errors) == 0 for inst in lib.instruments.values())
        assert_bench_safe(lib)
    finally:
        connected.close()


def test_a_column_change_in_a_row_keeps_the_gate(bench) -> None:
    """Only BL relays move between two cells of a row: the drive is at 0 V, the gate (whose WL
    relay stays) keeps its level; a row change zeroes the gate first."""
    lib = bench.station.simulator
    bench.prepare_dc(i_compliance_a=1e-3)
    bench.read((0, 0), 0.2, 1.2, then=1.0)
    since = len(lib.bench.command_log)
    bench.read((0, 1), 0.2, 1.2, then=1.0)
    sent = lib.bench.command_log[since:]
    assert [name for name, _ in sent] == ["sw_bl", "smu"], sent
    since = len(lib.bench.command_log)
    bench.read((1, 1), 0.2, 1.2, then=1.0)
    assert messages(lib, "smu_gate", since) == [":SOUR:VOLT:LEV 0;:SYST:ERR?",
                                                 ":SOUR:VOLT:LEV 1.2;:SYST:ERR?"]  # fmt: skip
    assert hot_switches(lib) == []


def test_endurance_checkpoint_switches_nothing_hot(bench, tmp_path) -> None:
    lib = bench.station.simulator
    execute("forming", out=tmp_path / "f.h5", cells="0,0", bench=bench,
            settings={"v_start": "2.8", "v_step": "0.05"})  # fmt: skip
    marks: list[int] = []
    pulse_pairs = bench.pulse_pairs
    bench.pulse_pairs = lambda *a, **k: (marks.append(lib.transactions), pulse_pairs(*a, **k))[1]
    result = execute("endurance", out=tmp_path / "e.h5", cells="0,0", bench=bench,
                     settings={"n_cycles": "1000", "checkpoints_per_decade": "1",
                               "stop_retained": "0"})  # fmt: skip
    assert result.status == "completed", result.error
    assert hot_switches(lib) == []
    assert not [e for e in lib.bench.events if e.kind == "short"]
    # pair bursts at 1, 10, 100 and 1000 pairs; between two of them one checkpoint (pair burst,
    # SET probe, read, RESET probe, read): pairs 3
    # (SL ground open, gate up, set-ups + fire), SET probe 3, read 1, RESET probe 3, read 3
    assert len(marks) == 4 and list(np.diff(marks)) == [13] * 3, marks
    assert_bench_safe(lib)


@pytest.mark.parametrize(("then", "limit_a", "on"), [(1.0, 1e-3, False), (-1.0, 1e-3, True),
                                                     (-1.0, 1e-4, False), (0.0, 1e-3, False)])  # fmt: skip
def test_a_hinted_read_is_one_message_and_leaves_the_drive_for_the_next_pulse(
    bench, then, limit_a, on
) -> None:
    """On at 0 V only before a RESET pulse the drive may ground (its limit at the station's
    maximum, 1 mA here); off (high impedance) otherwise."""
    lib = bench.station.simulator
    bench.prepare_dc(i_compliance_a=limit_a)
    bench.read((0, 0), 0.2, 1.2, then=then)
    since = len(lib.bench.command_log)
    i, g = bench.read((0, 0), 0.2, 1.2, then=then)
    assert len(lib.bench.command_log) - since == 1
    smu = lib.instruments["smu"]
    assert smu.v_level == 0.0 and smu.output is on
    assert i == pytest.approx(smu.buffer[-1].current_a) and g == pytest.approx(i / 0.2)


def test_a_garbled_one_message_read_is_repeated_whole(bench) -> None:
    lib = bench.station.simulator
    bench.prepare_dc(i_compliance_a=1e-3)
    bench.read((0, 0), 0.2, 1.2, then=1.0)
    lib.faults.garble("smu", match=r":READ\?")
    since = len(lib.bench.command_log)
    i, _ = bench.read((0, 0), 0.2, 1.2, then=1.0)
    reads = [m for m in messages(lib, "smu", since) if ":READ?" in m]
    assert len(reads) == 2 and reads[0] == reads[1], reads  # the whole message again
    assert "attempt 1/3 failed" in bench.io_notes[-1]
    smu = lib.instruments["smu"]
    assert i == pytest.approx(smu.buffer[-1].current_a) and not smu.output


def test_a_refused_read_level_raises(bench) -> None:
    lib = bench.station.simulator
    bench.prepare_dc(i_compliance_a=1e-3)
    lib.faults.error("smu", code=-222, message="Data out of range", match=r":READ\?")
    with pytest.raises(InstrumentError, match="-222"):
        bench.read((0, 0), 0.2, 1.2, then=1.0)
    bench.safe()
    assert_bench_safe(lib)


def test_a_refused_crosspoint_fails_the_run_before_the_next_step(bench, tmp_path) -> None:
    """The SL ground crosspoint that a RESET pulse opens (alone: `channel.open`): its chunk
    reports the error count, so the refusal raises before the pulse is fired."""
    lib = bench.station.simulator
    lib.faults.error("sw_sl", code=1115, message="Parameter error",
                     match=r'channel\.open\("1H01"\)')  # fmt: skip
    with pytest.raises(InstrumentError, match="1115"):
        execute("program-verify", out=tmp_path / "pv.h5", cells="0,0", bench=bench,
                settings={**FORM, "targets_s": "20e-6"})  # fmt: skip
    log = lib.bench.command_log
    refused = next(k for k, (name, text) in enumerate(log)
                   if name == "sw_sl" and 'channel.open("1H01")' in text)  # fmt: skip
    assert not any("*TRG" in text for _, text in log[refused:])  # no RESET pulse fired
    assert_bench_safe(lib)
