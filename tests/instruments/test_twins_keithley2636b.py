"""The simulated 2636B driven through its driver: every getter, the SourceMeter role on a real
(simulated) cell, trigger-model scripts, output-off modes and the TSP error queue."""

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
from reramlab.instruments.keithley2636b import Keithley2636B

ADDRESS = "GPIB0::26::INSTR"
CELL = "1A01,2H01,3B01"  # smua -> BL0, ground -> SL0, smub -> WL0


@pytest.fixture
def bench(tmp_path):
    spec = write_bench(tmp_path, {ADDRESS: ("keithley2636b", "k26")},
                       {"A": "k26.a", "B": "k26.b", "H": "gnd"})  # fmt: skip
    with driven(Keithley2636B, ADDRESS, spec) as smu:
        yield smu, spec


def configure(smu: Keithley2636B, i_compliance_a: float = 1e-3) -> None:
    for ch in (smu.smua, smu.smub):
        ch.configure_voltage_source(i_compliance_a=i_compliance_a, v_limit_v=4.5, nplc=0.1)
        ch.enable()


def test_every_getter_answers(bench) -> None:
    smu, _ = bench
    assert smu.model == "2636B" and "Model 2636B" in smu.id and smu.error_count == 0
    for ch in (smu.smua, smu.smub):
        assert ch.source_function == "VOLT" and ch.source_level_v == 0.0
        assert ch.source_range_v == pytest.approx(0.2) and ch.source_range_auto is True
        assert ch.source_delay_s == 0.0
        assert ch.compliance_a == pytest.approx(0.1) and ch.compliance_tripped is False
        assert ch.nplc == 1.0
        assert ch.current_range_a == pytest.approx(100e-9) and ch.current_range_auto is True
        assert ch.output_enabled is False and ch.output_off_mode == "NORMAL"
        assert ch.current_a == 0.0
        assert ch.buffer_count == 0


def test_a_cell_forms_under_a_trigger_model_sweep_and_reads_back(bench) -> None:
    smu, spec = bench
    close(spec, CELL)
    configure(smu, i_compliance_a=1e-4)
    smu.smub.set_voltage(1.2)
    smu.smua.set_voltage(0.2)
    assert abs(smu.smua.measure_current()) < 1e-6  # pristine
    sim = simulator(spec)
    t0 = sim.clock.now_s
    currents = smu.channel("a").sweep(np.linspace(0.0, 4.0, 41), delay_s=1e-3)
    assert len(currents) == 41 and smu.smua.buffer_count == 41
    assert currents[-1] == pytest.approx(1e-4)  # formed, clamped at the compliance
    assert smu.smua.compliance_tripped is True
    assert sim.clock.now_s - t0 >= 41 * (1e-3 + 0.1 / 60)
    assert smu.smua.source_delay_s == 0.0  # restored by the script
    assert sim.bench.levels["k26.a"] == 0.2  # back at the idle level after the sweep
    assert smu.smua.measure_current() > 5e-6


def test_a_script_sent_in_pieces_runs_once_complete(bench) -> None:
    smu, spec = bench
    configure(smu)
    smu.write("loadandrunscript")
    smu.write("smua.source.levelv = 0.7")
    assert simulator(spec).bench.levels["k26.a"] == 0.0  # not run yet
    smu.write("smua.measure.i(smua.nvbuffer1)")
    smu.write("endscript")
    assert smu.smua.source_level_v == pytest.approx(0.7)
    assert smu.smua.buffer_count == 1
    smu.write("printbuffer(1, 1, smua.nvbuffer1.readings, smua.nvbuffer1.sourcevalues)")
    reading, source = (float(x) for x in smu.read().split(","))
    assert source == pytest.approx(0.7)


def test_a_script_with_a_statement_it_does_not_know_does_not_run(bench) -> None:
    smu, _ = bench
    smu.write("loadandrunscript\nsmua.source.levelv = 0.7\nbogus.call()\nendscript")
    with pytest.raises(InstrumentError, match="-285"):
        smu.check_errors()
    assert smu.smua.source_level_v == 0.0


@pytest.mark.parametrize(
    ("statement", "code"),
    [("bogus.call()", -285),  # a statement the instrument does not know
     ("smua.source.levelvv = 1", -286),  # an attribute it does not have
     ("smua.source.levelv = 300", -222),  # beyond +-202 V
     ("smua.source.output = smua.OUTPUT_MAYBE", -286)],  # no such constant
)  # fmt: skip
def test_bad_statements_land_in_the_error_queue(bench, statement, code) -> None:
    smu, _ = bench
    smu.write(statement)
    with pytest.raises(InstrumentError) as e:
        smu.check_errors()
    assert [c for c, _ in e.value.errors] == [code]


def test_fixed_range_refuses_levels_beyond_it(bench) -> None:
    smu, _ = bench
    smu.smua.configure_voltage_source(i_compliance_a=1e-4, v_limit_v=2.0)
    with pytest.raises(InstrumentError, match="-222"):
        smu.smua.set_voltage(3.0)


@pytest.mark.parametrize(("mode", "level"), [("NORMAL", 0.0), ("ZERO", 0.0), ("HIGH_Z", None)])
def test_output_off_modes_and_the_numbered_terminal_alias(bench, mode, level) -> None:
    smu, spec = bench
    configure(smu)
    smu.smub.output_off_mode = mode
    smu.smub.set_voltage(1.0)
    levels = simulator(spec).bench.levels
    assert levels["k26.b"] == levels["k26.2"] == 1.0
    smu.smub.safe_state()
    assert levels["k26.b"] == levels["k26.2"] == level


# -- sharing a line with a pulse channel -------------------------------------------------------
def test_release_when_off_and_read_at_on_a_cell(bench) -> None:
    """Released: output off, relay open; a one-message read reads what a DC read does and ends
    at 0 V, off (relay open) or, with `hold`, on at 0 V."""
    smu, spec = bench
    close(spec, CELL)
    configure(smu)
    drive, gate = smu.smua, smu.smub
    check_read_at_on_a_cell(drive, gate, simulator(spec).bench.levels, "k26.a", "HIGH_Z")
    # the chunk runs as Lua: the twin reports the level it set to the safety audit
    recorder = simulator(spec).recorder
    assert ("k26", "smua.source.levelv = 0.2", False) in recorder.messages()


def test_read_at_a_refused_level_raises_and_ends_at_0_v_off(bench) -> None:
    smu, spec = bench
    check_read_at_refused(smu.smua, simulator(spec).bench.levels, "k26.a")
