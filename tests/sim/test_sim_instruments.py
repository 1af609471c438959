"""Simulated instruments reached through plain pyvisa: real command forms, real error codes."""

import pytest

from helpers import drain_errors as errors
from helpers import open_raw


def test_identities(sim_rm) -> None:
    assert "MODEL 2450" in open_raw(sim_rm, "GPIB0::24::INSTR").query("*IDN?")
    assert "81160A" in open_raw(sim_rm, "GPIB0::10::INSTR").query("*IDN?")
    assert "707B" in open_raw(sim_rm, "GPIB0::16::INSTR").query("*IDN?")


def test_2450_chained_commands_and_queries_in_one_message(sim_rm) -> None:
    smu = open_raw(sim_rm, "GPIB0::24::INSTR")
    reply = smu.query(
        ":SOUR:FUNC VOLT;:SOUR:VOLT 0.5;:SOUR:VOLT?;:SOURCE:VOLTAGE:ILIMIT 1e-4;ILIM?"
    )
    assert reply == "+5.000000E-01;+1.000000E-04"
    assert errors(smu) == []


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (":SOUR:VOLTS 1", "-113"),  # undefined header
        (":SOUR:VOLT 500", "-222"),  # beyond +-210 V
        (":SOUR:VOLT:ILIM 2", "-222"),  # beyond 1.05 A
        (":OUTP MAYBE", "-224"),  # illegal parameter value
        (":SOUR:VOLT", "-109"),  # missing parameter
        (":SOUR:VOLT abc", "-104"),  # data type error
    ],
)
def test_2450_bad_commands_land_in_the_error_queue(sim_rm, command: str, code: str) -> None:
    smu = open_raw(sim_rm, "GPIB0::24::INSTR")
    smu.write(command)
    errs = errors(smu)
    assert len(errs) == 1 and errs[0].startswith(code + ",")


def test_2450_overvoltage_protection_refuses_levels(sim_rm) -> None:
    smu = open_raw(sim_rm, "GPIB0::24::INSTR")
    smu.write(":SOUR:VOLT:PROT PROT2;:SOUR:VOLT 3")
    assert errors(smu)[0].startswith("-222")
    assert float(smu.query(":SOUR:VOLT?")) == 0.0


def test_2450_list_sweep_fills_the_buffer(sim_rm) -> None:
    smu = open_raw(sim_rm, "GPIB0::24::INSTR")
    smu.write(':SOUR:LIST:VOLT 0.1,0.2,0.3;:SOUR:SWE:VOLT:LIST 1, 0.001, 1, OFF, "defbuffer1"')
    smu.write(":TRAC:CLE;:INIT;*WAI")
    assert smu.query(':TRAC:ACT? "defbuffer1"') == "3"
    data = smu.query(':TRAC:DATA? 1, 3, "defbuffer1", SOUR, READ').split(",")
    assert [float(x) for x in data[0::2]] == [0.1, 0.2, 0.3]
    assert errors(smu) == []


def test_81160a_refuses_levels_beyond_its_limits_and_inverted_levels(sim_rm) -> None:
    pg = open_raw(sim_rm, "GPIB0::10::INSTR")
    pg.write(":VOLT1:LIM:HIGH 2;:VOLT1:LIM:LOW -0.5;:VOLT1:LIM:STAT ON;:VOLT1:HIGH 3")
    assert errors(pg)[0].startswith("-222")
    pg.write(":VOLT1:LOW 1")  # above the present high level (0.05 V)
    assert errors(pg)[0].startswith("-221")
    pg.write(":PULS:WIDT1 60NS;:FUNC1:PULS:TRAN 2.5e-9;:OUTP1:LOAD INF")
    assert float(pg.query(":PULS:WIDT1?")) == pytest.approx(60e-9)
    assert float(pg.query(":OUTP1:LOAD?")) > 1e30
    assert errors(pg) == []


def test_707b_tsp_close_open_and_errors(sim_rm) -> None:
    sw = open_raw(sim_rm, "GPIB0::16::INSTR")
    sw.write("channel.connectrule = channel.BREAK_BEFORE_MAKE")
    sw.write('channel.close("1A01,2H12")')
    assert sw.query('print(channel.getclose("allslots"))') == "1A01;2H12"
    sw.write('channel.open("allslots")')
    assert sw.query('print(channel.getclose("allslots"))') == "nil"
    sw.write('channel.close("9Z99")')
    sw.write("bogus.call()")
    assert sw.query("print(errorqueue.count)") == "2"
    assert sw.query("print(errorqueue.next())").startswith("-286\t")
    assert sw.query("print(errorqueue.next())").startswith("-285\t")
    assert sw.query("print(errorqueue.count)") == "0"


def test_wiring_reaches_the_chip_and_the_clock_advances(sim_rm) -> None:
    lib = sim_rm.visalib
    sw = open_raw(sim_rm, "GPIB0::16::INSTR")
    smu = open_raw(sim_rm, "GPIB0::24::INSTR")
    sw.write('channel.close("1A01")')  # smu -> BL0
    smu.write(":OUTP ON;:SOUR:VOLT 0.2")
    assert lib.bench.line_voltages()[0][0] == 0.2
    assert not lib.bench.events
    sw.write('channel.close("1H01")')  # gnd -> BL0 as well: a short the bench reports
    lib.bench.line_voltages()
    # the relay closed onto a line the SMU held at 0.2 V (hot), then shorted it to ground
    assert [e.kind for e in lib.bench.events] == ["hot-switch", "short"]
    assert lib.acknowledge("hot-switch") == ["sw row H column 1 (BL0) moved with smu.1 at 0.2 V"]
    t0 = lib.clock.now_s
    smu.query(":MEAS:CURR?")
    assert lib.clock.now_s - t0 >= 1 / 60  # one power-line cycle of aperture
    assert lib.transactions >= 3
