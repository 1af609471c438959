"""Drivers against the simulated twins, through pyvisa and the `@reramsim` backend.

Every test opens its own simulated bench (a fresh resource file in tmp_path) and ends by
requiring every twin's error queue to be empty: a command the twin (and so, probably, the real
instrument) did not understand fails the test. Stock pymeasure drivers are checked too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pyvisa
from pymeasure.instruments.keithley import Keithley2450 as PymeasureKeithley2450
from pymeasure.instruments.keysight import Keysight81160A as PymeasureKeysight81160A

from helpers import bench_yaml
from reramlab.instruments.base import InstrumentError
from reramlab.instruments.keithley707b import Keithley707B
from reramlab.instruments.keithley2450 import Keithley2450
from reramlab.instruments.keysight81160a import Keysight81160A

SMU, PG, SW = "GPIB0::24::INSTR", "GPIB0::10::INSTR", "GPIB0::16::INSTR"


@pytest.fixture
def visa_library(tmp_path: Path) -> str:
    path = tmp_path / "bench.yaml"
    path.write_text(bench_yaml(rows=8, cols=8))
    return f"{path}@reramsim"


@pytest.fixture
def sim(visa_library: str) -> Iterator[Any]:
    """The simulated bench (ReramSimLibrary); afterwards every twin's error queue is empty."""
    rm = pyvisa.ResourceManager(visa_library)
    lib = rm.visalib
    lib.bench.command_log = []
    yield lib
    leftover = {
        name: list(inst.errors) for name, inst in lib.instruments.items() if len(inst.errors)
    }
    rm.close()
    assert not leftover, f"errors left in the twins' queues: {leftover}"


@pytest.fixture
def connect(visa_library: str, sim: Any) -> Iterator[Callable[[type, str], Any]]:
    """Open a driver on the simulated bench; afterwards its own error check must pass."""
    opened: list[Any] = []

    def _connect(cls: type, address: str) -> Any:
        inst = cls(
            address, visa_library=visa_library, read_termination="\n", write_termination="\n"
        )
        opened.append(inst)
        return inst

    yield _connect
    try:
        for inst in opened:
            assert inst.check_errors() == []
    finally:
        for inst in opened:
            inst.adapter.close()


def messages(sim: Any, name: str) -> list[str]:
    """What instrument `name` received, one entry per VISA message."""
    return [text for inst, text in sim.bench.command_log if inst == name]


# -- Keithley 2450 ------------------------------------------------------------------------------
def test_2450_source_meter_role(connect, sim) -> None:
    smu = connect(Keithley2450, SMU)
    twin = sim.instruments["smu"]
    assert "MODEL 2450" in smu.id
    smu.configure_voltage_source(i_compliance_a=1e-4, v_limit_v=1.5, nplc=0.5, i_range_a=1e-6)
    assert (twin.source_func, twin.protection, twin.v_range, twin.v_range_auto) == (
        "VOLT",
        "PROT2",
        2.0,
        False,
    )
    assert (twin.i_limit_a, twin.sense_func, twin.nplc, twin.i_range) == (1e-4, "CURR", 0.5, 1e-6)
    assert smu.voltage_protection == 2 and smu.sense_function == "current"
    smu.enable()
    smu.set_voltage(0.2)
    assert twin.output and twin.v_level == pytest.approx(0.2)
    assert isinstance(smu.measure_current(), float)
    assert smu.compliance_tripped is False
    smu.output_off_mode = "HIMP"
    assert smu.output_off_mode == "HIMP"
    smu.safe_state()
    assert not twin.output and twin.v_level == 0.0


def test_2450_measure_current_is_a_single_read(connect, sim) -> None:
    smu = connect(Keithley2450, SMU)
    smu.configure_voltage_source(i_compliance_a=1e-4, v_limit_v=1.0)
    assert sum('SENS:FUNC "CURR"' in m for m in messages(sim, "smu")) == 1
    sim.bench.command_log.clear()
    smu.measure_current()
    smu.measure_current()
    assert messages(sim, "smu") == [":READ?", ":READ?"]


def test_2450_list_sweep_in_a_few_transactions(connect, sim) -> None:
    smu = connect(Keithley2450, SMU)
    twin = sim.instruments["smu"]
    smu.configure_voltage_source(i_compliance_a=1e-4, v_limit_v=1.0, nplc=0.01)
    levels = np.round(np.linspace(0.0, 1.0, 250), 4)
    sim.bench.command_log.clear()
    currents = smu.sweep(levels, delay_s=1e-4)
    assert currents.shape == (250,) and currents.dtype == float
    np.testing.assert_allclose(twin.source_list, levels)
    np.testing.assert_allclose([r.source_v for r in twin.buffer], levels)
    # 3 list chunks, set up + run + count, read back, error check
    assert len(messages(sim, "smu")) == 6


def test_2450_protection_refuses_levels_beyond_it(connect, sim) -> None:
    smu = connect(Keithley2450, SMU)
    smu.configure_voltage_source(i_compliance_a=1e-4, v_limit_v=1.5)
    with pytest.raises(InstrumentError) as info:
        smu.set_voltage(3.0)
    assert [code for code, _ in info.value.errors] == [-222]
    assert sim.instruments["smu"].v_level == 0.0


def test_2450_unknown_command_is_minus_113(connect) -> None:
    smu = connect(Keithley2450, SMU)
    smu.write(":SOUR:VOLTS 1")
    with pytest.raises(InstrumentError) as info:
        smu.check_errors()
    assert [code for code, _ in info.value.errors] == [-113]


def test_stock_pymeasure_2450_works_against_the_twin(connect, sim) -> None:
    smu = connect(PymeasureKeithley2450, SMU)
    assert "2450" in smu.id
    smu.reset()
    smu.apply_voltage(compliance_current=1e-4)
    smu.measure_current(nplc=1, auto_range=True)
    smu.source_voltage = 0.1
    smu.enable_source()
    assert smu.source_enabled is True
    assert smu.source_voltage == pytest.approx(0.1)
    assert smu.compliance_current == pytest.approx(1e-4)
    assert smu.current_nplc == 1
    assert isinstance(smu.current, float)
    smu.voltage_output_off_state = "ZERO"
    assert smu.voltage_output_off_state == "ZERO"
    smu.disable_source()
    assert not sim.instruments["smu"].output


# -- Keysight 81160A ----------------------------------------------------------------------------
PULSE = {"width_s": 60e-9, "period_s": 1e-6, "rise_s": 2.5e-9, "fall_s": 4e-9}


def test_81160a_configure_pulse_state_and_order(connect, sim) -> None:
    pg = connect(Keysight81160A, PG)
    twin = sim.instruments["pg"]
    pg.channel(1).configure_pulse(v_high=1.5, delay_s=10e-9, **PULSE)
    c = twin.ch[1]
    assert math.isinf(pg.channel(1).output_load) and c.emf_factor == pytest.approx(1.0)
    assert (c.func, c.arm_source, c.output) == ("PULS", "MAN", False)
    assert (c.width_s, c.period_s, c.lead_s, c.trail_s, c.delay_s) == pytest.approx(
        (60e-9, 1e-6, 2.5e-9, 4e-9, 10e-9)
    )
    assert (c.low_v, c.high_v) == pytest.approx((0.0, 1.5))
    log = " ".join(messages(sim, "pg"))
    assert log.index(":OUTP1:LOAD INF") < log.index(":VOLT1:")
    assert log.index(":ARM:SOUR1 MAN") < log.index(":VOLT1:")
    pg.channel(1).enable()
    assert c.output and c.arm_source == "MAN"
    assert not [e for e in sim.bench.events if e.kind == "free-running"]


@pytest.mark.parametrize("ch", [1, 2])
def test_81160a_levels_and_timing_never_invert(connect, sim, ch: int) -> None:
    pg = connect(Keysight81160A, PG)
    channel = pg.channel(ch)
    steps = [  # (v_low, v_high, width_s, period_s): raise, lower, go negative, back
        (0.0, 1.0, 60e-9, 240e-9),
        (2.0, 3.0, 2e-6, 8e-6),
        (-1.0, -0.5, 100e-9, 1e-6),
        (-0.2, 4.0, 60e-9, 150e-9),
        (0.0, 0.1, 5e-6, 1e-5),
    ]
    for v_low, v_high, width_s, period_s in steps:
        channel.configure_pulse(
            v_low=v_low, v_high=v_high, width_s=width_s, period_s=period_s, rise_s=2e-9, fall_s=2e-9
        )
        c = sim.instruments["pg"].ch[ch]
        assert (c.low_v, c.high_v, c.width_s, c.period_s) == pytest.approx(
            (v_low, v_high, width_s, period_s)
        )


def test_81160a_fire_emits_the_burst(connect, sim) -> None:
    pg = connect(Keysight81160A, PG)
    pg.channel(1).configure_pulse(v_high=0.5, **PULSE)
    pg.channel(1).enable()
    t0 = sim.clock.now_s
    pg.fire(1000)
    assert sim.clock.now_s - t0 >= 1000 * PULSE["period_s"]
    assert sim.instruments["pg"].ch[1].count == 1000
    pg.channel(1).disable()
    t1 = sim.clock.now_s
    pg.fire(1000)  # nothing enabled: nothing fires
    assert sim.clock.now_s - t1 < 1000 * PULSE["period_s"]


def test_81160a_both_channels_fire_together(connect, sim) -> None:
    pg = connect(Keysight81160A, PG)
    slot = 100e-9
    pg.channel(1).configure_pulse(
        v_high=1.0, width_s=60e-9, period_s=2 * slot, rise_s=2e-9, fall_s=2e-9
    )
    pg.channel(2).configure_pulse(
        v_high=1.2, width_s=60e-9, period_s=2 * slot, rise_s=2e-9, fall_s=2e-9, delay_s=slot
    )
    pg.channel(1).enable()
    pg.channel(2).enable()
    t0 = sim.clock.now_s
    pg.fire(10)
    assert sim.clock.now_s - t0 >= 10 * 2 * slot


def test_81160a_voltage_limits_clamp_levels(connect, sim) -> None:
    pg = connect(Keysight81160A, PG)
    pg.set_voltage_limits(1, -0.5, 2.0)
    c = sim.instruments["pg"].ch[1]
    assert (c.limit_on, c.limit_low_v, c.limit_high_v) == (True, -0.5, 2.0)
    with pytest.raises(InstrumentError) as info:
        pg.channel(1).configure_pulse(v_high=3.0, **PULSE)
    assert -222 in [code for code, _ in info.value.errors]
    pg.channel(1).configure_pulse(v_high=1.8, **PULSE)
    assert c.high_v == pytest.approx(1.8)


def test_81160a_safe_state(connect, sim) -> None:
    pg = connect(Keysight81160A, PG)
    for ch in (1, 2):
        pg.channel(ch).configure_pulse(v_low=0.5, v_high=2.0, **PULSE)
        pg.channel(ch).enable()
    pg.safe_state()
    for c in sim.instruments["pg"].ch.values():
        assert not c.output and c.low_v == 0.0 and c.high_v == pytest.approx(0.1)


def test_81160a_unknown_command_is_minus_113(connect) -> None:
    pg = connect(Keysight81160A, PG)
    pg.write(":PULS:WIDTH9X 1")
    with pytest.raises(InstrumentError) as info:
        pg.check_errors()
    assert [code for code, _ in info.value.errors] == [-113]


def test_stock_pymeasure_81160a_works_against_the_twin(connect, sim) -> None:
    pg = connect(PymeasureKeysight81160A, PG)
    ch = pg.ch_1
    assert "81160A" in pg.id
    ch.output_load = 50
    ch.shape = "PULS"
    ch.trigger_mode = "MAN"
    ch.pulse_period = 1e-6
    ch.pulse_width = 100e-9
    ch.pulse_transition = 5e-9
    ch.voltage_high = 1.0
    ch.voltage_low = 0.0
    ch.limit_high = 2.0
    ch.limit_low = -1.0
    ch.limit_state_enabled = True
    ch.trigger_count = 5
    assert (ch.shape, ch.trigger_mode, ch.trigger_count) == ("PULS", "MAN", 5)
    assert (ch.output_load, ch.pulse_width, ch.voltage_high) == pytest.approx((50, 100e-9, 1.0))
    ch.output = True
    pg.trigger()
    ch.output = False
    assert not sim.instruments["pg"].ch[1].output


# -- Keithley 707B ------------------------------------------------------------------------------
def test_707b_switch_matrix_role(connect, sim) -> None:
    sw = connect(Keithley707B, SW)
    assert "707B" in sw.id
    sw.configure()
    assert sw.connect_rule == "break_before_make" and sim.instruments["sw"].connect_rule == 1
    points = [sw.crosspoint("A", 1), sw.crosspoint("H", 13), sw.crosspoint("B", 14)]
    assert points == ["1A01", "2H01", "2B02"]
    sw.close(points)
    assert sw.closed() == set(points)
    assert sim.bench.closed["sw"] == {("A", 1), ("H", 13), ("B", 14)}
    sw.open(["2B02"])
    assert sw.closed() == {"1A01", "2H01"}
    sw.exclusive_close(["1C01"])
    assert sw.closed() == {"1C01"}
    sw.open_all()
    assert sw.closed() == set()
    sw.close(["6H12"])
    sw.safe_state()
    assert sw.closed() == set() and sim.bench.closed["sw"] == set()
    assert sw.error_count == 0


def test_707b_unknown_statement_is_minus_285(connect) -> None:
    sw = connect(Keithley707B, SW)
    sw.write("bogus.call()")
    assert sw.error_count == 1
    with pytest.raises(InstrumentError) as info:
        sw.check_errors()
    assert [code for code, _ in info.value.errors] == [-285]
