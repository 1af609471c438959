"""Keysight B2902 driver transcripts (pymeasure `expected_protocol`), in the command forms of
the B2900 SCPI Command Reference: channel number on the root node, channel lists on
:MEAS/:INIT/:FETC/:ABOR, B2900 error replies ('+0,"No error"')."""

from __future__ import annotations

import numpy as np
import pytest
from _transcripts import control_transcript
from pymeasure.test import expected_protocol

from reramlab.instruments.base import InstrumentError
from reramlab.instruments.keysightb2902 import KeysightB2902
from reramlab.instruments.roles import GateLevels, SourceMeter

OK = b'+0,"No error"'


def proto(pairs):
    return expected_protocol(KeysightB2902, pairs)


# -- properties: (name, channel, value, set message, query reply) ----------------------------
CONTROLS = [
    ("source_function", 1, "VOLT", b":SOUR1:FUNC:MODE VOLT", b"VOLT"),
    ("source_mode", 2, "LIST", b":SOUR2:VOLT:MODE LIST", b"LIST"),
    ("source_level_v", 1, 0.5, b":SOUR1:VOLT 0.5", b"+5.000000E-01"),
    ("source_range_v", 2, 20.0, b":SOUR2:VOLT:RANG 20", b"+2.000000E+01"),
    ("source_range_auto", 1, True, b":SOUR1:VOLT:RANG:AUTO 1", b"1"),
    ("compliance_a", 1, 1e-4, b":SENS1:CURR:PROT 0.0001", b"+1.000000E-04"),
    ("nplc", 2, 0.1, b":SENS2:CURR:NPLC 0.1", b"+1.000000E-01"),
    ("aperture_s", 1, 1e-3, b":SENS1:CURR:APER 0.001", b"+1.000000E-03"),
    ("current_range_a", 1, 1e-6, b":SENS1:CURR:RANG 1e-06", b"+1.000000E-06"),
    ("current_range_auto", 2, False, b":SENS2:CURR:RANG:AUTO 0", b"0"),
    ("output_enabled", 1, True, b":OUTP1 1", b"1"),
    ("output_off_mode", 2, "HIZ", b":OUTP2:OFF:MODE HIZ", b"HIZ"),
    ("output_auto_on", 2, False, b":OUTP2:ON:AUTO 0", b"0"),
    ("output_protection", 1, True, b":OUTP1:PROT 1", b"1"),
    ("trigger_source", 1, "TIM", b":TRIG1:SOUR TIM", b"TIM"),
    ("trigger_timer_s", 2, 1e-3, b":TRIG2:TIM 0.001", b"+1.000000E-03"),
    ("trigger_count", 1, 10, b":TRIG1:COUN 10", b"10"),
    ("acquire_delay_s", 1, 5e-4, b":TRIG1:ACQ:DEL 0.0005", b"+5.000000E-04"),
]


@pytest.mark.parametrize(("name", "ch", "value", "message", "reply"), CONTROLS)
def test_control(name, ch, value, message, reply) -> None:
    query = message.split(b" ")[0] + b"?"
    control_transcript(
        KeysightB2902, lambda smu: smu.channel(ch), name, value, message, query, reply
    )


def test_sense_function() -> None:
    with proto([(b':SENS1:FUNC "CURR"', None), (b":SENS1:FUNC?", b'"VOLT","CURR"'),
                (b":SENS2:FUNC?", b'"CURR"')]) as smu:  # fmt: skip
        smu.channel(1).sense_function = "CURR"
        assert smu.channel(1).sense_function == ["VOLT", "CURR"]
        assert smu.channel(2).sense_function == "CURR"


@pytest.mark.parametrize(
    ("name", "value"),
    [("source_level_v", 250.0), ("compliance_a", 5.0), ("nplc", 200.0), ("source_range_v", 5.0),
     ("trigger_source", "EXT9"), ("trigger_count", 200_000), ("output_off_mode", "FLOAT")],
)  # fmt: skip
def test_values_beyond_the_instrument_are_refused_before_sending(name, value) -> None:
    with proto([]) as smu, pytest.raises(ValueError):
        setattr(smu.channel(1), name, value)


def test_measurements() -> None:
    with proto([(b":SENS2:CURR:PROT:TRIP?", b"1"), (b":SOUR1:LIST:VOLT:POIN?", b"3"),
                (b":MEAS:CURR? (@1)", b"+1.234000E-06"),
                (b":FETC:ARR:CURR? (@2)", b"+1.000000E-09,+2.000000E-09"),
                (b":MEAS:CURR? (@1,2)", b"+1.000000E-06,-2.000000E-09"),
                (b"*IDN?", b"Keysight Technologies,B2902A,MY51140005,3.4.2011.5100")]) as smu:  # fmt: skip
        assert smu.channel(2).compliance_tripped is True
        assert smu.channel(1).list_points == 3
        assert smu.channel(1).current_a == pytest.approx(1.234e-6)
        assert smu.channel(2).buffer_currents_a == pytest.approx([1e-9, 2e-9])
        assert smu.measure_currents() == pytest.approx((1e-6, -2e-9))
        assert "B2902A" in smu.id


# -- SourceMeter role ------------------------------------------------------------------------
CONFIGURE = (b':SOUR1:FUNC:MODE VOLT;:SOUR1:VOLT:MODE FIX;:OUTP1:ON:AUTO 0;:SOUR1:VOLT 0;:SOUR1:VOLT:RANG 20;'
             b':SENS1:CURR:PROT 0.0001;:SENS1:FUNC "CURR";:SENS1:CURR:NPLC 0.1;'
             b':SENS1:CURR:RANG:AUTO 1;:SYST:ERR?')  # fmt: skip


def test_channels_are_source_meters() -> None:
    with proto([]) as smu:
        assert isinstance(smu.channel(1), SourceMeter) and isinstance(smu.channel(2), SourceMeter)
        with pytest.raises(ValueError, match="channels 1 and 2"):
            smu.channel(3)


def test_configure_voltage_source_is_one_message_with_the_error_check() -> None:
    with proto([(CONFIGURE, OK)]) as smu:
        smu.channel(1).configure_voltage_source(i_compliance_a=1e-4, v_limit_v=4.5, nplc=0.1)


def test_configure_with_a_fixed_current_range_and_the_2_v_source_range() -> None:
    message = (b':SOUR2:FUNC:MODE VOLT;:SOUR2:VOLT:MODE FIX;:OUTP2:ON:AUTO 0;:SOUR2:VOLT 0;:SOUR2:VOLT:RANG 2;'
               b':SENS2:CURR:PROT 1e-05;:SENS2:FUNC "CURR";:SENS2:CURR:NPLC 1;'
               b':SENS2:CURR:RANG 1e-05;:SYST:ERR?')  # fmt: skip
    with proto([(message, OK)]) as smu:
        smu.channel(2).configure_voltage_source(i_compliance_a=1e-5, v_limit_v=2.0, i_range_a=1e-5)


def test_configure_raises_with_the_instruments_errors() -> None:
    with proto([(CONFIGURE, b'-222,"Data out of range"'), (b":SYST:ERR?", OK)]) as smu:
        with pytest.raises(InstrumentError, match="-222, Data out of range") as e:
            smu.channel(1).configure_voltage_source(i_compliance_a=1e-4, v_limit_v=4.5, nplc=0.1)
        assert e.value.errors == [(-222, "Data out of range")]


def test_configure_refuses_a_limit_beyond_210_v() -> None:
    with proto([]) as smu, pytest.raises(ValueError, match="v_limit_v"):
        smu.channel(1).configure_voltage_source(i_compliance_a=1e-4, v_limit_v=300)


def test_set_voltage_enable_measure() -> None:
    with proto([(b":SOUR1:VOLT 0.3;:SYST:ERR?", OK), (b":OUTP1 1;:SYST:ERR?", OK),
                (b":MEAS:CURR? (@1)", b"+2.500000E-05")]) as smu:  # fmt: skip
        ch = smu.channel(1)
        ch.set_voltage(0.3)
        ch.enable()
        assert ch.measure_current() == pytest.approx(25e-6)


def test_disable_turns_the_output_off_with_the_error_check() -> None:
    with proto([(b":OUTP2 0;:SYST:ERR?", OK)]) as smu:
        smu.channel(2).disable()


# -- sharing a line with a pulse channel -------------------------------------------------------
def test_release_when_off_is_high_impedance_and_output_off_in_one_message() -> None:
    with proto([(b":OUTP1:OFF:MODE HIZ;:OUTP1 0;:SYST:ERR?", OK)]) as smu:
        smu.channel(1).release_when_off()


READ_AT = b":SOUR1:VOLT 0;:OUTP1 1;:SOUR1:VOLT 0.2;:MEAS:CURR? (@1);:SOUR1:VOLT 0;"


@pytest.mark.parametrize(("hold", "tail"), [(False, b":OUTP1 0;:SYST:ERR?"), (True, b":SYST:ERR?")])
def test_read_at_is_one_message_from_0_v_back_to_0_v(hold: bool, tail: bytes) -> None:
    """Output on at 0 V, level, spot measurement, level 0 V, output off (or on at 0 V), error
    query; the reply is the reading and the error entry."""
    with proto([(READ_AT + tail, b'-1.234500E-07;+0,"No error"')]) as smu:
        assert smu.channel(1).read_at(0.2, hold=hold) == pytest.approx(-1.2345e-7)


def test_read_at_on_channel_2() -> None:
    message = (b":SOUR2:VOLT 0;:OUTP2 1;:SOUR2:VOLT 1.5;:MEAS:CURR? (@2);:SOUR2:VOLT 0;:OUTP2 0;"
               b":SYST:ERR?")  # fmt: skip
    with proto([(message, b'+2.000000E-06;+0,"No error"')]) as smu:
        assert smu.channel(2).read_at(1.5) == pytest.approx(2e-6)


def test_read_at_carries_the_other_channels_gate_levels() -> None:
    """A gate on channel 2: its read level first, its next level after the drive is off, all in
    the read's one message; a channel of another instrument is refused before sending."""
    message = b":SOUR2:VOLT 1.2;" + READ_AT + b":OUTP1 0;:SOUR2:VOLT 3.3;:SYST:ERR?"
    with proto([(message, b'-1.234500E-07;+0,"No error"')]) as smu:
        gate = GateLevels(smu.channel(2), 1.2, 3.3)
        assert smu.channel(1).read_at(0.2, gate=gate) == pytest.approx(-1.2345e-7)
    with proto([]) as smu, proto([]) as other, pytest.raises(ValueError, match="not one of"):
        smu.channel(1).read_at(0.2, gate=GateLevels(other.channel(2), 1.2, 3.3))


def test_read_at_raises_every_error_the_b2902_queued() -> None:
    with proto([(READ_AT + b":OUTP1 0;:SYST:ERR?", b'+1.000000E-06;-222,"Data out of range"'),
                (b"SYST:ERR?", b'-221,"Settings conflict"'), (b"SYST:ERR?", OK)]) as smu:  # fmt: skip
        with pytest.raises(InstrumentError) as e:
            smu.channel(1).read_at(0.2)
        assert e.value.errors == [(-222, "Data out of range"), (-221, "Settings conflict")]


@pytest.mark.parametrize("reply", [b'+0,"No error"', b"#?garbage", b"+1.000000E-06;x"])
def test_read_at_calls_a_reply_without_a_reading_or_error_garbled(reply: bytes) -> None:
    """A ValueError: what the bench's read policy retries (after a device clear)."""
    with proto([(READ_AT + b":OUTP1 0;:SYST:ERR?", reply)]) as smu, pytest.raises(ValueError):
        smu.channel(1).read_at(0.2)


def test_read_at_refuses_a_level_beyond_210_v_before_sending() -> None:
    with proto([]) as smu, pytest.raises(ValueError):
        smu.channel(1).read_at(250.0)


def test_sweep_is_a_list_sweep_with_buffered_read_back() -> None:
    pairs = [
        (b":SOUR1:VOLT:MODE LIST;:SOUR1:LIST:VOLT 0,0.1,0.2;:TRIG1:SOUR AINT;"
         b":TRIG1:ACQ:DEL 0.001;:TRIG1:COUN 3;:SYST:ERR?", OK),
        (b":INIT (@1);*OPC?", b"1"),
        (b":FETC:ARR:CURR? (@1)", b"+1.000000E-09,+2.000000E-09,+3.000000E-09"),
        (b":SOUR1:VOLT:MODE FIX;:SYST:ERR?", OK),
    ]  # fmt: skip
    with proto(pairs) as smu:
        out = smu.channel(1).sweep([0.0, 0.1, 0.2], delay_s=1e-3)
    assert isinstance(out, np.ndarray) and out == pytest.approx([1e-9, 2e-9, 3e-9])


def test_long_sweeps_load_the_list_in_chunks_of_100() -> None:
    levels = [round(0.01 * k, 2) for k in range(150)]
    first = ",".join(f"{v:g}" for v in levels[:100]).encode()
    rest = ",".join(f"{v:g}" for v in levels[100:]).encode()
    reply = ",".join(["+1.000000E-09"] * 150).encode()
    pairs = [
        (b":SOUR2:VOLT:MODE LIST;:SOUR2:LIST:VOLT " + first + b";:SOUR2:LIST:VOLT:APP " + rest
         + b";:TRIG2:SOUR AINT;:TRIG2:ACQ:DEL 0;:TRIG2:COUN 150;:SYST:ERR?", OK),
        (b":INIT (@2);*OPC?", b"1"),
        (b":FETC:ARR:CURR? (@2)", reply),
        (b":SOUR2:VOLT:MODE FIX;:SYST:ERR?", OK),
    ]  # fmt: skip
    with proto(pairs) as smu:
        assert len(smu.channel(2).sweep(levels)) == 150


def test_sweep_of_nothing_sends_nothing() -> None:
    with proto([]) as smu:
        assert smu.channel(1).sweep([]).size == 0


def test_safe_state_per_channel_and_for_both() -> None:
    one = b":ABOR (@1);:SOUR1:VOLT:MODE FIX;:SOUR1:VOLT 0;:OUTP1 0"
    two = b":ABOR (@2);:SOUR2:VOLT:MODE FIX;:SOUR2:VOLT 0;:OUTP2 0"
    with proto([(one, None), (one + b";" + two, None)]) as smu:
        smu.channel(1).safe_state()
        smu.safe_state()


def test_check_errors_reads_the_queue_until_empty_and_raises() -> None:
    with proto([(b"SYST:ERR?", b'-113,"Undefined header"'), (b"SYST:ERR?", OK)]) as smu:
        with pytest.raises(InstrumentError) as e:
            smu.check_errors()
        assert e.value.errors == [(-113, "Undefined header")]
    with proto([(b"SYST:ERR?", OK)]) as smu:
        assert smu.check_errors() == []
