"""The command audit (sim_backend/audit.py) catches what must never reach an instrument."""

from __future__ import annotations

import pytest
from faultkit import write_station

from reramlab.runner import open_bench
from reramlab.sim_backend.audit import CommandRecorder, audit, parse_effects
from reramlab.sim_backend.library import ReramSimLibrary
from reramlab.stations.loader import load_station

LIMITS = {
    "station": "test",
    "terminals": {"smu.1": 4.5, "gate.1": 3.5, "pg.1": 4.5, "pg.2": 4.5, "k26.a": 4.5,
                  "b29.1": 4.5, "wg.1": 4.5, "arr.1": 3.5, "arr.2": 4.5, "arr.3": 4.5},
    "i_compliance_max_a": 1e-3,
    "width_s": [5e-9, 10.0],
    "pulses_per_call_max": 1000,
}  # fmt: skip
MODELS = {"smu": "keithley2450", "gate": "keithley2450", "pg": "keysight81160a",
          "k26": "keithley2636b", "b29": "keysightb2902", "wg": "keysight33600a",
          "sw": "keithley707b", "arr": "array-pulser-64"}  # fmt: skip


def violations(messages, limits=LIMITS):
    rec = CommandRecorder("bench.yaml", limits, MODELS)
    for inst, text, *refused in messages:
        rec.record(inst, text, bool(refused and refused[0]))
    return audit(rec).violations


def test_commands_within_the_limits_pass() -> None:
    assert violations([
        ("smu", ":SOUR:FUNC VOLT;:SOUR:VOLT:LEV 0;:SOUR:VOLT:ILIM 0.001;:SYST:ERR?"),
        ("smu", ":SOUR:VOLT:LEV 4.5;:SYST:ERR?"),
        ("smu", ":SOUR:LIST:VOLT 0.1,2.5,-4.5"),
        ("gate", ":SOUR:VOLT:LEV 3.5"),
        ("pg", ":OUTP1:LOAD INF;:PULS:WIDT1 1.000000e-07;:VOLT1:LOW 0.000000;:VOLT1:HIGH 4.5"),
        ("pg", ":TRIG1:COUN 1000;*TRG"),
        ("k26", "smua.source.levelv = 4.5;smua.source.limiti = 0.001"),
        ("k26", "loadandrunscript\nsmua.trigger.source.listv({0.1, 4.5})\nendscript"),
        ("b29", ":SOUR1:VOLT 4.5;:SENS1:CURR:PROT 0.001;:SOUR1:LIST:VOLT 0.2,4.0"),
        ("wg", ":OUTP1:LOAD INF;:SOUR1:FUNC:PULS:WIDT 6e-08;:SOUR1:VOLT:HIGH 4.5;:SOUR1:BURS:NCYC 10"),
        ("sw", 'channel.close("1A01")'),
        ("arr", ":LINE:VOLT1 3.5,-4.5,4.5;:LINE:VOLT2 0,2;:PULS:WIDT 1e-7;:PATT:DATA1 7,5;:INIT"),
    ]) == []  # fmt: skip


@pytest.mark.parametrize(
    ("message", "what"),
    [
        (("smu", ":SOUR:VOLT:LEV 4.6;:SYST:ERR?"), "|V| on smu.1"),
        (("smu", "SOUR:VOLT:LEV 0;LEV 5"), "|V| on smu.1"),  # the SCPI current-path rule
        (("smu", ":SOUR:LIST:VOLT 0.1,-4.8"), "|V| on smu.1"),
        (("gate", ":SOUR:VOLT:LEV 3.6"), "|V| on gate.1"),
        (("smu", ":SOUR:VOLT:ILIM 0.002"), "compliance on smu.1"),
        (("pg", ":OUTP1:LOAD INF;:VOLT1:HIGH 4.6"), "|V| into a high-Z cell on pg.1"),
        (("pg", ":VOLT2:HIGH 3.0"), "|V| into a high-Z cell on pg.2"),  # 50-ohm setting: 6 V
        (("pg", ":PULS:WIDT1 2e-9"), "pulse width on pg.1"),
        (("pg", ":TRIG2:COUN 1001"), "pulse count on pg.2"),
        (("k26", "smua.source.levelv = -4.7"), "|V| on k26.a"),
        (("k26", "smua.trigger.source.listv({0.1, 5})"), "|V| on k26.a"),
        (("k26", "smua.source.limiti = 0.01"), "compliance on k26.a"),
        (("b29", ":SOUR1:VOLT 4.6"), "|V| on b29.1"),
        (("b29", ":SENS1:CURR:PROT 0.1"), "compliance on b29.1"),
        (("wg", ":OUTP1:LOAD INF;:SOUR1:VOLT:HIGH 5"), "|V| into a high-Z cell on wg.1"),
        (("wg", ":SOUR1:BURS:NCYC 5000"), "pulse count on wg.1"),
        (("arr", ":LINE:VOLT1 3.6"), "|V| on arr.1"),  # channel 1 drives a WL
        (("arr", ":LINE:VOLT3 0,0,-4.6"), "|V| on arr.3"),
        (("arr", ":PULS:WIDT 2e-9"), "pulse width on arr"),
    ],
)
def test_the_audit_catches_a_command_beyond_the_station_limits(message, what) -> None:
    found = violations([message, (*message, True)])  # refused by the instrument or not
    assert {v.what for v in found} == {what} and {v.refused for v in found} == {False, True}
    assert found[0].instrument == message[0] and "station test" in found[0].source


def test_a_load_change_rechecks_the_levels_already_set() -> None:
    found = violations([("pg", ":OUTP1:LOAD INF;:VOLT1:HIGH 4.0"), ("pg", ":OUTP1:LOAD 50")])
    assert len(found) == 1 and found[0].value == pytest.approx(8.0)
    assert violations([("pg", ":OUTP1:LOAD INF;:VOLT1:HIGH 4.0"), ("pg", "*RST"),
                       ("pg", ":VOLT1:HIGH 2.0")]) == []  # fmt: skip


def test_without_station_limits_only_accepted_commands_beyond_instrument_ranges_count() -> None:
    bad = ("smu", ":SOUR:VOLT:LEV 300")
    assert violations([(*bad, True)], limits=None) == []  # refused, as the real 2450 does
    found = violations([bad], limits=None)  # accepted: a simulator bug
    assert len(found) == 1 and found[0].limit == 210.0 and not found[0].refused
    assert violations([("smu", ":SOUR:VOLT:LEV 5")], limits=None) == []


def test_parsing_the_forms_our_drivers_send() -> None:
    assert parse_effects("keithley2450", ':SOUR:SWE:VOLT:LIST 1, 0, 1, OFF, "defbuffer1"') == []
    assert parse_effects("keysight81160a", ":VOLT1:LIM:HIGH 9;:VOLT1:HIGH 2") == [
        ("high", "1", (2.0,))
    ]
    assert parse_effects("keysight33600a", ":OUTP2:LOAD INF") == [("load", "2", (float("inf"),))]
    assert parse_effects("keithley2636b", "smub.trigger.source.limiti = -1") == []
    assert parse_effects("keithley2450", ":SOUR:VOLT:LEV MAX") == [("level", "1", (210.0,))]


def test_recordings_stream_between_processes(tmp_path) -> None:
    rec = CommandRecorder("b.yaml", LIMITS, MODELS)
    rec.stream_to(tmp_path / "r.jsonl")
    rec.FLUSH_EVERY = 3
    for k in range(7):
        rec.record("smu", f":SOUR:VOLT:LEV {k}")
    rec.flush()
    back = CommandRecorder.load(tmp_path / "r.jsonl")
    assert list(back.messages()) == list(rec.messages()) and back.limits == LIMITS
    assert [v.value for v in audit(back).violations] == [5.0, 6.0]


def test_a_bench_that_bypasses_the_limits_is_caught(tmp_path, monkeypatch) -> None:
    """End to end: a driver used directly, around the bench's checks, on a station bench."""
    local: list[CommandRecorder] = []
    monkeypatch.setattr(ReramSimLibrary, "recorders", local)  # kept out of the session audit
    path = write_station(tmp_path, name="bypass")
    _, connected, bench = open_bench(load_station(path), sim=True, sim_dir=tmp_path)
    bench.prepare_dc(i_compliance_a=1e-3)  # OVP at 5 V: the instrument accepts 4.8 V
    bench.drive.set_voltage(4.8)
    bench.safe()
    connected.close()
    (rec,) = local
    found = audit(rec).violations
    assert len(found) == 1
    v = found[0]
    assert v.instrument == "smu" and v.value == 4.8 and v.limit == 4.5 and not v.refused
    assert "station bypass" in str(v) and "|V| on smu.1 = 4.8 beyond 4.5" in str(v)


def test_hazards_on_a_station_bench_are_caught_and_streamed(tmp_path) -> None:
    """Bench events that the bench layer must never cause count on a station bench, travel
    between processes, and do not count on a bench a test wires by hand."""
    rec = CommandRecorder("b.yaml", LIMITS, MODELS)
    rec.stream_to(tmp_path / "r.jsonl")
    rec.event("hot-switch", "sw row H column 1 (BL0) moved with smu.1 at 0.2 V")
    rec.event("retention-wait", "not a hazard")
    rec.flush()
    back = CommandRecorder.load(tmp_path / "r.jsonl")
    assert audit(back).hazards == [
        "b.yaml (station test): hot-switch: sw row H column 1 (BL0) moved with smu.1 at 0.2 V"
    ]
    by_hand = CommandRecorder("b.yaml", None, MODELS)
    by_hand.event("short", "BL0 driven by ['gnd', 'smu.1']")
    assert audit(by_hand).hazards == []


def test_a_bench_that_switches_hot_is_caught(tmp_path, monkeypatch) -> None:
    """End to end: a relay moved under a live source, around the bench's routing rules."""
    local: list[CommandRecorder] = []
    monkeypatch.setattr(ReramSimLibrary, "recorders", local)  # kept out of the session audit
    path = write_station(tmp_path, name="hot")
    _, connected, bench = open_bench(load_station(path), sim=True, sim_dir=tmp_path)
    bench.prepare_dc(i_compliance_a=1e-3)
    bench.read((0, 0), 0.2, 1.2)  # routed; the drive holds 0.2 V (no hint: a DC bias)
    connected.instruments["sw_sl"].open_all()  # the SL's ground relay opens under it
    bench.safe()
    connected.close()
    (rec,) = local
    hazards = audit(rec).hazards  # the SL's two crosspoints (ground, SL pulse channel)
    assert [h.split(": ", 1)[1] for h in hazards] == [
        "hot-switch: sw_sl row D column 1 (SL0) moved with smu.1 at 0.2 V",
        "hot-switch: sw_sl row H column 1 (SL0) moved with smu.1 at 0.2 V",
    ]
    assert all("(station hot)" in h for h in hazards)
