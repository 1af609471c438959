"""Keysight 33600A / 33500B driver transcripts (pymeasure `expected_protocol`), in the command
forms of the 33500/33600 Series User's Guide: channel number on the root node (SOUR2:, OUTP2:,
TRIG2:), related settings in one message with the error check."""

from __future__ import annotations

import pytest
from _transcripts import control_transcript
from pymeasure.test import expected_protocol

from reramlab.instruments.base import InstrumentError
from reramlab.instruments.keysight33600a import Keysight33500B, Keysight33600A
from reramlab.instruments.roles import PulseChannel, PulseGenerator

OK = b'+0,"No error"'
PRESENT = b"+1.000000000000000E-03;+5.000000000000000E-02"  # *RST period 1 ms, high 50 mV


def proto(pairs, cls=Keysight33600A):
    return expected_protocol(cls, pairs)


# -- properties added to pymeasure's Agilent33500 channel ------------------------------------
CONTROLS = [
    ("pulse_transition_leading", 1, 5e-9, b"SOUR1:FUNC:PULS:TRAN:LEAD 5.000000e-09", b"+5.0E-09"),
    ("pulse_transition_trailing", 2, 1e-8, b"SOUR2:FUNC:PULS:TRAN:TRA 1.000000e-08", b"+1.0E-08"),
    ("limit_high", 1, 2.0, b"SOUR1:VOLT:LIM:HIGH 2", b"+2.0E+00"),
    ("limit_low", 2, -0.5, b"SOUR2:VOLT:LIM:LOW -0.5", b"-5.0E-01"),
    ("limit_state_enabled", 1, True, b"SOUR1:VOLT:LIM:STAT 1", b"1"),
    ("trigger_source", 2, "BUS", b"TRIG2:SOUR BUS", b"BUS"),
    ("trigger_delay", 2, 1e-7, b"TRIG2:DEL 1.000000e-07", b"+1.0E-07"),
]


@pytest.mark.parametrize(("name", "ch", "value", "message", "reply"), CONTROLS)
def test_control(name, ch, value, message, reply) -> None:
    query = message.split(b" ")[0] + b"?"
    control_transcript(
        Keysight33600A, lambda pg: pg.channel(ch), name, value, message, query, reply
    )


def test_inherited_pulse_commands_with_this_models_ranges() -> None:
    with proto([(b"SOUR1:FUNC:PULS:WIDT 5.000000e-09", None),
                (b"SOUR2:FUNC:PULS:PER 1.000000e-08", None),
                (b"SOUR1:VOLT:HIGH 9.000000", None),
                (b"SOUR2:BURS:NCYC 100000000", None)]) as pg:  # fmt: skip
        pg.channel(1).pulse_width = 5e-9
        pg.channel(2).pulse_period = 10e-9
        pg.channel(1).voltage_high = 9.0  # into high Z
        pg.channel(2).burst_ncycles = 100_000_000
        with pytest.raises(ValueError):
            pg.channel(1).pulse_width = 4e-9
        with pytest.raises(ValueError):
            pg.channel(1).voltage_high = 10.5


def test_the_33500b_has_slower_edges_and_wider_pulses() -> None:
    with proto([(b"SOUR1:FUNC:PULS:WIDT 1.600000e-08", None)], Keysight33500B) as pg:
        pg.channel(1).pulse_width = 16e-9
        for name, value in (("pulse_width", 10e-9), ("pulse_transition", 5e-9),
                            ("pulse_transition_leading", 5e-9), ("pulse_period", 20e-9)):  # fmt: skip
            with pytest.raises(ValueError):
                setattr(pg.channel(1), name, value)


def test_period_and_high_is_one_chained_query() -> None:
    with proto([(b"SOUR2:FUNC:PULS:PER?;:SOUR2:VOLT:HIGH?", PRESENT)]) as pg:
        assert pg.channel(2).period_and_high == pytest.approx([1e-3, 0.05])


# -- PulseGenerator / PulseChannel roles -----------------------------------------------------


def arm(ch: int) -> bytes:
    """Pulse function, triggered burst from the bus, high-Z load: the first message."""
    return (f":SOUR{ch}:FUNC PULS;:TRIG{ch}:SOUR BUS;:SOUR{ch}:BURS:MODE TRIG;"
            f":SOUR{ch}:BURS:STAT 1;:OUTP{ch}:LOAD INF").encode()  # fmt: skip


ARM = arm(1)


def test_roles() -> None:
    with proto([]) as pg:
        assert isinstance(pg, PulseGenerator)
        assert isinstance(pg.channel(1), PulseChannel) and isinstance(pg.channel(2), PulseChannel)
        with pytest.raises(ValueError, match="has channels"):
            pg.channel(0)


SHAPE = {"v_high": 1.5, "width_s": 60e-9, "period_s": 240e-9, "rise_s": 5e-9, "fall_s": 5e-9}


def configure_pairs(edge_s: float = 5e-9, check_reply: bytes = OK) -> list:
    """Channel 1, 60 ns / 240 ns pulse to 1.5 V from *RST state: the two messages."""
    return [
        (ARM + b";:SOUR1:FUNC:PULS:PER?;:SOUR1:VOLT:HIGH?", PRESENT),
        (b":SOUR1:FUNC:PULS:WIDT 6.000000e-08;:SOUR1:FUNC:PULS:PER 2.400000e-07;"
         + f":SOUR1:FUNC:PULS:TRAN:BOTH {edge_s:e};".encode()
         + b":TRIG1:DEL 0.000000e+00;:SOUR1:VOLT:LOW 0.000000;:SOUR1:VOLT:HIGH 1.500000;"
         b":SYST:ERR?", check_reply),
    ]  # fmt: skip


def test_configure_pulse_arms_declares_the_load_then_sets_levels_and_timing() -> None:
    with proto(configure_pairs()) as pg:
        pg.channel(1).configure_pulse(**SHAPE)


def test_configure_pulse_orders_pairs_that_would_cross() -> None:
    """A period longer than the present one goes before the width; a low level above the
    present high level goes after the high level. Unequal edges go separately."""
    pairs = [
        (arm(2) + b";:SOUR2:FUNC:PULS:PER?;:SOUR2:VOLT:HIGH?", b"+1.0E-06;+5.0E-01"),
        (b":SOUR2:FUNC:PULS:PER 1.000000e-05;:SOUR2:FUNC:PULS:WIDT 2.000000e-06;"
         b":SOUR2:FUNC:PULS:TRAN:LEAD 5.000000e-09;:SOUR2:FUNC:PULS:TRAN:TRA 2.000000e-08;"
         b":TRIG2:DEL 1.000000e-06;:SOUR2:VOLT:HIGH 3.000000;:SOUR2:VOLT:LOW 1.000000;"
         b":SYST:ERR?", OK),
    ]  # fmt: skip
    with proto(pairs) as pg:
        pg.channel(2).configure_pulse(v_high=3.0, v_low=1.0, width_s=2e-6, period_s=10e-6,
                                      rise_s=5e-9, fall_s=20e-9, delay_s=1e-6)  # fmt: skip


def test_configure_pulse_with_the_present_shape_known_is_one_message() -> None:
    """The caller knows the period and high level the channel holds (the bench's last set-up):
    no query; the pairs are ordered against them; set-up and error check in one message."""
    message = (ARM + b";:SOUR1:FUNC:PULS:PER 2.400000e-07;:SOUR1:FUNC:PULS:WIDT 6.000000e-08;"
               b":SOUR1:FUNC:PULS:TRAN:BOTH 5.000000e-09;:TRIG1:DEL 0.000000e+00;"
               b":SOUR1:VOLT:LOW 0.000000;:SOUR1:VOLT:HIGH 1.500000;:SYST:ERR?")  # fmt: skip
    with proto([(message, OK)]) as pg:
        pg.channel(1).configure_pulse(**SHAPE, present=(50e-9, 2.0))


def test_edges_below_the_33500b_minimum_get_the_minimum() -> None:
    with proto(configure_pairs(edge_s=8.4e-9), Keysight33500B) as pg:
        pg.channel(1).configure_pulse(**SHAPE)


def test_configure_pulse_refuses_impossible_shapes_before_sending() -> None:
    with proto([]) as pg:
        ch = pg.channel(1)
        with pytest.raises(ValueError, match="v_high"):
            ch.configure_pulse(v_high=0.0, width_s=60e-9, period_s=1e-6, rise_s=5e-9, fall_s=5e-9)
        with pytest.raises(ValueError, match="width_s"):
            ch.configure_pulse(v_high=1.0, width_s=1e-6, period_s=1e-6, rise_s=5e-9, fall_s=5e-9)


def test_configure_pulse_raises_with_the_instruments_errors() -> None:
    pairs = [*configure_pairs(check_reply=b'-222,"Data out of range"'), (b":SYST:ERR?", OK)]
    with proto(pairs) as pg, pytest.raises(InstrumentError, match="-222"):
        pg.channel(1).configure_pulse(**SHAPE)


def test_enable_rearms_in_the_same_message_and_disable() -> None:
    with proto([(b":TRIG2:SOUR BUS;:SOUR2:BURS:STAT 1;:OUTP2 1;:SYST:ERR?", OK),
                (b":OUTP2 0;:SYST:ERR?", OK)]) as pg:  # fmt: skip
        pg.channel(2).enable()
        pg.channel(2).disable()


def test_fire_sets_both_burst_counts_and_sends_one_trigger() -> None:
    # the error query after *WAI is answered once the burst is out: one message, one reply
    with proto([(b":SOUR1:BURS:NCYC 1000;:SOUR2:BURS:NCYC 1000;*TRG;*WAI;:SYST:ERR?", OK)]) as pg:
        pg.fire(1000)
    with proto([]) as pg:
        for bad in (0, 1.5, True):
            with pytest.raises(ValueError):
                pg.fire(bad)


def test_set_voltage_limits() -> None:
    with proto([(b":SOUR1:VOLT:LIM:LOW -0.5;:SOUR1:VOLT:LIM:HIGH 2;:SOUR1:VOLT:LIM:STAT 1;"
                 b":SYST:ERR?", OK)]) as pg:  # fmt: skip
        pg.set_voltage_limits(1, -0.5, 2.0)
    with proto([]) as pg, pytest.raises(ValueError):
        pg.set_voltage_limits(1, 2.0, -0.5)


def test_safe_state_turns_outputs_off_then_idles_the_levels() -> None:
    # the load is declared high-Z before the idle levels: 0.1 V for 50 ohm would be 0.2 V on a cell
    pairs = [
        (b":OUTP1 0;:OUTP2 0;:OUTP1:LOAD INF;:SOUR1:FUNC:PULS:PER?;:SOUR1:VOLT:HIGH?",
         b"+2.4E-07;+1.5E+00"),
        (b":SOUR1:VOLT:LOW 0.000000;:SOUR1:VOLT:HIGH 0.100000;:OUTP2:LOAD INF;"
         b":SOUR2:FUNC:PULS:PER?;:SOUR2:VOLT:HIGH?", b"+2.4E-07;+1.5E+00"),
        (b":SOUR2:VOLT:LOW 0.000000;:SOUR2:VOLT:HIGH 0.100000", None),
    ]  # fmt: skip
    with proto(pairs) as pg:
        pg.safe_state()


def test_check_errors_reads_the_queue_until_empty_and_raises() -> None:
    with proto([(b"SYST:ERR?", b'-113,"Undefined header"'), (b"SYST:ERR?", OK)]) as pg:
        with pytest.raises(InstrumentError) as e:
            pg.check_errors()
        assert e.value.errors == [(-113, "Undefined header")]
