"""The simulated B2902 driven through its driver: every getter, the SourceMeter role on a real
(simulated) cell, trigger layer, output modes, and the B2900 error queue."""

from __future__ import annotations

import numpy as np
import pytest
from _twin_bench import (
    check_read_at_on_a_cell,
    check_read_at_refused,
    close,
    driven,
    simulator,
    write_bench,
)

from reramlab.instruments.base import InstrumentError
from reramlab.instruments.keysightb2902 import KeysightB2902

ADDRESS = "USB0::0x0957::0x8C18::MY51140005::INSTR"
CELL = "1A01,2H01,3B01"  # smu.1 -> BL0, ground -> SL0, smu.2 -> WL0


@pytest.fixture
def bench(tmp_path):
    spec = write_bench(tmp_path, {ADDRESS: ("keysightb2902", "smu")},
                       {"A": "smu.1", "B": "smu.2", "H": "gnd"})  # fmt: skip
    with driven(KeysightB2902, ADDRESS, spec) as smu:
        yield smu, spec


def configure(smu: KeysightB2902, i_compliance_a: float = 1e-3) -> None:
    for ch in smu.channels.values():
        ch.configure_voltage_source(i_compliance_a=i_compliance_a, v_limit_v=4.5, nplc=0.1)
        ch.enable()


def test_every_getter_answers(bench) -> None:
    smu, _ = bench
    for ch in smu.channels.values():
        assert ch.source_function == "VOLT" and ch.source_mode == "FIX"
        assert ch.source_level_v == 0.0 and ch.source_range_v == 2.0 and ch.source_range_auto
        assert ch.list_points == 0
        assert ch.sense_function == ["VOLT", "CURR"]
        assert ch.compliance_a == pytest.approx(100e-6) and ch.compliance_tripped is False
        assert ch.nplc == pytest.approx(0.1) and ch.aperture_s == pytest.approx(0.1 / 60)
        assert ch.current_range_a == pytest.approx(100e-6) and ch.current_range_auto
        assert ch.output_enabled is False and ch.output_off_mode == "NORM"
        assert ch.output_protection is False and ch.output_auto_on is True
        assert ch.trigger_source == "AINT" and ch.trigger_count == 1
        assert ch.trigger_timer_s == pytest.approx(1e-5) and ch.acquire_delay_s == 0.0
        assert ch.current_a == 0.0  # nothing connected
        assert ch.buffer_currents_a == 0.0


def test_a_cell_forms_under_a_list_sweep_and_reads_back(bench) -> None:
    smu, spec = bench
    close(spec, CELL)
    configure(smu)
    drive, gate = smu.channel(1), smu.channel(2)
    gate.set_voltage(1.2)
    drive.set_voltage(0.2)
    assert abs(drive.measure_current()) < 1e-6  # pristine
    sim = simulator(spec)
    t0 = sim.clock.now_s
    currents = drive.sweep(np.linspace(0.0, 4.0, 41), delay_s=1e-3)
    assert len(currents) == 41
    assert currents[-1] > 1e-4  # formed: gate-limited current at 4 V
    assert sim.clock.now_s - t0 >= 41 * (1e-3 + 0.1 / 60)  # delay + aperture per point
    assert drive.source_mode == "FIX"
    drive.set_voltage(0.2)
    assert drive.measure_current() > 5e-6  # low resistance now
    assert sim.bench.levels["smu.1"] == 0.2


def test_compliance_clamps_and_output_protection_turns_the_output_off(bench) -> None:
    smu, spec = bench
    close(spec, CELL)
    configure(smu)
    smu.channel(2).set_voltage(1.2)
    smu.channel(1).sweep(np.linspace(0.0, 4.0, 41))  # form
    drive = smu.channel(1)
    drive.compliance_a = 1e-6
    drive.set_voltage(0.5)
    assert drive.measure_current() == pytest.approx(1e-6)
    assert drive.compliance_tripped is True
    drive.output_protection = True
    drive.measure_current()
    assert drive.output_enabled is False
    assert simulator(spec).bench.levels["smu.1"] is None


@pytest.mark.parametrize(("mode", "level"), [("NORM", None), ("HIZ", None), ("ZERO", 0.0)])
def test_output_off_modes(bench, mode, level) -> None:
    smu, spec = bench
    ch = smu.channel(2)
    ch.output_off_mode = mode
    configure(smu)
    ch.set_voltage(1.0)
    assert simulator(spec).bench.levels["smu.2"] == 1.0
    ch.safe_state()
    assert simulator(spec).bench.levels["smu.2"] == level


def test_timer_and_bus_triggers(bench) -> None:
    smu, spec = bench
    sim = simulator(spec)
    configure(smu)
    ch = smu.channel(1)
    ch.trigger_source, ch.trigger_timer_s, ch.trigger_count = "TIM", 1e-3, 5
    t0 = sim.clock.now_s
    smu.write(":INIT (@1)")
    assert len(ch.buffer_currents_a) == 5
    assert sim.clock.now_s - t0 >= 5e-3
    ch.trigger_source, ch.trigger_count = "BUS", 3
    smu.write(":INIT (@1)")
    for _ in range(3):
        smu.write("*TRG")
    assert len(ch.buffer_currents_a) == 3


def test_both_channels_in_one_measurement_and_channel_lists(bench) -> None:
    smu, _ = bench
    configure(smu)
    assert smu.measure_currents() == (0.0, 0.0)
    assert len(smu.values(":MEAS:CURR? (@1:2)")) == 2
    smu.write(":INIT (@1,2)")
    assert smu.values(":FETC:ARR? (@2)")  # VOLT,CURR,RES,TIME,STAT,SOUR of the one point
    smu.write(":MEAS:CURR? (@3)")
    with pytest.raises(InstrumentError, match="-222"):
        smu.check_errors()


def test_unknown_and_refused_commands_land_in_the_error_queue(bench) -> None:
    smu, _ = bench
    assert smu.ask(":SYST:ERR?") == '+0,"No error"'  # the B2900 format
    smu.write(":SOUR1:VOLTS 1")
    with pytest.raises(InstrumentError) as e:
        smu.check_errors()
    assert e.value.errors == [(-113, "Undefined header")]
    smu.channel(1).configure_voltage_source(i_compliance_a=1e-4, v_limit_v=2.0)
    with pytest.raises(InstrumentError, match="-222"):  # beyond the 2 V range (2.1 V)
        smu.channel(1).set_voltage(3.0)
    assert smu.channel(1).source_level_v == 0.0
    smu.write(":SOUR3:VOLT 1")
    with pytest.raises(InstrumentError, match="-114"):
        smu.check_errors()


# -- sharing a line with a pulse channel -------------------------------------------------------
def test_release_when_off_and_read_at_on_a_cell(bench) -> None:
    """Released: output off, relay open; a one-message read reads what a DC read does and ends
    at 0 V, off (relay open) or, with `hold`, on at 0 V."""
    smu, spec = bench
    close(spec, CELL)
    configure(smu)
    drive, gate = smu.channel(1), smu.channel(2)
    check_read_at_on_a_cell(drive, gate, simulator(spec).bench.levels, "smu.1", "HIZ")


def test_read_at_a_refused_level_raises_and_ends_at_0_v_off(bench) -> None:
    smu, spec = bench
    check_read_at_refused(smu.channel(1), simulator(spec).bench.levels, "smu.1")
