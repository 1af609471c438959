"""Keysight 33600A / 33500B Trueform generators as two-channel pulse generators.

Built on pymeasure's ``Agilent33500`` (same SCPI family: ``SOUR<n>:FUNC:PULS:WIDT``,
``SOUR<n>:VOLT:HIGH``, ``OUTP<n>:LOAD``, ``SOUR<n>:BURS:NCYC``); the subclasses set this model's
ranges and add what a pulse bench needs and the base lacks: per-channel trigger source and delay
(``TRIG<n>:SOUR``, ``TRIG<n>:DEL``), separate leading/trailing edges and the instrument-side level
clamp (``SOUR<n>:VOLT:LIM:HIGH/LOW/STAT``, named as on pymeasure's 81160A).

Each channel is a PulseChannel: ``configure_pulse`` declares a high-impedance load before any
level, and puts the channel in triggered-burst mode with the bus as trigger source before its
output can go on, so turning the output on never free-runs pulses into the chip. The channel's
delay is its trigger delay. ``fire(n)`` sets the burst count on both channels and sends one
``*TRG;*WAI``; the error query after it is answered once the burst is out.
"""

from __future__ import annotations

from pymeasure.instruments import Instrument
from pymeasure.instruments.agilent.agilent33500 import Agilent33500, Agilent33500Channel
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from .base import DriverMixin
from .pulse_generator import PulseChannelMixin, PulseGeneratorMixin, ordered_pair

BOOL = {True: 1, False: 0}


class Keysight33600AChannel(PulseChannelMixin, Agilent33500Channel):
    """One 33600A output channel, used as a pulse channel into a high-impedance cell."""

    #: shortest edge the model makes; shorter requests get this edge (the instrument's MINimum)
    TRANSITION_MIN_S = 2.9e-9

    pulse_period_values = [10e-9, 1e6]
    pulse_width_values = [5e-9, 1e6]
    pulse_transition_values = [2.9e-9, 1e-6]
    voltage_high_values = [-10.0, 10.0]  # into high Z; +-5 V into 50 ohm
    voltage_low_values = [-10.0, 10.0]
    burst_ncycles_values = [1, 100_000_000]

    pulse_transition_leading = Instrument.control(
        "SOUR{ch}:FUNC:PULS:TRAN:LEAD?", "SOUR{ch}:FUNC:PULS:TRAN:LEAD %e",
        """Control the leading (rising) edge time in s (float).""",
        validator=strict_range, values=[2.9e-9, 1e-6], dynamic=True,
    )  # fmt: skip
    pulse_transition_trailing = Instrument.control(
        "SOUR{ch}:FUNC:PULS:TRAN:TRA?", "SOUR{ch}:FUNC:PULS:TRAN:TRA %e",
        """Control the trailing (falling) edge time in s (float).""",
        validator=strict_range, values=[2.9e-9, 1e-6], dynamic=True,
    )  # fmt: skip
    limit_high = Instrument.control(
        "SOUR{ch}:VOLT:LIM:HIGH?", "SOUR{ch}:VOLT:LIM:HIGH %g",
        """Control the high-level voltage clamp in V (float).""",
        validator=strict_range, values=[-10.0, 10.0],
    )  # fmt: skip
    limit_low = Instrument.control(
        "SOUR{ch}:VOLT:LIM:LOW?", "SOUR{ch}:VOLT:LIM:LOW %g",
        """Control the low-level voltage clamp in V (float).""",
        validator=strict_range, values=[-10.0, 10.0],
    )  # fmt: skip
    limit_state_enabled = Instrument.control(
        "SOUR{ch}:VOLT:LIM:STAT?", "SOUR{ch}:VOLT:LIM:STAT %d",
        """Control whether the level clamp is on (bool).""",
        validator=strict_discrete_set, values=BOOL, map_values=True,
    )  # fmt: skip
    trigger_source = Instrument.control(
        "TRIG{ch}:SOUR?", "TRIG{ch}:SOUR %s",
        """Control the channel's trigger source ('IMM', 'EXT', 'TIM' or 'BUS').""",
        validator=strict_discrete_set, values=["IMM", "EXT", "TIM", "BUS"], cast=str,
    )  # fmt: skip
    trigger_delay = Instrument.control(
        "TRIG{ch}:DEL?", "TRIG{ch}:DEL %e",
        """Control the delay from the trigger to the channel's burst in s (float).""",
        validator=strict_range, values=[0.0, 1000.0],
    )  # fmt: skip

    #: period last configured (*RST: 1 ms); sizes the timeout of a burst
    last_period_s: float = 1e-3

    period_and_high = Instrument.measurement(
        "SOUR{ch}:FUNC:PULS:PER?;:SOUR{ch}:VOLT:HIGH?",
        """Get the pulse period in s and the high level in V (list of two floats, one chained
        query): what orders the next width/period and low/high writes.""",
        separator=";",
    )  # fmt: skip

    # -- PulseChannel ------------------------------------------------------------------------
    def configure_pulse(
        self,
        *,
        v_high: float,
        width_s: float,
        period_s: float,
        rise_s: float,
        fall_s: float,
        delay_s: float = 0.0,
        v_low: float = 0.0,
        present: tuple[float, float] | None = None,
    ) -> None:
        """Pulse function in triggered-burst mode from the bus (never free-running), a
        high-impedance load declared before any level, then period/width and low/high (each pair
        in the order that keeps it valid), edges and this channel's trigger delay; one message
        with the present period and high level, one with the rest and the error check. Edges
        shorter than the model's minimum get the minimum. The output state is unchanged.

        `present` = (period s, high level V) the caller knows the channel holds (what it last
        configured on it): the query is skipped and everything goes in one message (as on the
        81160A; a wrong guess is refused by the instrument as a settings conflict, and the error
        check raises)."""
        if not v_low < v_high:
            raise ValueError(f"v_high {v_high} V must exceed v_low {v_low} V")
        if not 0 < width_s < period_s:
            raise ValueError(f"width_s {width_s} s must be positive and below period_s {period_s}")
        rise_s, fall_s = max(rise_s, self.TRANSITION_MIN_S), max(fall_s, self.TRANSITION_MIN_S)
        with self.parent.batch(check_errors=True):
            self.shape = "PULS"
            self.trigger_source = "BUS"
            self.burst_mode = "TRIG"
            self.burst_state = True
            self.output_load = "INF"
            present_period_s, present_high_v = self.period_and_high if present is None else present
            timing = ordered_pair(("pulse_width", width_s), ("pulse_period", period_s),
                                   present_period_s)  # fmt: skip
            levels = ordered_pair(("voltage_low", v_low), ("voltage_high", v_high),
                                   present_high_v)  # fmt: skip
            edges = ((("pulse_transition", rise_s),) if rise_s == fall_s else
                     (("pulse_transition_leading", rise_s), ("pulse_transition_trailing", fall_s)))  # fmt: skip
            for name, value in (*timing, *edges, ("trigger_delay", delay_s), *levels):
                setattr(self, name, value)
        self.last_period_s = period_s

    def enable(self) -> None:
        """Output on, in triggered-burst mode from the bus in the same message."""
        with self.parent.batch(check_errors=True):
            self.trigger_source = "BUS"
            self.burst_state = True
            self.output = True

    # output off and the idle levels: PulseChannelMixin (HIGH_Z_LOAD "INF")


class Keysight33600A(PulseGeneratorMixin, DriverMixin, Agilent33500):
    """Keysight 33600A (33611A/12A/21A/22A) as a PulseGenerator: ``channel(1)``, ``channel(2)``.

    .. code-block:: python

        pg = Keysight33600A("TCPIP0::192.168.1.20::inst0::INSTR")
        ch = pg.channel(1)
        ch.configure_pulse(v_high=1.5, width_s=60e-9, period_s=1e-6, rise_s=5e-9, fall_s=5e-9)
        ch.enable(); pg.fire(1000); ch.disable()
    """

    #: largest |level| into a high-impedance load (10 V EMF behind 50 ohm)
    V_MAX_V = 10.0

    ch_1 = Instrument.ChannelCreator(Keysight33600AChannel, 1)
    ch_2 = Instrument.ChannelCreator(Keysight33600AChannel, 2)

    def __init__(self, adapter, name: str = "Keysight 33600A waveform generator", **kwargs) -> None:
        super().__init__(adapter, name, **kwargs)

    # channel lookup, the level clamp and the safe state: PulseGeneratorMixin

    def fire(self, count: int) -> None:
        """Emit `count` periods on every enabled channel with one ``*TRG``: the burst count goes
        to both channels (a disabled one ignores it), then ``*TRG;*WAI`` and the error check,
        which ``*WAI`` holds back until the burst is out (the manual's *TRG/*WAI pairing). In
        a batch, what follows the fire (outputs off) rides in the same message and also waits
        for the burst."""
        if isinstance(count, bool) or int(count) != count or count < 1:
            raise ValueError(f"count must be a positive integer, not {count!r}")
        burst_s = count * max(ch.last_period_s for ch in self.channels.values())
        with self.timeout_at_least(2 * burst_s + 5.0), self.batch(check_errors=True):
            for ch in self.channels.values():
                ch.burst_ncycles = int(count)
            self.trigger()  # *TRG;*WAI


class Keysight33500BChannel(Keysight33600AChannel):
    """A 33500B channel: 16 ns pulses, 8.4 ns edges, 30 MHz pulse rate."""

    TRANSITION_MIN_S = 8.4e-9
    pulse_period_values = [33e-9, 1e6]
    pulse_width_values = [16e-9, 1e6]
    pulse_transition_values = [8.4e-9, 1e-6]
    pulse_transition_leading_values = [8.4e-9, 1e-6]
    pulse_transition_trailing_values = [8.4e-9, 1e-6]


class Keysight33500B(Keysight33600A):
    """Keysight 33500B (33511B/12B/21B/22B): the 33600A's commands with slower edges."""

    ch_1 = Instrument.ChannelCreator(Keysight33500BChannel, 1)
    ch_2 = Instrument.ChannelCreator(Keysight33500BChannel, 2)

    def __init__(self, adapter, name: str = "Keysight 33500B waveform generator", **kwargs) -> None:
        super().__init__(adapter, name, **kwargs)
