"""Keysight 81160A driver: command transcripts (81160A programming guide command forms)."""

from __future__ import annotations

import math

import pytest
from pymeasure.test import expected_protocol

from reramlab.instruments.base import InstrumentError
from reramlab.instruments.keysight81160a import Keysight81160A
from reramlab.instruments.roles import PulseChannel, PulseGenerator

CHANNELS = [1, 2]
NO_ERROR = '0,"No error"'


def test_init_does_not_talk_and_satisfies_the_roles() -> None:
    with expected_protocol(Keysight81160A, []) as pg:
        assert isinstance(pg, PulseGenerator)
        assert all(isinstance(pg.channel(n), PulseChannel) for n in CHANNELS)


@pytest.mark.parametrize("number", [0, 3, "1"])
def test_channel_rejects_unknown_numbers(number) -> None:
    with expected_protocol(Keysight81160A, []) as pg, pytest.raises(ValueError):
        pg.channel(number)


# -- channel properties -------------------------------------------------------------------------
#: the 300 ns pulse of the configure transcripts (0.6 -> 1.5 V, unequal edges, 10 ns delay)
SHAPE_300NS = dict(v_high=1.5, v_low=0.6, width_s=300e-9, period_s=1e-6, rise_s=2.5e-9,
                   fall_s=4e-9, delay_s=10e-9)  # fmt: skip


@pytest.mark.parametrize("ch", CHANNELS)
def test_pulse_delay(ch: int) -> None:
    with expected_protocol(
        Keysight81160A,
        [(f":PULS:DEL{ch} 2.000000e-08", None), (f":PULS:DEL{ch}?", "+2.000000E-08")],
    ) as pg:
        pg.channel(ch).pulse_delay = 20e-9
        assert pg.channel(ch).pulse_delay == pytest.approx(20e-9)
        with pytest.raises(ValueError):
            pg.channel(ch).pulse_delay = -1e-9


@pytest.mark.parametrize("ch", CHANNELS)
def test_leading_edge_uses_the_manual_form(ch: int) -> None:
    with expected_protocol(
        Keysight81160A,
        [(f":PULS:TRAN{ch} 2.500000e-09", None), (f":PULS:TRAN{ch}?", "+2.500000E-09")],
    ) as pg:
        pg.channel(ch).pulse_transition = 2.5e-9
        assert pg.channel(ch).pulse_transition == pytest.approx(2.5e-9)


@pytest.mark.parametrize("ch", CHANNELS)
def test_trailing_edge_and_its_coupling(ch: int) -> None:
    with expected_protocol(
        Keysight81160A,
        [
            (f":PULS:TRAN{ch}:TRA:AUTO 0", None),
            (f":PULS:TRAN{ch}:TRA:AUTO?", "0"),
            (f":PULS:TRAN{ch}:TRA 5.000000e-09", None),
            (f":PULS:TRAN{ch}:TRA?", "+5.000000E-09"),
        ],
    ) as pg:
        pg.channel(ch).pulse_transition_trailing_auto = False
        assert pg.channel(ch).pulse_transition_trailing_auto is False
        pg.channel(ch).pulse_transition_trailing = 5e-9
        assert pg.channel(ch).pulse_transition_trailing == pytest.approx(5e-9)
        with pytest.raises(ValueError):
            pg.channel(ch).pulse_transition_trailing = 0.1e-9


@pytest.mark.parametrize("ch", CHANNELS)
@pytest.mark.parametrize(
    ("ohm", "sent", "reply"), [(math.inf, "INF", "+9.900000E+37"), (50, "50", "+5.000000E+01")]
)
def test_output_load_accepts_high_impedance(ch: int, ohm: float, sent: str, reply: str) -> None:
    with expected_protocol(
        Keysight81160A, [(f":OUTP{ch}:LOAD {sent}", None), (f":OUTP{ch}:LOAD?", reply)]
    ) as pg:
        pg.channel(ch).output_load = ohm
        assert pg.channel(ch).output_load == ohm


@pytest.mark.parametrize("ohm", [0.1, 2e6, -math.inf])
def test_output_load_rejects_loads_out_of_range(ohm: float) -> None:
    with expected_protocol(Keysight81160A, []) as pg, pytest.raises(ValueError):
        pg.channel(1).output_load = ohm


def test_levels_cover_the_high_impedance_range() -> None:
    with expected_protocol(Keysight81160A, [(":VOLT1:HIGH 8.000000", None)]) as pg:
        pg.channel(1).voltage_high = 8.0
        with pytest.raises(ValueError):
            pg.channel(1).voltage_high = 10.5


@pytest.mark.parametrize(("state", "sent"), [(True, "1"), (False, "0")])
def test_burst_state_sends_the_right_boolean(state: bool, sent: str) -> None:
    with expected_protocol(Keysight81160A, [(f":BURS2:STAT {sent}", None)]) as pg:
        pg.channel(2).burst_state = state


@pytest.mark.parametrize("ch", CHANNELS)
def test_period_and_high_is_one_chained_query(ch: int) -> None:
    with expected_protocol(
        Keysight81160A, [(f":PULS:PER{ch}?;:VOLT{ch}:HIGH?", "+1.000000E-06;+1.500000E+00")]
    ) as pg:
        assert pg.channel(ch).period_and_high == [1e-6, 1.5]


# -- PulseChannel role --------------------------------------------------------------------------
def _configure_messages(ch: int, present: str, second: str) -> list[tuple[str, str | None]]:
    return [
        (
            f":OUTP{ch}:LOAD INF;:FUNC{ch} PULS;:ARM:SOUR{ch} MAN;:PULS:PER{ch}?;:VOLT{ch}:HIGH?",
            present,
        ),
        (second, NO_ERROR),
    ]


@pytest.mark.parametrize("ch", CHANNELS)
@pytest.mark.parametrize(
    ("present", "timing", "levels"),
    [
        # width below the present period (1 us): width first; low below the present high
        # (1 V): low first
        ("+1.000000E-06;+1.000000E+00", ("WIDT", "PER"), ("LOW", "HIGH")),
        # width not below the present period (200 ns), low above the present high (0.5 V):
        # period first, high first
        ("+2.000000E-07;+5.000000E-01", ("PER", "WIDT"), ("HIGH", "LOW")),
    ],
)
def test_configure_pulse_orders_pairs_so_they_never_invert(
    ch: int, present: str, timing: tuple[str, str], levels: tuple[str, str]
) -> None:
    value = {"WIDT": "3.000000e-07", "PER": "1.000000e-06", "LOW": "0.600000", "HIGH": "1.500000"}
    first = ";".join(f":PULS:{k}{ch} {value[k]}" for k in timing)
    last = ";".join(f":VOLT{ch}:{k} {value[k]}" for k in levels)
    second = (
        f"{first};:PULS:TRAN{ch} 2.500000e-09;:PULS:TRAN{ch}:TRA:AUTO 0;"
        f":PULS:TRAN{ch}:TRA 4.000000e-09;:PULS:DEL{ch} 1.000000e-08;{last};:SYST:ERR?"
    )
    with expected_protocol(Keysight81160A, _configure_messages(ch, present, second)) as pg:
        pg.channel(ch).configure_pulse(**SHAPE_300NS)


@pytest.mark.parametrize("ch", CHANNELS)
@pytest.mark.parametrize(
    "present, timing, levels",
    [
        ((1e-6, 1.0), ("WIDT", "PER"), ("LOW", "HIGH")),
        ((2e-7, 0.5), ("PER", "WIDT"), ("HIGH", "LOW")),
    ],
)
def test_configure_pulse_with_a_known_present_state_is_one_message(
    ch: int, present: tuple[float, float], timing: tuple[str, str], levels: tuple[str, str]
) -> None:
    value = {"WIDT": "3.000000e-07", "PER": "1.000000e-06", "LOW": "0.600000", "HIGH": "1.500000"}
    first = ";".join(f":PULS:{k}{ch} {value[k]}" for k in timing)
    last = ";".join(f":VOLT{ch}:{k} {value[k]}" for k in levels)
    message = (
        f":OUTP{ch}:LOAD INF;:FUNC{ch} PULS;:ARM:SOUR{ch} MAN;{first};:PULS:TRAN{ch} 2.500000e-09;"
        f":PULS:TRAN{ch}:TRA:AUTO 0;:PULS:TRAN{ch}:TRA 4.000000e-09;:PULS:DEL{ch} 1.000000e-08;"
        f"{last};:SYST:ERR?"
    )
    with expected_protocol(Keysight81160A, [(message, NO_ERROR)]) as pg:
        pg.channel(ch).configure_pulse(**SHAPE_300NS, present=present)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"v_high": 0.0, "v_low": 0.0},  # not above the low level
        {"v_high": 1.0, "width_s": 1e-6, "period_s": 1e-6},  # not below the period
        {"v_high": 1.0, "width_s": 0.0},
    ],
)
def test_configure_pulse_rejects_inverted_pairs_before_sending(kwargs: dict) -> None:
    args = {"width_s": 60e-9, "period_s": 1e-6, "rise_s": 2e-9, "fall_s": 2e-9} | kwargs
    with expected_protocol(Keysight81160A, []) as pg, pytest.raises(ValueError):
        pg.channel(1).configure_pulse(**args)


def test_configure_pulse_sends_no_setting_after_a_rejected_value() -> None:
    with (
        expected_protocol(
            Keysight81160A,
            [(":OUTP1:LOAD INF;:FUNC1 PULS;:ARM:SOUR1 MAN;:PULS:PER1?;:VOLT1:HIGH?", "1e-6;0.05")],
        ) as pg,
        pytest.raises(ValueError),
    ):
        pg.channel(1).configure_pulse(
            v_high=20.0, width_s=60e-9, period_s=1e-6, rise_s=2e-9, fall_s=2e-9
        )


@pytest.mark.parametrize("ch", CHANNELS)
def test_enable_arms_manually_in_the_same_message(ch: int) -> None:
    with expected_protocol(
        Keysight81160A,
        [
            (f":ARM:SOUR{ch} MAN;:OUTP{ch} 1;:SYST:ERR?", NO_ERROR),
            (f":OUTP{ch} 0;:SYST:ERR?", NO_ERROR),
        ],
    ) as pg:
        pg.channel(ch).enable()
        pg.channel(ch).disable()


# -- PulseGenerator role ------------------------------------------------------------------------
@pytest.mark.parametrize("ch", CHANNELS)
def test_set_voltage_limits(ch: int) -> None:
    with expected_protocol(
        Keysight81160A,
        [
            (
                f":VOLT{ch}:LIM:LOW -0.500000;:VOLT{ch}:LIM:HIGH 2.000000;:VOLT{ch}:LIM:STAT 1;"
                ":SYST:ERR?",
                NO_ERROR,
            ),
        ],
    ) as pg:
        pg.set_voltage_limits(ch, -0.5, 2.0)


def test_set_voltage_limits_rejects_inverted_limits() -> None:
    with expected_protocol(Keysight81160A, []) as pg, pytest.raises(ValueError):
        pg.set_voltage_limits(1, 1.0, 1.0)


@pytest.mark.parametrize("count", [1, 100_000])
def test_fire_sets_the_count_and_triggers_once(count: int) -> None:
    with expected_protocol(
        Keysight81160A,
        [(f":TRIG1:COUN {count};:TRIG2:COUN {count};*TRG;*WAI;:SYST:ERR?", NO_ERROR)],
    ) as pg:
        pg.fire(count)


@pytest.mark.parametrize("count", [0, -1, 2.5, True, 3e9])
def test_fire_rejects_bad_counts(count) -> None:
    with expected_protocol(Keysight81160A, []) as pg, pytest.raises(ValueError):
        pg.fire(count)


def test_fire_raises_what_the_instrument_reports() -> None:
    with (
        expected_protocol(
            Keysight81160A,
            [
                (":TRIG1:COUN 5;:TRIG2:COUN 5;*TRG;*WAI;:SYST:ERR?", '-221,"Settings conflict"'),
                (":SYST:ERR?", NO_ERROR),
            ],
        ) as pg,
        pytest.raises(InstrumentError) as info,
    ):
        pg.fire(5)
    assert info.value.errors == [(-221, "Settings conflict")]


def test_safe_state_turns_outputs_off_then_levels_to_zero() -> None:
    with expected_protocol(
        Keysight81160A,
        [
            (
                ":OUTP1 0;:OUTP2 0;:OUTP1:LOAD INF;:PULS:PER1?;:VOLT1:HIGH?",
                "+1.000000E-06;+1.500000E+00",
            ),
            (
                ":VOLT1:LOW 0.000000;:VOLT1:HIGH 0.100000;:OUTP2:LOAD INF;:PULS:PER2?;:VOLT2:HIGH?",
                "+1.000000E-06;-5.000000E-01",
            ),
            (":VOLT2:HIGH 0.100000;:VOLT2:LOW 0.000000", None),
        ],
    ) as pg:
        pg.safe_state()
