"""Simulated multi-channel array pulse board "RERAMSIM,ARRAY-PULSER-64" (SCPI).

Not a model of a commercial instrument: a simulated board modelled on per-line array drivers
such as ArC TWO's (64 channels, each with its own DAC and output relay), given a small SCPI
command set so that a parallel row/column update travels as one message. Channel k is the
terminal ``<name>.k``; the station cables each channel to one chip line (``board:`` in the
wiring). Outputs are low-impedance drivers: the level set is the level on the line.

A fire runs the loaded segments in turn and each segment's slots back to back: in slot s of
segment g, channel k sits at the segment's level for k if bit k of the slot's word is set, at
0 V otherwise, for one pulse (flat top, linear edges); between pulses every line is at 0 V.
Every line is driven by the same pulse clock, so coincident row and column pulses overlap
exactly (a cell at their crossing sees the difference of the two). Segments let one message
carry a whole update with several polarity phases.

A refused level or pattern load empties its segment, and a fire with an empty segment is refused
as a whole: a message that loads and fires can never fire stale levels after an error.

Command set (long/short forms, case-insensitive, ';'-chained as usual in SCPI; ``#`` is the
segment number, 1 if omitted):

=======================================================  ===========================================
``*IDN?`` ``*RST`` ``*CLS`` ``*OPC?`` ``*WAI`` ``*TRG``     IEEE 488.2 (``*TRG`` fires when armed)
``:SYSTem:ERRor[:NEXT]?``, ``:SYSTem:ERRor:COUNt?``       error queue
``:SYSTem:CHANnels?``                                      number of channels (64)
``:PATTern:SEGMents <n>`` (and ``?``)                      segments a fire runs, 1..16; empties all
``[:SOURce]:LINE:VOLTage# <v1>,...,<vk>`` (and ``?``)      levels of channels 1..k in V (others 0 V):
                                                           ±10 V range and within the limit
``[:SOURce]:LINE:VOLTage:LIMit <v>`` (and ``?``)           clamp on every |level|, 0..10 V (*RST 10)
``:PATTern:DATA# <w1>,<w2>,...`` (and ``?``)               one hex word of up to 16 digits per slot
                                                           (bit 0 = channel 1), 1..4096 slots
``:PATTern:SLOTs#?``                                       slots loaded in the segment
``[:SOURce]:PULSe:WIDTh <s>`` (and ``?``)                  flat top, 10 ns .. 1 s
``[:SOURce]:PULSe:PERiod <s>`` (and ``?``)                 slot period, 20 ns .. 10 s
``[:SOURce]:PULSe:TRANsition <s>`` (and ``?``)             both edges, 2 ns .. 1 ms
``:OUTPut[:STATe] ON|OFF`` (and ``?``)                     all output relays: ON drives every line at
                                                           0 V between pulses, OFF floats them
``:TRIGger:SOURce IMMediate|BUS`` (and ``?``)              what ``:INIT`` waits for
``:INITiate[:IMMediate]``                                  IMM: fire now; BUS: arm for ``*TRG``
``:ABORt``                                                 disarm
=======================================================  ===========================================

Errors: -222 level, time or count out of range; -221 settings conflict (fire with the outputs
off or an empty segment, a pulse that does not fit its period, a limit below a set level);
-104 a pattern word that is not hex; -108 more levels than channels; -114 segment out of range;
-113 unknown header.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..instrument import ScpiInstrument
from ..scpi import (
    DATA_OUT_OF_RANGE,
    DATA_TYPE_ERROR,
    MISSING_PARAMETER,
    PARAMETER_NOT_ALLOWED,
    SETTINGS_CONFLICT,
    Call,
    ScpiError,
    fmt_nr3,
    scpi,
)
from .pulse_generator import SUFFIX_OUT_OF_RANGE

N_CHANNELS = 64
LEVEL_RANGE_V = 10.0
WIDTH_RANGE_S = (10e-9, 1.0)
PERIOD_RANGE_S = (20e-9, 10.0)
TRANSITION_RANGE_S = (2e-9, 1e-3)
SLOTS_MAX = 4096
SEGMENTS_MAX = 16
WORD_DIGITS = N_CHANNELS // 4
HEX = set("0123456789abcdefABCDEF")


@dataclass
class Segment:
    """Levels (V per channel) and slot patterns (slots x channels); None = not loaded."""

    levels: np.ndarray | None = None
    patterns: np.ndarray | None = None

    @property
    def loaded(self) -> bool:
        return self.levels is not None and self.patterns is not None


class ArrayPulserSim(ScpiInstrument):
    idn = "RERAMSIM,ARRAY-PULSER-64,SIM00001,1.0"

    def reset(self) -> None:
        super().reset()
        self.limit_v = LEVEL_RANGE_V
        self.width_s, self.period_s, self.edge_s = 1e-6, 4e-6, 10e-9
        self.segments = [Segment()]
        self.output = False
        self.trigger_source = "IMM"
        self.armed = False
        self._apply_output()

    def terminal(self, k: int) -> str:
        return f"{self.name}.{k}"

    def _apply_output(self) -> None:
        for k in range(1, N_CHANNELS + 1):
            self.bench.set_level(self.terminal(k), 0.0 if self.output else None)

    def _segment(self, call: Call) -> Segment:
        k = call.suffix()
        if not 1 <= k <= len(self.segments):
            raise ScpiError(SUFFIX_OUT_OF_RANGE, call.header)
        return self.segments[k - 1]

    @scpi(":SYSTem:CHANnels?")
    def _channels_q(self, call: Call) -> str:
        return str(N_CHANNELS)

    @scpi(":PATTern:SEGMents")
    def _segments(self, call: Call) -> None:
        self.segments = [Segment() for _ in range(int(call.number(0, lo=1, hi=SEGMENTS_MAX)))]
        self.armed = False

    @scpi(":PATTern:SEGMents?")
    def _segments_q(self, call: Call) -> str:
        return str(len(self.segments))

    # -- levels ------------------------------------------------------------------------------
    @scpi("[:SOURce]:LINE:VOLTage#")
    def _levels(self, call: Call) -> None:
        seg = self._segment(call)
        seg.levels, self.armed = None, False  # a refused load leaves the segment empty
        if not call.args:
            raise ScpiError(MISSING_PARAMETER, call.header)
        if len(call.args) > N_CHANNELS:
            raise ScpiError(PARAMETER_NOT_ALLOWED, f"{len(call.args)} levels for {N_CHANNELS}")
        values = [call.number(i, unit="V") for i in range(len(call.args))]
        bound = min(LEVEL_RANGE_V, self.limit_v)
        if any(abs(v) > bound for v in values):
            raise ScpiError(DATA_OUT_OF_RANGE, f"a level beyond +-{bound} V")
        seg.levels = np.zeros(N_CHANNELS)
        seg.levels[: len(values)] = values

    @scpi("[:SOURce]:LINE:VOLTage#?")
    def _levels_q(self, call: Call) -> str:
        levels = self._segment(call).levels
        return ",".join(fmt_nr3(v) for v in (np.zeros(N_CHANNELS) if levels is None else levels))

    @scpi("[:SOURce]:LINE:VOLTage:LIMit")
    def _limit(self, call: Call) -> None:
        v = call.number(0, lo=0.0, hi=LEVEL_RANGE_V, unit="V")
        if any(s.levels is not None and np.abs(s.levels).max() > v for s in self.segments):
            raise ScpiError(SETTINGS_CONFLICT, "a loaded level exceeds the new limit")
        self.limit_v = v

    @scpi("[:SOURce]:LINE:VOLTage:LIMit?")
    def _limit_q(self, call: Call) -> str:
        return fmt_nr3(self.limit_v)

    # -- patterns ----------------------------------------------------------------------------
    @scpi(":PATTern:DATA#")
    def _pattern(self, call: Call) -> None:
        seg = self._segment(call)
        seg.patterns, self.armed = None, False
        if not call.args:
            raise ScpiError(MISSING_PARAMETER, call.header)
        if len(call.args) > SLOTS_MAX:
            raise ScpiError(DATA_OUT_OF_RANGE, f"{len(call.args)} slots > {SLOTS_MAX}")
        words = []
        for raw in call.args:
            text = raw.strip()
            if not 1 <= len(text) <= WORD_DIGITS or not set(text) <= HEX:
                raise ScpiError(DATA_TYPE_ERROR, f"pattern word {text!r}")
            words.append(int(text, 16))
        shifts = np.arange(N_CHANNELS, dtype=np.uint64)
        bits = (np.array(words, dtype=np.uint64)[:, None] >> shifts) & np.uint64(1)
        seg.patterns = bits.astype(bool)

    @scpi(":PATTern:DATA#?")
    def _pattern_q(self, call: Call) -> str:
        patterns = self._segment(call).patterns
        if patterns is None:
            return ""
        words = (sum(1 << int(k) for k in np.flatnonzero(row)) for row in patterns)
        return ",".join(f"{w:0{WORD_DIGITS}X}" for w in words)

    @scpi(":PATTern:SLOTs#?")
    def _slots_q(self, call: Call) -> str:
        patterns = self._segment(call).patterns
        return str(0 if patterns is None else len(patterns))

    # -- timing ------------------------------------------------------------------------------
    @scpi("[:SOURce]:PULSe:WIDTh")
    def _width(self, call: Call) -> None:
        self.width_s = call.number(0, lo=WIDTH_RANGE_S[0], hi=WIDTH_RANGE_S[1], unit="S")

    @scpi("[:SOURce]:PULSe:WIDTh?")
    def _width_q(self, call: Call) -> str:
        return fmt_nr3(self.width_s)

    @scpi("[:SOURce]:PULSe:PERiod")
    def _period(self, call: Call) -> None:
        self.period_s = call.number(0, lo=PERIOD_RANGE_S[0], hi=PERIOD_RANGE_S[1], unit="S")

    @scpi("[:SOURce]:PULSe:PERiod?")
    def _period_q(self, call: Call) -> str:
        return fmt_nr3(self.period_s)

    @scpi("[:SOURce]:PULSe:TRANsition")
    def _edges(self, call: Call) -> None:
        lo, hi = TRANSITION_RANGE_S
        self.edge_s = call.number(0, lo=lo, hi=hi, unit="S")

    @scpi("[:SOURce]:PULSe:TRANsition?")
    def _edges_q(self, call: Call) -> str:
        return fmt_nr3(self.edge_s)

    # -- output and firing -------------------------------------------------------------------
    @scpi(":OUTPut[:STATe]")
    def _output(self, call: Call) -> None:
        self.output = call.boolean()
        if not self.output:
            self.armed = False
        self._apply_output()

    @scpi(":OUTPut[:STATe]?")
    def _output_q(self, call: Call) -> str:
        return "1" if self.output else "0"

    @scpi(":TRIGger:SOURce")
    def _trigger_source(self, call: Call) -> None:
        self.trigger_source = call.choice(0, ["IMMediate", "BUS"])

    @scpi(":TRIGger:SOURce?")
    def _trigger_source_q(self, call: Call) -> str:
        return self.trigger_source

    @scpi(":INITiate[:IMMediate]")
    def _init(self, call: Call) -> None:
        self._check_ready()
        if self.trigger_source == "BUS":
            self.armed = True
        else:
            self._fire()

    @scpi(":ABORt")
    def _abort(self, call: Call) -> None:
        self.armed = False

    def trigger(self) -> None:
        if self.armed:
            self.armed = False
            self._check_ready()
            self._fire()

    def _check_ready(self) -> None:
        if not self.output:
            raise ScpiError(SETTINGS_CONFLICT, "outputs are off")
        empty = [k + 1 for k, s in enumerate(self.segments) if not s.loaded]
        if empty:
            raise ScpiError(SETTINGS_CONFLICT, f"segment(s) {empty} not loaded")
        if self.width_s + 2 * self.edge_s >= self.period_s:
            raise ScpiError(SETTINGS_CONFLICT, "pulse (width + edges) does not fit the period")

    def _fire(self) -> None:
        """Every slot of every segment as one pulse step with all lines at once."""
        terms = [self.terminal(k) for k in range(1, N_CHANNELS + 1)]
        steps = []
        for seg in self.segments:
            for bits in seg.patterns:
                levels = np.where(bits, seg.levels, 0.0).tolist()
                steps.append((dict(zip(terms, levels, strict=True)), self.width_s, self.edge_s,
                              self.edge_s))  # fmt: skip
        self.bench.pulse_sequence(steps)
        self.bench.clock.advance(len(steps) * self.period_s)
