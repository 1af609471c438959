"""Read-only or safe operations on real instruments (see conftest.py for the options).

Nothing here drives a chip: the SMU sources 0 V with a 1 uA limit, the pulse generator is
configured with its output off, the switch matrix only opens relays. Every test ends with the
instrument's `safe_state()` and an empty error queue.
"""

from __future__ import annotations

import math

import pytest

from reramlab.instruments.roles import PulseChannel, PulseGenerator, SourceMeter, SwitchMatrix

pytestmark = pytest.mark.hardware


def test_2450_identify_configure_and_measure_at_zero_volts(smu_2450) -> None:
    assert "2450" in smu_2450.id
    assert isinstance(smu_2450, SourceMeter)
    smu_2450.configure_voltage_source(i_compliance_a=1e-6, v_limit_v=1.0, nplc=1.0)
    assert smu_2450.voltage_protection == 2
    assert smu_2450.sense_function == "current"
    smu_2450.set_voltage(0.0)
    smu_2450.enable()
    i = smu_2450.measure_current()
    assert math.isfinite(i) and abs(i) <= 1.05e-6
    smu_2450.safe_state()
    assert smu_2450.source_enabled is False
    assert smu_2450.check_errors() == []


def test_81160a_identify_and_configure_with_the_output_off(pg_81160a) -> None:
    assert "81160A" in pg_81160a.id
    assert isinstance(pg_81160a, PulseGenerator)
    pg_81160a.safe_state()
    for number in (1, 2):
        ch = pg_81160a.channel(number)
        assert isinstance(ch, PulseChannel)
        pg_81160a.set_voltage_limits(number, -0.5, 0.5)
        ch.configure_pulse(v_high=0.2, width_s=100e-9, period_s=1e-6, rise_s=5e-9, fall_s=5e-9)
        assert ch.trigger_mode == "MAN" and math.isinf(ch.output_load)
        assert ch.output is False
    pg_81160a.safe_state()
    assert pg_81160a.check_errors() == []


def test_707b_identify_configure_and_open_everything(sw_707b) -> None:
    assert "707B" in sw_707b.id
    assert isinstance(sw_707b, SwitchMatrix)
    sw_707b.configure()
    assert sw_707b.connect_rule == "break_before_make"
    sw_707b.safe_state()
    assert sw_707b.closed() == set()
    assert sw_707b.check_errors() == []
