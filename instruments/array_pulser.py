"""Array pulse board with one driver per chip line, as an `ArrayPulser` role.

Drives the simulated board "RERAMSIM,ARRAY-PULSER-64" (see
``reramlab.sim_backend.instruments.array_pulser`` for its SCPI command set): a board modelled on
per-line array drivers such as ArC TWO's, with 64 channels each cabled to one chip line. A board
of this kind is what makes a fully parallel row/column update one bus transaction: the levels
and slot patterns of every polarity phase (segments) and the fire travel in one message, and
the error query rides on it.

Safety: levels are checked here against the board range and the clamp this driver set before
anything is sent, and the board refuses a fire whose segments did not all load, so a refused
level can never leave stale levels to be fired. The outputs are on only inside that message
(lines at 0 V between pulses), and float again when it ends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pymeasure.adapters import Adapter
from pymeasure.instruments import Instrument, SCPIMixin
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from .base import DriverMixin

N_CHANNELS = 64
V_RANGE_V = 10.0
SLOTS_MAX = 4096
SEGMENTS_MAX = 16
WIDTH_RANGE_S = (10e-9, 1.0)
PERIOD_RANGE_S = (20e-9, 10.0)
TRANSITION_RANGE_S = (2e-9, 1e-3)


def pattern_words(patterns: np.ndarray) -> list[str]:
    """Slot patterns (slots x channels, bool) -> one hex word per slot, bit 0 = channel 1."""
    return [f"{sum(1 << int(k) for k in np.flatnonzero(row)):X}" for row in patterns]


def _levels_text(levels: Sequence[float]) -> str:
    return ",".join(f"{float(v):.6g}" for v in levels)


class ArrayPulser64(DriverMixin, SCPIMixin, Instrument):
    """64-channel array pulse board (`ArrayPulser` role). Nothing is sent in `__init__`.

    .. code-block:: python

        board = ArrayPulser64("TCPIP0::192.168.1.40::inst0::INSTR")
        board.set_voltage_limit(2.0)
        board.configure_timing(width_s=2.5e-6, period_s=10e-6, rise_s=10e-9, fall_s=10e-9)
        levels = np.zeros(64); levels[:8] = 0.7                 # channels 1-8 at +0.7 V
        slots = np.zeros((10, 64), bool); slots[::2, :8] = True  # every other slot
        board.fire_segments([(levels, slots)])                  # one message
        board.safe_state()
    """

    n_channels = N_CHANNELS
    #: largest |level|; read by the station loader
    V_MAX_V = V_RANGE_V

    channel_count = Instrument.measurement(
        ":SYST:CHAN?", """Get the number of output channels (int).""", cast=int
    )

    voltage_limit = Instrument.control(
        ":SOUR:LINE:VOLT:LIM?",
        ":SOUR:LINE:VOLT:LIM %g",
        """Control the clamp on every |level| in V (float, 0 to 10 V).""",
        validator=strict_range,
        values=(0.0, V_RANGE_V),
    )

    pulse_width = Instrument.control(
        ":PULS:WIDT?",
        ":PULS:WIDT %e",
        """Control the flat top of every slot's pulse in s (float, 10 ns to 1 s).""",
        validator=strict_range,
        values=WIDTH_RANGE_S,
    )

    pulse_period = Instrument.control(
        ":PULS:PER?",
        ":PULS:PER %e",
        """Control the slot period in s (float, 20 ns to 10 s).""",
        validator=strict_range,
        values=PERIOD_RANGE_S,
    )

    pulse_transition = Instrument.control(
        ":PULS:TRAN?",
        ":PULS:TRAN %e",
        """Control both edge times in s (float, 2 ns to 1 ms).""",
        validator=strict_range,
        values=TRANSITION_RANGE_S,
    )

    output_enabled = Instrument.control(
        ":OUTP?",
        ":OUTP %d",
        """Control every output relay (bool): on drives each line at 0 V between pulses,
        off floats them.""",
        validator=strict_discrete_set,
        values={True: 1, False: 0},
        map_values=True,
    )

    trigger_source = Instrument.control(
        ":TRIG:SOUR?",
        ":TRIG:SOUR %s",
        """Control what `:INIT` waits for (str: 'IMM' fires at once, 'BUS' on `*TRG`).""",
        validator=strict_discrete_set,
        values=("IMM", "BUS"),
    )

    segment_count = Instrument.control(
        ":PATT:SEGM?",
        ":PATT:SEGM %d",
        """Control how many segments a fire runs (int, 1 to 16); setting it empties them.""",
        validator=strict_range,
        values=(1, SEGMENTS_MAX),
        cast=int,
    )

    def __init__(
        self, adapter: Adapter | str | int, name: str = "Array pulser 64", **kwargs
    ) -> None:
        super().__init__(adapter, name, **kwargs)
        self._limit_v = V_RANGE_V
        self._period_s = 4e-6

    # -- ArrayPulser role --------------------------------------------------------------------
    def configure_timing(
        self, *, width_s: float, period_s: float, rise_s: float, fall_s: float
    ) -> None:
        """Pulse of every slot. The board has one edge time for both edges: the slower edge
        of the two is used."""
        edge_s = max(rise_s, fall_s)
        if not 0 < width_s + 2 * edge_s < period_s:
            raise ValueError(
                f"pulse width_s {width_s} s plus edges {edge_s} s must fit in period_s {period_s} s"
            )
        with self.batch(check_errors=True):
            self.pulse_period = period_s
            self.pulse_width = width_s
            self.pulse_transition = edge_s
        self._period_s = period_s

    def set_voltage_limit(self, v_max: float) -> None:
        """Clamp every |level| to `v_max` V in the board (it refuses levels beyond)."""
        with self.batch(check_errors=True):
            self.voltage_limit = v_max
        self._limit_v = float(v_max)

    def fire_segments(self, segments: Sequence[tuple[Sequence[float], np.ndarray]]) -> None:
        """Load every segment (levels, slot patterns), turn the outputs on, fire, turn them
        off, and read the error queue: one message, whose error query answers when the last
        slot has ended."""
        checked = [self._checked(levels, patterns) for levels, patterns in segments]
        if not 1 <= len(checked) <= SEGMENTS_MAX:
            raise ValueError(f"1..{SEGMENTS_MAX} segments per fire, not {len(checked)}")
        busy_s = sum(len(p) for _, p in checked) * self._period_s
        with self.timeout_at_least(busy_s + 1.0), self.batch(check_errors=True):
            self.trigger_source = "IMM"
            self.segment_count = len(checked)
            for k, (levels, patterns) in enumerate(checked, start=1):
                self.write(f":SOUR:LINE:VOLT{k} {_levels_text(levels)}")
                self.write(f":PATT:DATA{k} {','.join(pattern_words(patterns))}")
            self.output_enabled = True
            self.write(":INIT")
            self.write("*WAI")
            self.output_enabled = False

    def safe_state(self) -> None:
        """Outputs off (lines floating) and the segments emptied. The queue is not checked, so
        that stale errors cannot stop a shutdown."""
        with self.batch():
            self.write(":ABOR")
            self.output_enabled = False
            self.segment_count = 1

    # -- helpers -----------------------------------------------------------------------------
    def _checked(
        self, levels: Sequence[float], patterns: np.ndarray
    ) -> tuple[list[float], np.ndarray]:
        """Levels within range and clamp, patterns (1..4096 slots) x (<= 64 channels) of bools."""
        values = [float(v) for v in levels]
        if not 1 <= len(values) <= N_CHANNELS:
            raise ValueError(f"{self.name}: 1..{N_CHANNELS} levels, not {len(values)}")
        bound = min(V_RANGE_V, self._limit_v)
        bad = [v for v in values if not math.isfinite(v) or abs(v) > bound]
        if bad:
            raise ValueError(f"{self.name}: level {bad[0]} V beyond +-{bound} V")
        bits = np.asarray(patterns)
        if bits.ndim != 2 or not 1 <= bits.shape[0] <= SLOTS_MAX or bits.shape[1] > N_CHANNELS:
            raise ValueError(
                f"{self.name}: patterns must be (1..{SLOTS_MAX} slots) x (<= {N_CHANNELS} "
                f"channels), not {bits.shape}"
            )
        if bits.dtype != bool:
            raise ValueError(f"{self.name}: patterns must be booleans, not {bits.dtype}")
        return values, bits
