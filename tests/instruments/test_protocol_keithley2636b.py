"""Keithley 2636B driver transcripts (pymeasure `expected_protocol`), in the TSP forms of the
Series 2600B Reference Manual: attributes set by assignment, read by print(), statements of one
batch joined by ';', the error queue read with print(errorqueue.next())."""

from __future__ import annotations

import numpy as np
import pytest
from _transcripts import control_transcript
from pymeasure.test import expected_protocol

from reramlab.instruments.base import InstrumentError
from reramlab.instruments.keithley2636b import Keithley2636B
from reramlab.instruments.roles import GateLevels, SourceMeter

EMPTY = b"print(errorqueue.next())"
#: what ends the chunk of a checked batch: the error count, read in the same exchange
COUNT = b";print(errorqueue.count)"
OK = b"0\tQueue Is Empty\t0\t0"


def proto(pairs):
    return expected_protocol(Keithley2636B, pairs)


# -- properties: (name, smu, value, set message, print reply) --------------------------------
CONTROLS = [
    ("source_function", "a", "VOLT", b"smua.source.func = 1", b"1"),
    ("source_level_v", "a", 0.5, b"smua.source.levelv = 0.5", b"0.5"),
    ("source_range_v", "b", 20.0, b"smub.source.rangev = 20", b"20"),
    ("source_range_auto", "a", False, b"smua.source.autorangev = 0", b"0"),
    ("source_delay_s", "a", 1e-3, b"smua.source.delay = 0.001", b"0.001"),
    ("compliance_a", "b", 1e-4, b"smub.source.limiti = 0.0001", b"0.0001"),
    ("nplc", "a", 0.1, b"smua.measure.nplc = 0.1", b"0.1"),
    ("current_range_a", "a", 1e-6, b"smua.measure.rangei = 1e-06", b"1e-06"),
    ("current_range_auto", "b", True, b"smub.measure.autorangei = 1", b"1"),
    ("output_enabled", "a", True, b"smua.source.output = 1", b"1"),
    ("output_off_mode", "b", "HIGH_Z", b"smub.source.offmode = 2", b"2"),
]


@pytest.mark.parametrize(("name", "smu", "value", "message", "reply"), CONTROLS)
def test_control(name, smu, value, message, reply) -> None:
    query = b"print(" + message.split(b" = ")[0] + b")"
    control_transcript(Keithley2636B, lambda k: k.channel(smu), name, value, message, query, reply)


@pytest.mark.parametrize(
    ("name", "value"),
    [("source_level_v", 300.0), ("compliance_a", 2.0), ("nplc", 50.0), ("source_range_v", 5.0),
     ("output_off_mode", "FLOAT"), ("source_function", "OHMS")],
)  # fmt: skip
def test_values_beyond_the_instrument_are_refused_before_sending(name, value) -> None:
    with proto([]) as k, pytest.raises(ValueError):
        setattr(k.channel("a"), name, value)


def test_measurements() -> None:
    with proto([(b"print(smua.source.compliance)", b"true"),
                (b"print(smub.source.compliance)", b"false"),
                (b"print(smua.measure.i())", b"1.5e-07"),
                (b"print(smub.nvbuffer1.n)", b"3"),
                (b"print(localnode.model)", b"2636B"),
                (b"print(errorqueue.count)", b"2")]) as k:  # fmt: skip
        assert k.smua.compliance_tripped is True
        assert k.smub.compliance_tripped is False
        assert k.smua.current_a == pytest.approx(1.5e-7)
        assert k.smub.buffer_count == 3
        assert k.model == "2636B"
        assert k.error_count == 2


def test_channels_and_their_aliases() -> None:
    with proto([]) as k:
        assert k.channel("a") is k.smua and k.channel(1) is k.smua and k.channel("smua") is k.smua
        assert k.channel("B") is k.smub and k.channel(2) is k.smub
        assert isinstance(k.smua, SourceMeter) and isinstance(k.smub, SourceMeter)
        with pytest.raises(ValueError, match="'a' and 'b'"):
            k.channel("c")


def test_reset_one_smu() -> None:
    with proto([(b"smub.reset()", None)]) as k:
        k.smub.reset()


# -- SourceMeter role ------------------------------------------------------------------------
CONFIGURE = (b"smua.source.func = 1;smua.source.levelv = 0;smua.source.rangev = 20;"
             b"smua.source.limiti = 0.0001;smua.measure.nplc = 0.1;smua.measure.autorangei = 1")  # fmt: skip


def test_configure_voltage_source_is_one_chunk_ending_with_the_error_count() -> None:
    with proto([(CONFIGURE + COUNT, b"0")]) as k:
        k.smua.configure_voltage_source(i_compliance_a=1e-4, v_limit_v=4.5, nplc=0.1)


def test_configure_with_a_fixed_current_range_and_the_2_v_source_range() -> None:
    chunk = (b"smub.source.func = 1;smub.source.levelv = 0;smub.source.rangev = 2;"
             b"smub.source.limiti = 1e-05;smub.measure.nplc = 1;smub.measure.rangei = 1e-05")  # fmt: skip
    with proto([(chunk + COUNT, b"0")]) as k:
        k.smub.configure_voltage_source(i_compliance_a=1e-5, v_limit_v=2.0, i_range_a=1e-5)


def test_configure_raises_with_the_instruments_errors() -> None:
    with proto([(CONFIGURE + COUNT, b"1"), (EMPTY, b"-222\tParameter data out of range\t2\t1"),
                (EMPTY, OK)]) as k:  # fmt: skip
        with pytest.raises(InstrumentError) as e:
            k.smua.configure_voltage_source(i_compliance_a=1e-4, v_limit_v=4.5, nplc=0.1)
        assert e.value.errors == [(-222, "Parameter data out of range")]


def test_set_voltage_enable_measure() -> None:
    with proto([(b"smua.source.levelv = 0.3" + COUNT, b"0"),
                (b"smua.source.output = 1" + COUNT, b"0"),
                (b"print(smua.measure.i())", b"2.5e-05")]) as k:  # fmt: skip
        k.smua.set_voltage(0.3)
        k.smua.enable()
        assert k.smua.measure_current() == pytest.approx(25e-6)


def test_disable_turns_the_output_off_with_the_error_count() -> None:
    with proto([(b"smub.source.output = 0" + COUNT, b"0")]) as k:
        k.smub.disable()


# -- sharing a line with a pulse channel -------------------------------------------------------
def test_release_when_off_is_high_impedance_and_output_off_in_one_chunk() -> None:
    """smuX.source.offmode = 2 is smuX.OUTPUT_HIGH_Z (the output relay opens when off)."""
    with proto([(b"smua.source.offmode = 2;smua.source.output = 0" + COUNT, b"0")]) as k:
        k.smua.release_when_off()


#: the one-chunk read at 0.2 V on smua, written out as the 2636B receives it
READ_AT_SMUA = (
    b"local ok, i = pcall(function() smua.source.levelv = 0 smua.source.output = 1 "
    b"smua.source.levelv = 0.2 return smua.measure.i() end) smua.source.levelv = 0 "
    b"smua.source.output = 0 print(ok, i, errorqueue.count)"
)
#: the same with `hold`: the output stays on at 0 V
READ_AT_SMUA_HOLD = (
    b"local ok, i = pcall(function() smua.source.levelv = 0 smua.source.output = 1 "
    b"smua.source.levelv = 0.2 return smua.measure.i() end) smua.source.levelv = 0 "
    b"print(ok, i, errorqueue.count)"
)


@pytest.mark.parametrize("hold", [False, True])
def test_read_at_is_one_chunk_from_0_v_back_to_0_v(hold: bool) -> None:
    """Output on at 0 V, level, measure.i(), level 0 V, output off (or on at 0 V), under pcall
    so that a failure still ends at 0 V (output off) and replies; the reply is pcall's flag,
    the reading and the error count."""
    chunk = READ_AT_SMUA_HOLD if hold else READ_AT_SMUA
    with proto([(chunk, b"true\t-1.2345e-07\t0")]) as k:
        assert k.smua.read_at(0.2, hold=hold) == pytest.approx(-1.2345e-7)


def test_read_at_on_smub() -> None:
    chunk = (
        b"local ok, i = pcall(function() smub.source.levelv = 0 smub.source.output = 1 "
        b"smub.source.levelv = 1.5 return smub.measure.i() end) smub.source.levelv = 0 "
        b"smub.source.output = 0 print(ok, i, errorqueue.count)"
    )
    with proto([(chunk, b"true\t2e-06\t0")]) as k:
        assert k.smub.read_at(1.5) == pytest.approx(2e-6)


def test_read_at_carries_the_other_smus_gate_levels() -> None:
    """A gate on smub: its read level inside the pcall before the drive's, its next level after
    the drive's output off, in the read's one chunk; another instrument's SMU is refused."""
    chunk = (
        b"local ok, i = pcall(function() smub.source.levelv = 1.2 smua.source.levelv = 0 "
        b"smua.source.output = 1 smua.source.levelv = 0.2 return smua.measure.i() end) "
        b"smua.source.levelv = 0 smua.source.output = 0 smub.source.levelv = 3.3 "
        b"print(ok, i, errorqueue.count)"
    )
    with proto([(chunk, b"true\t-1.2345e-07\t0")]) as k:
        assert k.smua.read_at(0.2, gate=GateLevels(k.smub, 1.2, 3.3)) == pytest.approx(-1.2345e-7)
    with proto([]) as k, proto([]) as other, pytest.raises(ValueError, match="not one of"):
        k.smua.read_at(0.2, gate=GateLevels(other.smub, 1.2, 3.3))


def test_read_at_raises_every_error_the_2636b_queued() -> None:
    pairs = [
        (READ_AT_SMUA, b"false\tParameter data out of range\t2"),
        (EMPTY, b"-222\tParameter data out of range\t2\t1"),
        (EMPTY, b"-221\tSettings conflict\t2\t1"),
        (EMPTY, OK),
    ]
    with proto(pairs) as k:
        with pytest.raises(InstrumentError) as e:
            k.smua.read_at(0.2)
        assert e.value.errors == [
            (-222, "Parameter data out of range"),
            (-221, "Settings conflict"),
        ]


def test_read_at_raises_a_lua_error_that_queued_nothing() -> None:
    with proto([(READ_AT_SMUA, b"false\t[string]:1: attempt to call a nil value\t0")]) as k:
        with pytest.raises(InstrumentError, match="attempt to call a nil value") as e:
            k.smua.read_at(0.2)
        assert e.value.errors == []


@pytest.mark.parametrize("reply", [b"1.5e-07", b"true\tnil\t0", b"true\t1e-07\tx", b"ok\t1e-07\t0"])
def test_read_at_calls_a_reply_without_a_reading_garbled(reply: bytes) -> None:
    """A ValueError: what the bench's read policy retries (after a device clear)."""
    with proto([(READ_AT_SMUA, reply)]) as k, pytest.raises(ValueError):
        k.smua.read_at(0.2)


def test_read_at_refuses_a_level_beyond_202_v_before_sending() -> None:
    with proto([]) as k, pytest.raises(ValueError):
        k.smua.read_at(250.0)


SCRIPT = "\n".join([
    "loadandrunscript",
    "format.data = format.ASCII",
    "smub.nvbuffer1.clear()",
    "smub.trigger.source.listv({0, 0.1, 0.2})",
    "smub.trigger.source.action = smub.ENABLE",
    "smub.trigger.measure.action = smub.ENABLE",
    "smub.trigger.measure.i(smub.nvbuffer1)",
    "smub.trigger.endsweep.action = smub.SOURCE_IDLE",
    "smub.source.delay = 0.001",
    "smub.trigger.count = 3",
    "smub.trigger.arm.count = 1",
    "smub.trigger.initiate()",
    "waitcomplete()",
    "smub.source.delay = 0",
    "endscript",
]).encode()  # fmt: skip


def test_sweep_runs_the_trigger_model_in_one_script_and_reads_the_buffer() -> None:
    pairs = [
        (SCRIPT, None),
        (b"printbuffer(1, 3, smub.nvbuffer1.readings)", b"1.00000e-09, 2.00000e-09, 3.00000e-09"),
        (EMPTY, OK),
    ]
    with proto(pairs) as k:
        out = k.smub.sweep([0.0, 0.1, 0.2], delay_s=1e-3)
    assert isinstance(out, np.ndarray) and out == pytest.approx([1e-9, 2e-9, 3e-9])


def test_sweep_refuses_a_negative_delay_and_sends_nothing_for_no_levels() -> None:
    with proto([]) as k:
        assert k.smua.sweep([]).size == 0
        with pytest.raises(ValueError):
            k.smua.sweep([0.1], delay_s=-1)


def test_safe_state_per_smu_and_for_both() -> None:
    a = b"smua.source.levelv = 0;smua.source.output = 0"
    b = b"smub.source.levelv = 0;smub.source.output = 0"
    with proto([(a, None), (a + b";" + b, None)]) as k:
        k.smua.safe_state()
        k.safe_state()


def test_check_errors_parses_tab_separated_entries_and_raises() -> None:
    message = b"-285\tTSP Syntax error at line 1: unexpected symbol near `*'\t2\t1"
    with proto([(EMPTY, message), (EMPTY, OK)]) as k:
        with pytest.raises(InstrumentError) as e:
            k.check_errors()
        assert e.value.errors == [(-285, "TSP Syntax error at line 1: unexpected symbol near `*'")]
    with proto([(EMPTY, OK)]) as k:
        assert k.check_errors() == []
