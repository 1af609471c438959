"""The simulated 33600A/33500B driven through their driver: every getter the twin implements,
triggered bursts on the chip (levels, declared load, count, per-channel delay), free-running
detection, level ranges and clamps, the error queue; and a RESET pulse on a cell formed by a
B2902 on the same bench."""

from __future__ import annotations

import numpy as np
import pytest
from _twin_bench import close, driven, simulator, write_bench

from reramlab.instruments.base import InstrumentError
from reramlab.instruments.keysight33600a import Keysight33500B, Keysight33600A
from reramlab.instruments.keysightb2902 import KeysightB2902

ADDRESS = "TCPIP0::192.168.1.20::inst0::INSTR"
SMU = "USB0::0x0957::0x8C18::MY51140005::INSTR"


@pytest.fixture(params=[("keysight33600a", Keysight33600A), ("keysight33500b", Keysight33500B)],
                ids=["33600A", "33500B"])  # fmt: skip
def bench(request, tmp_path):
    model, driver = request.param
    spec = write_bench(tmp_path, {ADDRESS: (model, "pg"), SMU: ("keysightb2902", "smu")},
                       {"A": "smu.1", "B": "smu.2", "C": "pg.1", "D": "pg.2", "H": "gnd"})  # fmt: skip
    with driven(driver, ADDRESS, spec) as pg:
        yield pg, spec


@pytest.fixture
def pulses(bench, monkeypatch):
    """Every pulse_sequence the bench receives: (terminal levels per step, repeat)."""
    _, spec = bench
    seen: list[tuple[list[dict[str, float]], int]] = []
    monkeypatch.setattr(simulator(spec).bench, "pulse_sequence",
                        lambda steps, repeat=1: seen.append(([s[0] for s in steps], repeat)))  # fmt: skip
    return seen


def configure(pg, ch: int, **kw) -> None:
    shape = {"v_high": 1.5, "width_s": 60e-9, "period_s": 240e-9, "rise_s": 10e-9, "fall_s": 10e-9}
    pg.channel(ch).configure_pulse(**{**shape, **kw})


def test_every_getter_the_twin_implements_answers(bench) -> None:
    pg, _ = bench
    assert "Keysight Technologies" in pg.id
    for ch in pg.channels.values():
        assert ch.shape == "SIN" and ch.output is False and ch.output_load == 50.0
        assert ch.pulse_period == 1e-3 and ch.pulse_width == 100e-6
        assert ch.pulse_transition == ch.pulse_transition_leading == ch.pulse_transition_trailing
        assert ch.voltage_high == 0.05 and ch.voltage_low == -0.05
        assert ch.burst_state is False and ch.burst_mode == "TRIG" and ch.burst_ncycles == 1
        assert ch.limit_state_enabled is False and ch.limit_high == 5.0 and ch.limit_low == -5.0
        assert ch.trigger_source == "IMM" and ch.trigger_delay == 0.0
        assert ch.period_and_high == [1e-3, 0.05]


def test_a_triggered_burst_reaches_the_chip_at_the_declared_levels(bench, pulses) -> None:
    pg, spec = bench
    sim = simulator(spec)
    configure(pg, 1)
    assert pg.channel(1).output_load > 1e37  # INFinity
    pg.channel(1).enable()
    assert sim.bench.levels["pg.1"] == 0.0  # idles at the low level
    t0 = sim.clock.now_s
    pg.fire(1000)
    assert pulses == [([{"pg.1": 1.5}], 1000)]
    assert sim.clock.now_s - t0 >= 1000 * 240e-9
    pg.channel(1).output_load = 50  # a 50-ohm setting drives twice the level into the cell
    pg.fire(1)
    assert pulses[-1] == ([{"pg.1": 3.0}], 1)
    assert not sim.bench.events  # never free-running
    pg.channel(1).disable()
    assert sim.bench.levels["pg.1"] is None


def test_pulse_pairs_fire_in_the_order_of_their_trigger_delays(bench, pulses) -> None:
    pg, _ = bench
    configure(pg, 1, v_high=1.0, period_s=400e-9, delay_s=200e-9)
    configure(pg, 2, v_high=2.0, period_s=400e-9, delay_s=0.0)
    pg.channel(1).enable()
    pg.channel(2).enable()
    pg.fire(10)
    assert pulses == [([{"pg.2": 2.0}, {"pg.1": 1.0}], 10)]


def test_output_on_outside_triggered_burst_mode_free_runs(bench) -> None:
    pg, spec = bench
    pg.write("SOUR2:FUNC PULS;:OUTP2 ON")
    assert [e.kind for e in simulator(spec).bench.events] == ["free-running"]


def test_level_ranges_follow_the_declared_load_and_the_clamp(bench) -> None:
    pg, _ = bench
    configure(pg, 1, v_high=9.0)  # 10 V EMF into high Z
    pg.write("OUTP1:LOAD 50;:SOUR1:VOLT:HIGH 6")  # +-5 V into 50 ohm
    with pytest.raises(InstrumentError, match="-222"):
        pg.check_errors()
    pg.set_voltage_limits(1, -0.5, 2.0)
    with pytest.raises(InstrumentError, match="-222"):
        configure(pg, 1, v_high=3.0)


def test_unknown_commands_and_pulses_too_short_for_the_model(bench) -> None:
    pg, _ = bench
    assert pg.ask("SYST:ERR?") == '+0,"No error"'
    pg.write("SOUR1:FUNC:PULS:WIDE 1e-6")
    with pytest.raises(InstrumentError) as e:
        pg.check_errors()
    assert e.value.errors == [(-113, "Undefined header")]
    minimum = type(pg.channel(1)).pulse_width_values[0]
    pg.write(f"SOUR1:FUNC:PULS:WIDT {minimum * 0.9:e}")
    with pytest.raises(InstrumentError, match="-222"):
        pg.check_errors()


def test_safe_state_leaves_outputs_off_and_idle_low(bench) -> None:
    pg, spec = bench
    configure(pg, 1)
    configure(pg, 2)
    pg.channel(1).enable()
    pg.channel(2).enable()
    pg.safe_state()
    levels = simulator(spec).bench.levels
    assert levels["pg.1"] is None and levels["pg.2"] is None
    assert pg.channel(1).voltage_low == 0.0 and pg.channel(2).output is False


def test_reset_pulses_on_the_source_line_lower_a_formed_cells_conductance(bench) -> None:
    pg, spec = bench
    smu = KeysightB2902(SMU, visa_library=spec)
    drive, gate = smu.channel(1), smu.channel(2)
    for ch in (drive, gate):
        ch.configure_voltage_source(i_compliance_a=1e-3, v_limit_v=4.5, nplc=0.1)
        ch.enable()
    close(spec, "1A01,2H01,3B01")  # BL0 <- smu.1, SL0 <- ground, WL0 <- smu.2
    gate.set_voltage(1.2)
    drive.sweep(np.linspace(0.0, 4.0, 41))  # form
    drive.set_voltage(0.2)
    i_formed = drive.measure_current()
    drive.set_voltage(0.0)
    simulator(spec).instruments["sw"].handle('channel.open("allslots")')
    close(spec, "1H01,2D01,3B01")  # BL0 <- ground, SL0 <- pg.2, WL0 <- smu.2
    gate.set_voltage(2.5)
    configure(pg, 2, v_high=2.0, width_s=1e-6, period_s=4e-6)
    pg.channel(2).enable()
    pg.fire(100)
    pg.channel(2).disable()
    simulator(spec).instruments["sw"].handle('channel.open("allslots")')
    close(spec, "1A01,2H01,3B01")
    gate.set_voltage(1.2)
    drive.set_voltage(0.2)
    assert drive.measure_current() < 0.5 * i_formed
    smu.safe_state()
    assert smu.check_errors() == []
