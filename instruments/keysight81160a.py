"""Keysight 81160A pulse/function generator, as a `PulseGenerator` with `PulseChannel`s.

Extends pymeasure's `Keysight81160A`: the channel gains the pulse delay, the trailing edge (and
its coupling to the leading edge), a high-impedance load setting (`math.inf` -> `INF`), a chained
period/high-level query and the role methods. Arming (`:ARM:SOUR{ch}`, pymeasure's
`trigger_mode`) and the trigger count (`:TRIG{ch}:COUN`, `trigger_count`) come from pymeasure.
The channel number is the node suffix (`:VOLT1:HIGH`, `:PULS:DEL2`), as in the 81160A manual.

Safety order of `configure_pulse`: the load is declared before any level (levels are displayed
for the declared load: a 50-ohm setting drives about twice the level into a cell), the channel
is armed manually before its output is ever turned on (no free-running pulse train), and every
pair that must stay ordered (width < period, low < high) is written in the order that keeps it
ordered after each command.
"""

from __future__ import annotations

import math

from pymeasure.adapters import Adapter
from pymeasure.instruments import Instrument
from pymeasure.instruments.keysight import Keysight81160A as _PymeasureKeysight81160A
from pymeasure.instruments.keysight.keysight81160A import (
    Keysight81160AChannel as _PymeasureKeysight81160AChannel,
)
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from .base import DriverMixin
from .pulse_generator import PulseChannelMixin, PulseGeneratorMixin, ordered_pair

HIGH_Z_OHM = 9.9e37  # what the 81160A answers to :OUTP:LOAD? for INFinity
LOAD_RANGE_OHM = (0.3, 1e6)
DELAY_RANGE_S = (0.0, 999.0)
TRANSITION_RANGE_S = (1e-9, 1e3)
#: level ranges into a high-impedance load (twice the 50-ohm values); the instrument itself
#: refuses levels beyond the range of the load that is actually declared
VOLTAGE_HIGH_RANGE_V = (-9.9, 10.0)
VOLTAGE_LOW_RANGE_V = (-10.0, 9.9)


def _load_ohm(value: float, values: tuple[float, float]) -> float:
    """Validator: a load in ohms within `values`, or math.inf for high impedance."""
    value = float(value)
    if math.isinf(value) and value > 0:
        return value
    return strict_range(value, values)


def _load_command_value(value: float) -> str:
    return "INF" if math.isinf(value) else f"{value:g}"


def _load_from_reply(value: float) -> float:
    return math.inf if value >= HIGH_Z_OHM else value


class Keysight81160AChannel(PulseChannelMixin, _PymeasureKeysight81160AChannel):
    """One 81160A output channel (`PulseChannel` role)."""

    #: load in ohms, math.inf = high impedance (sent as INF, read back from 9.9E+37)
    output_load_values = LOAD_RANGE_OHM
    output_load_validator = _load_ohm
    output_load_set_command = ":OUTP{ch}:LOAD %s"
    output_load_set_process = _load_command_value
    output_load_get_process = _load_from_reply

    #: leading edge in the manual's form (pymeasure sends the 33500's :FUNC{ch}:PULS:TRAN)
    pulse_transition_get_command = ":PULS:TRAN{ch}?"
    pulse_transition_set_command = ":PULS:TRAN{ch} %e"

    voltage_high_values = VOLTAGE_HIGH_RANGE_V
    voltage_low_values = VOLTAGE_LOW_RANGE_V

    #: pymeasure 0.16 maps burst_state through a list ([True, False].index -> 0 for True)
    burst_state_values = {True: 1, False: 0}

    pulse_delay = Instrument.control(
        ":PULS:DEL{ch}?",
        ":PULS:DEL{ch} %e",
        """Control the pulse delay in s after the trigger (float, 0 to 999 s).""",
        validator=strict_range,
        values=DELAY_RANGE_S,
    )

    pulse_transition_trailing = Instrument.control(
        ":PULS:TRAN{ch}:TRA?",
        ":PULS:TRAN{ch}:TRA %e",
        """Control the trailing (falling) edge time in s (float); takes effect while
        `pulse_transition_trailing_auto` is off.""",
        validator=strict_range,
        values=TRANSITION_RANGE_S,
    )

    pulse_transition_trailing_auto = Instrument.control(
        ":PULS:TRAN{ch}:TRA:AUTO?",
        ":PULS:TRAN{ch}:TRA:AUTO %d",
        """Control whether the trailing edge follows the leading edge (bool).""",
        validator=strict_discrete_set,
        values={True: 1, False: 0},
        map_values=True,
    )

    period_and_high = Instrument.measurement(
        ":PULS:PER{ch}?;:VOLT{ch}:HIGH?",
        """Get the pulse period in s and the high level in V (list of two floats, one chained
        query): what orders the next width/period and low/high writes.""",
        separator=";",
    )

    # -- PulseChannel role -------------------------------------------------------------------
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
        """Pulse shape and levels for a high-impedance load, armed manually (fires on `*TRG`).

        Two messages: load INF, function PULS and arm MAN with a query of the present period
        and high level; then period/width, edges, delay and low/high levels (each pair in its
        safe order) with the error check. The output state is unchanged.

        `present` = (period s, high level V) the caller knows the channel holds (what it last
        configured on it): the query is skipped and everything goes in one message. A wrong
        guess cannot invert a pair silently: the instrument refuses the write (settings
        conflict) and the error check raises."""
        if not v_low < v_high:
            raise ValueError(f"v_high {v_high} V must exceed v_low {v_low} V")
        if not 0 < width_s < period_s:
            raise ValueError(f"width_s {width_s} s must be positive and below period_s {period_s}")
        with self.parent.batch(check_errors=True):
            self.output_load = math.inf
            self.shape = "PULS"
            self.trigger_mode = "MAN"
            present_period_s, present_high_v = self.period_and_high if present is None else present
            timing = ordered_pair(
                ("pulse_width", width_s), ("pulse_period", period_s), present_period_s
            )
            levels = ordered_pair(("voltage_low", v_low), ("voltage_high", v_high), present_high_v)
            for name, value in (
                *timing,
                ("pulse_transition", rise_s),
                ("pulse_transition_trailing_auto", False),
                ("pulse_transition_trailing", fall_s),
                ("pulse_delay", delay_s),
                *levels,
            ):
                setattr(self, name, value)

    def enable(self) -> None:
        """Output on, armed manually in the same message (never free-running)."""
        with self.parent.batch(check_errors=True):
            self.trigger_mode = "MAN"
            self.output = True

    def enable_external(self) -> None:
        """Output on, armed by the trigger input: one period per pulse there (a cable from
        another instrument's trigger line), never by the bus, never free-running."""
        with self.parent.batch(check_errors=True):
            self.trigger_mode = "EXT"
            self.trigger_count = 1
            self.output = True

    #: the value `output_load` takes for a high-impedance load
    HIGH_Z_LOAD: object = math.inf


class Keysight81160A(PulseGeneratorMixin, DriverMixin, _PymeasureKeysight81160A):
    """Keysight 81160A two-channel pulse generator (`PulseGenerator` role).

    .. code-block:: python

        pg = Keysight81160A("GPIB0::10::INSTR")
        pg.set_voltage_limits(1, -0.5, 2.0)
        ch = pg.channel(1)
        ch.configure_pulse(v_high=1.5, width_s=60e-9, period_s=1e-6, rise_s=2.5e-9, fall_s=2.5e-9)
        ch.enable()
        pg.fire(1000)
        pg.safe_state()
    """

    #: largest |level| into a high-impedance load; read by the station loader
    V_MAX_V = VOLTAGE_HIGH_RANGE_V[1]

    ch_1 = Instrument.ChannelCreator(Keysight81160AChannel, 1)
    ch_2 = Instrument.ChannelCreator(Keysight81160AChannel, 2)

    def __init__(
        self, adapter: Adapter | str | int, name: str = "Keysight 81160A", **kwargs
    ) -> None:
        super().__init__(adapter, name, **kwargs)

    # -- PulseGenerator role (channel, set_voltage_limits, safe_state: PulseGeneratorMixin) --
    def fire(self, count: int) -> None:
        """Emit `count` periods on every enabled, armed channel with one `*TRG` (one message,
        answered by the error check). The count is written to both channels, so a disabled
        channel simply ignores it and no output-state query is needed."""
        if isinstance(count, bool) or int(count) != count or count < 1:
            raise ValueError(f"count must be a positive integer, not {count!r}")
        with self.batch(check_errors=True):
            for ch in self.channels.values():
                ch.trigger_count = int(count)
            self.trigger()  # *TRG;*WAI
