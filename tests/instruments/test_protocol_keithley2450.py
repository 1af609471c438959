"""Keithley 2450 driver: command transcripts (2450 Reference Manual command forms), no pyvisa.

Also covers the shared `DriverMixin` (batching, raising error checks), through this driver.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymeasure.test import expected_protocol

from reramlab.instruments.base import InstrumentError
from reramlab.instruments.keithley2450 import Keithley2450
from reramlab.instruments.roles import GateLevels, SourceMeter

OK = (":SYST:ERR?", '0,"No error"')


def test_init_does_not_talk_and_satisfies_the_role() -> None:
    with expected_protocol(Keithley2450, []) as smu:
        assert isinstance(smu, SourceMeter)


# -- properties ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("volts", "token"),
    [(2, "PROT2"), (5, "PROT5"), (20, "PROT20"), (180, "PROT180"), (math.inf, "NONE")],
)
def test_voltage_protection(volts: float, token: str) -> None:
    with expected_protocol(
        Keithley2450,
        [(f":SOUR:VOLT:PROT {token}", None), (":SOUR:VOLT:PROT?", token)],
    ) as smu:
        smu.voltage_protection = volts
        assert smu.voltage_protection == volts


def test_voltage_protection_rejects_levels_the_2450_lacks() -> None:
    with expected_protocol(Keithley2450, []) as smu, pytest.raises(ValueError):
        smu.voltage_protection = 3


@pytest.mark.parametrize(("reply", "tripped"), [("1", True), ("0", False)])
def test_compliance_tripped(reply: str, tripped: bool) -> None:
    with expected_protocol(Keithley2450, [(":SOUR:VOLT:ILIM:TRIP?", reply)]) as smu:
        assert smu.compliance_tripped is tripped


@pytest.mark.parametrize("mode", ["HIMP", "NORM", "ZERO"])
def test_output_off_mode(mode: str) -> None:
    with expected_protocol(
        Keithley2450, [(f":OUTP:VOLT:SMOD {mode}", None), (":OUTP:VOLT:SMOD?", mode)]
    ) as smu:
        smu.output_off_mode = mode
        assert smu.output_off_mode == mode


@pytest.mark.parametrize(
    ("function", "token"), [("current", "CURR"), ("voltage", "VOLT"), ("resistance", "RES")]
)
def test_sense_function(function: str, token: str) -> None:
    with expected_protocol(
        Keithley2450, [(f':SENS:FUNC "{token}"', None), (":SENS:FUNC?", f'"{token}:DC"')]
    ) as smu:
        smu.sense_function = function
        assert smu.sense_function == function


def test_current_nplc_is_validated() -> None:
    with expected_protocol(
        Keithley2450, [(":SENS:CURR:NPLC 0.1", None), (":SENS:CURR:NPLC?", "1.000000E-01")]
    ) as smu:
        smu.current_nplc = 0.1
        assert smu.current_nplc == 0.1
        with pytest.raises(ValueError):
            smu.current_nplc = 20


@pytest.mark.parametrize(("auto", "token"), [(True, "1"), (False, "0")])
def test_current_range_auto(auto: bool, token: str) -> None:
    with expected_protocol(
        Keithley2450, [(f":SENS:CURR:RANG:AUTO {token}", None), (":SENS:CURR:RANG:AUTO?", token)]
    ) as smu:
        smu.current_range_auto = auto
        assert smu.current_range_auto is auto


def test_source_list_voltage() -> None:
    with expected_protocol(
        Keithley2450,
        [
            (":SOUR:LIST:VOLT 0,0.5,-1.25", None),
            (":SOUR:LIST:VOLT?", "+0.000000E+00,+5.000000E-01,-1.250000E+00"),
            (":SOUR:LIST:VOLT?", "+5.000000E-01"),
        ],
    ) as smu:
        smu.source_list_voltage = [0, 0.5, -1.25]
        assert smu.source_list_voltage == [0.0, 0.5, -1.25]
        assert smu.source_list_voltage == [0.5]


@pytest.mark.parametrize("levels", [[], [0.1] * 101, [float("nan")], [211.0]])
def test_source_list_voltage_rejects_bad_chunks(levels: list[float]) -> None:
    with expected_protocol(Keithley2450, []) as smu, pytest.raises(ValueError):
        smu.source_list_voltage = levels


def test_source_list_voltage_append() -> None:
    with expected_protocol(Keithley2450, [(":SOUR:LIST:VOLT:APP 1,2", None)]) as smu:
        smu.source_list_voltage_append = [1, 2]


@pytest.mark.parametrize(("delay_s", "text"), [(0, "0"), (1e-3, "0.001")])
def test_list_sweep(delay_s: float, text: str) -> None:
    with expected_protocol(
        Keithley2450, [(f':SOUR:SWE:VOLT:LIST 1, {text}, 1, OFF, "defbuffer1"', None)]
    ) as smu:
        smu.list_sweep = delay_s


def test_buffer_count_clear_and_readings() -> None:
    with expected_protocol(
        Keithley2450,
        [
            (':TRAC:ACT? "defbuffer1"', "2"),
            (":TRAC:CLE", None),
            (':TRAC:DATA? 1, 2, "defbuffer1", READ', "+1.000000E-06,-2.000000E-06"),
        ],
    ) as smu:
        assert smu.buffer_count == 2
        smu.clear_buffer()
        np.testing.assert_array_equal(smu.buffer_readings(2), [1e-6, -2e-6])
        assert smu.buffer_readings(0).size == 0


# -- SourceMeter role ---------------------------------------------------------------------------
CONFIGURE_HEAD = ":SOUR:FUNC VOLT;:SOUR:VOLT:LEV 0"


@pytest.mark.parametrize(
    ("v_limit_v", "prot", "v_range"),
    [
        (1.5, "PROT2", "2"),
        (2.0, "PROT2", "2"),
        (3.0, "PROT5", "20"),
        (0.1, "PROT2", "0.2"),
        (150.0, "PROT160", "200"),
        (190.0, "NONE", "200"),
    ],
)
def test_configure_voltage_source_picks_protection_and_range(
    v_limit_v: float, prot: str, v_range: str
) -> None:
    message = (
        f"{CONFIGURE_HEAD};:SOUR:VOLT:PROT {prot};:SOUR:VOLT:RANG:AUTO 0;:SOUR:VOLT:RANG {v_range};"
        ':SOUR:VOLT:ILIM 0.0001;:SENS:FUNC "CURR";:SENS:CURR:NPLC 1;:SENS:CURR:RANG:AUTO 1;'
        ":SYST:ERR?"
    )
    with expected_protocol(Keithley2450, [(message, '0,"No error"')]) as smu:
        smu.configure_voltage_source(i_compliance_a=1e-4, v_limit_v=v_limit_v)


def test_configure_voltage_source_with_fixed_range_and_nplc() -> None:
    message = (
        f"{CONFIGURE_HEAD};:SOUR:VOLT:PROT PROT5;:SOUR:VOLT:RANG:AUTO 0;:SOUR:VOLT:RANG 20;"
        ':SOUR:VOLT:ILIM 1e-06;:SENS:FUNC "CURR";:SENS:CURR:NPLC 0.1;'
        ":SENS:CURR:RANG:AUTO 0;:SENS:CURR:RANG 1e-05;:SYST:ERR?"
    )
    with expected_protocol(Keithley2450, [(message, '0,"No error"')]) as smu:
        smu.configure_voltage_source(i_compliance_a=1e-6, v_limit_v=4.5, nplc=0.1, i_range_a=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"i_compliance_a": 0.0, "v_limit_v": 1.0},
        {"i_compliance_a": 2.0, "v_limit_v": 1.0},
        {"i_compliance_a": 1e-4, "v_limit_v": 0.0},
        {"i_compliance_a": 1e-4, "v_limit_v": 250.0},
        {"i_compliance_a": 1e-4, "v_limit_v": 1.0, "i_range_a": -1e-6},
        {"i_compliance_a": 1e-4, "v_limit_v": 1.0, "nplc": 50},
    ],
)
def test_configure_voltage_source_rejects_bad_arguments_before_sending(kwargs: dict) -> None:
    with expected_protocol(Keithley2450, []) as smu, pytest.raises(ValueError):
        smu.configure_voltage_source(**kwargs)


def test_set_voltage_and_enable_check_the_error_queue_in_the_same_message() -> None:
    with expected_protocol(
        Keithley2450,
        [
            (":SOUR:VOLT:LEV 0.25;:SYST:ERR?", '0,"No error"'),
            (":OUTPUT ON;:SYST:ERR?", '0,"No error"'),
        ],
    ) as smu:
        smu.set_voltage(0.25)
        smu.enable()


def test_set_voltage_raises_what_the_instrument_refused() -> None:
    with expected_protocol(
        Keithley2450,
        [
            (":SOUR:VOLT:LEV 3;:SYST:ERR?", '-222,"Data out of range"'),
            OK,
        ],
        name="smu",
    ) as smu:
        with pytest.raises(InstrumentError) as info:
            smu.set_voltage(3)
        assert info.value.errors == [(-222, "Data out of range")]
        assert info.value.instrument == "smu"
        assert "smu" in str(info.value) and "-222" in str(info.value)


def test_measure_current_is_one_read() -> None:
    with expected_protocol(Keithley2450, [(":READ?", "-1.234500E-07")]) as smu:
        assert smu.measure_current() == pytest.approx(-1.2345e-7)


READ_AT = ":SOUR:VOLT:LEV 0;:OUTPUT ON;:SOUR:VOLT:LEV 0.2;:READ?;:SOUR:VOLT:LEV 0;"


@pytest.mark.parametrize(
    ("hold", "tail"), [(False, ":OUTPUT OFF;:SYST:ERR?"), (True, ":SYST:ERR?")]
)
def test_read_at_is_one_message_from_0_v_back_to_0_v(hold: bool, tail: str) -> None:
    """Output on at 0 V, level, reading, level 0 V, output off (or on at 0 V), error query."""
    with expected_protocol(Keithley2450, [(READ_AT + tail, '-1.234500E-07;0,"No error"')]) as smu:
        assert smu.read_at(0.2, hold=hold) == pytest.approx(-1.2345e-7)


def test_read_at_refuses_a_gate_it_cannot_hold_before_sending() -> None:
    """A 2450 has one channel: a gate (always another SMU) cannot ride in its message."""
    with (
        expected_protocol(Keithley2450, []) as smu,
        expected_protocol(Keithley2450, []) as gate,
        pytest.raises(ValueError, match="one channel"),
    ):
        smu.read_at(0.2, gate=GateLevels(gate, 1.2, 3.3))


def test_read_at_raises_every_error_the_2450_queued() -> None:
    with expected_protocol(
        Keithley2450,
        [
            (READ_AT + ":OUTPUT OFF;:SYST:ERR?", '1.0E-06;-222,"Data out of range"'),
            ("SYST:ERR?", '-221,"Settings conflict"'),
            ("SYST:ERR?", '0,"No error"'),
        ],
    ) as smu:
        with pytest.raises(InstrumentError) as info:
            smu.read_at(0.2)
        assert info.value.errors == [(-222, "Data out of range"), (-221, "Settings conflict")]


@pytest.mark.parametrize("reply", ['0,"No error"', "#?garbage", "1.0E-06;x"])
def test_read_at_calls_a_reply_without_a_reading_or_error_garbled(reply: str) -> None:
    """A ValueError: what the bench's read policy retries (after a device clear)."""
    sent = [(READ_AT + ":OUTPUT OFF;:SYST:ERR?", reply)]
    with expected_protocol(Keithley2450, sent) as smu, pytest.raises(ValueError):
        smu.read_at(0.2)


def _sweep_run(n: int, delay: str = "0") -> list[tuple[str, str | None]]:
    return [
        (
            f':SOUR:SWE:VOLT:LIST 1, {delay}, 1, OFF, "defbuffer1";:TRAC:CLE;:INIT;*WAI;'
            ':TRAC:ACT? "defbuffer1"',
            str(n),
        ),
    ]


def test_sweep_short_list() -> None:
    with expected_protocol(
        Keithley2450,
        [
            (":SOUR:LIST:VOLT 0,0.5,1", None),
            *_sweep_run(3, "0.01"),
            (':TRAC:DATA? 1, 3, "defbuffer1", READ', "0,1e-6,2e-6"),
            ("SYST:ERR?", '0,"No error"'),
        ],
    ) as smu:
        currents = smu.sweep(np.array([0.0, 0.5, 1.0]), delay_s=0.01)
    np.testing.assert_array_equal(currents, [0, 1e-6, 2e-6])


def test_sweep_sends_the_list_in_chunks_of_100() -> None:
    levels = np.round(np.linspace(0, 2, 250), 3)
    chunks = [levels[:100], levels[100:200], levels[200:]]
    reply = ",".join("1e-6" for _ in levels)
    with expected_protocol(
        Keithley2450,
        [
            (":SOUR:LIST:VOLT " + ",".join(f"{v:.6g}" for v in chunks[0]), None),
            (":SOUR:LIST:VOLT:APP " + ",".join(f"{v:.6g}" for v in chunks[1]), None),
            (":SOUR:LIST:VOLT:APP " + ",".join(f"{v:.6g}" for v in chunks[2]), None),
            *_sweep_run(250),
            (':TRAC:DATA? 1, 250, "defbuffer1", READ', reply),
            ("SYST:ERR?", '0,"No error"'),
        ],
    ) as smu:
        assert smu.sweep(levels).shape == (250,)


def test_sweep_with_missing_readings_raises() -> None:
    with (
        expected_protocol(
            Keithley2450,
            [
                (":SOUR:LIST:VOLT 0,1", None),
                *_sweep_run(1),
                (':TRAC:DATA? 1, 1, "defbuffer1", READ', "0"),
                ("SYST:ERR?", '0,"No error"'),
            ],
        ) as smu,
        pytest.raises(InstrumentError, match="1 of 2"),
    ):
        smu.sweep([0, 1])


def test_sweep_of_nothing_sends_nothing() -> None:
    with expected_protocol(Keithley2450, []) as smu:
        assert smu.sweep([]).size == 0


def test_safe_state_is_one_message() -> None:
    with expected_protocol(Keithley2450, [(":ABOR;:SOUR:VOLT:LEV 0;:OUTPUT OFF", None)]) as smu:
        smu.safe_state()


# -- DriverMixin, through this driver -----------------------------------------------------------
def test_batch_sends_nothing_if_a_validator_refuses() -> None:
    with expected_protocol(Keithley2450, []) as smu:
        with pytest.raises(ValueError), smu.batch():
            smu.source_voltage = 0.1
            smu.current_nplc = 100
        assert smu._pending is None


def test_nested_batches_join_the_outermost() -> None:
    with (
        expected_protocol(
            Keithley2450, [(":SOUR:VOLT:LEV 0.1;:SOUR:VOLT:LEV 0.2;:OUTPUT OFF", None)]
        ) as smu,
        smu.batch(),
    ):
        smu.source_voltage = 0.1
        with smu.batch():
            smu.source_voltage = 0.2
        smu.disable_source()


def test_check_errors_drains_and_raises_every_error() -> None:
    with (
        expected_protocol(
            Keithley2450,
            [
                ("SYST:ERR?", '-113,"Undefined header"'),
                ("SYST:ERR?", '-222,"Data out of range, 3 V"'),
                ("SYST:ERR?", '0,"No error"'),
            ],
        ) as smu,
        pytest.raises(InstrumentError) as info,
    ):
        smu.check_errors()
    assert info.value.errors == [(-113, "Undefined header"), (-222, "Data out of range, 3 V")]


def test_check_errors_returns_an_empty_list_when_the_queue_is_empty() -> None:
    with expected_protocol(Keithley2450, [("SYST:ERR?", '0,"No error"')]) as smu:
        assert smu.check_errors() == []


# -- conventions of every reramlab driver -------------------------------------------------------
def _own_properties():
    from reramlab.instruments.keithley707b import Keithley707B
    from reramlab.instruments.keysight81160a import Keysight81160A, Keysight81160AChannel

    for cls in (Keithley2450, Keysight81160A, Keysight81160AChannel, Keithley707B):
        for name, attr in vars(cls).items():
            if isinstance(attr, property):
                yield pytest.param(attr, id=f"{cls.__name__}.{name}")


@pytest.mark.parametrize("prop", list(_own_properties()))
def test_property_docstrings_start_like_pymeasure_requires(prop: property) -> None:
    assert (prop.__doc__ or "").strip().startswith(("Control", "Measure", "Get", "Set"))
