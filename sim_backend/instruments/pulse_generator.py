"""Shared core of the simulated pulse/function generators (Keysight 81160A, 33500B/33600A).

Both families keep the same per-channel state (shape, period, width, edges, levels, declared load,
level clamps, output, burst) and fire the same way: on a trigger every armed channel emits a burst,
channels in step, each channel's pulse at its own delay. They differ only in where the channel
number goes in a header (``:VOLT1:HIGH`` on the 81160A, ``SOUR1:VOLT:HIGH`` on the 33600A), in
ranges and in how a channel is armed. So a model binds the shared handler bodies below to its own
manual headers with a ``HEADERS`` table (operation -> header patterns, queries bound as
``pattern + "?"``) and says which channels are armed; nothing is written twice.

The declared load matters as on the real instruments: levels are set for ``OUTP:LOAD`` ohms, so a
50-ohm setting drives about twice the level into a high-impedance cell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ..bench import BenchEvent
from ..instrument import ScpiInstrument
from ..scpi import DATA_OUT_OF_RANGE, SETTINGS_CONFLICT, Call, ScpiError, fmt_nr3

SOURCE_IMPEDANCE_OHM = 50.0
HIGH_Z_OHM = 9.9e37  # what the instruments report for INFinity
SUFFIX_OUT_OF_RANGE = (-114, "Header suffix out of range")


@dataclass
class PulseChannel:
    """One output channel's settings (power-on values; a model may override some)."""

    func: str = "SIN"
    period_s: float = 1e-6
    width_s: float = 100e-9
    lead_s: float = 2.5e-9
    trail_s: float = 2.5e-9
    delay_s: float = 0.0
    high_v: float = 0.05
    low_v: float = -0.05
    load_ohm: float = 50.0
    output: bool = False
    limit_on: bool = False
    limit_high_v: float = 5.0
    limit_low_v: float = -5.0
    burst_on: bool = False
    burst_ncycles: int = 1
    #: 81160A arming (:ARM:SOUR, :TRIG:COUN)
    arm_source: str = "IMM"
    count: int = 1
    #: 33500/33600 triggering (TRIG:SOUR, BURS:MODE)
    trigger_source: str = "IMM"
    burst_mode: str = "TRIG"

    @property
    def emf_factor(self) -> float:
        """Open-circuit voltage per displayed volt: (R_load + 50)/R_load (1 for high Z)."""
        return (self.load_ohm + SOURCE_IMPEDANCE_OHM) / self.load_ohm

    @property
    def level_range_v(self) -> float:
        return 10.0 if self.load_ohm > 1e6 else 5.0


def _bound(fn: Callable[..., Any], patterns: tuple[str, ...]) -> Callable[..., Any]:
    """A fresh handler function for `patterns` that runs `fn` (the shared body)."""

    def handler(self: PulseGeneratorSim, call: Call) -> Any:
        return fn(self, call)

    handler.__dict__["_scpi_patterns"] = list(patterns)
    return handler


class PulseGeneratorSim(ScpiInstrument):
    """Shared handler bodies (``do_<op>`` sets, ``get_<op>`` queries) and the trigger model."""

    n_channels: ClassVar[int] = 2
    #: operation -> manual header patterns (without '?'); see the module docstring
    HEADERS: ClassVar[dict[str, tuple[str, ...]]] = {}
    CHANNEL_DEFAULTS: ClassVar[dict[str, Any]] = {}
    PERIOD_RANGE_S: ClassVar[tuple[float, float]]
    WIDTH_RANGE_S: ClassVar[tuple[float, float]]
    TRANSITION_RANGE_S: ClassVar[tuple[float, float]]
    DELAY_RANGE_S: ClassVar[tuple[float, float]] = (0.0, 999.0)
    LOAD_RANGE_OHM: ClassVar[tuple[float, float]]
    LIMIT_RANGE_V: ClassVar[tuple[float, float]] = (-10.0, 10.0)
    NCYCLES_MAX: ClassVar[int]
    FUNCTIONS: ClassVar[tuple[str, ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        for op, patterns in cls.__dict__.get("HEADERS", {}).items():
            setattr(cls, f"_h_{op}", _bound(getattr(cls, f"do_{op}"), patterns))
            getter = getattr(cls, f"get_{op}", None)
            if getter is not None:
                setattr(cls, f"_h_{op}_q", _bound(getter, tuple(p + "?" for p in patterns)))
        super().__init_subclass__(**kwargs)

    def reset(self) -> None:
        super().reset()
        self.ch = {k: PulseChannel(**self.CHANNEL_DEFAULTS) for k in range(1, self.n_channels + 1)}
        for k in self.ch:
            self._apply(k)

    def terminal(self, k: int) -> str:
        return f"{self.name}.{k}"

    def fmt(self, value: float) -> str:
        """Numeric reply in the instrument's format."""
        return fmt_nr3(value)

    def _chan(self, call: Call, i: int = 0) -> PulseChannel:
        k = call.suffix(i)
        if k not in self.ch:
            raise ScpiError(SUFFIX_OUT_OF_RANGE, call.header)
        return self.ch[k]

    def _apply(self, k: int) -> None:
        c = self.ch[k]
        self.bench.set_level(self.terminal(k), c.low_v * c.emf_factor if c.output else None)

    # -- what a model decides ----------------------------------------------------------------
    def armed(self, c: PulseChannel) -> bool:
        """True if the channel waits for a bus trigger (and fires on it)."""
        raise NotImplementedError

    def armed_external(self, c: PulseChannel) -> bool:
        """True if the channel waits for a pulse on the trigger input (and fires on it)."""
        return False

    def burst_count(self, c: PulseChannel) -> int:
        """Periods emitted per trigger."""
        raise NotImplementedError

    def free_running(self, c: PulseChannel) -> bool:
        """True if turning the output on starts a continuous pulse train."""
        raise NotImplementedError

    def level_range_v(self, c: PulseChannel) -> float:
        """Largest |level| the channel can display for its declared load."""
        return c.level_range_v

    # -- function and timing -----------------------------------------------------------------
    def do_func(self, call: Call) -> None:
        self._chan(call).func = call.choice(0, list(self.FUNCTIONS))

    def get_func(self, call: Call) -> str:
        return self._chan(call).func

    def do_period(self, call: Call) -> None:
        lo, hi = self.PERIOD_RANGE_S
        self._chan(call).period_s = call.number(0, lo=lo, hi=hi, unit="S")

    def get_period(self, call: Call) -> str:
        return self.fmt(self._chan(call).period_s)

    def do_width(self, call: Call) -> None:
        c = self._chan(call)
        lo, hi = self.WIDTH_RANGE_S
        w = call.number(0, lo=lo, hi=hi, unit="S")
        if w >= c.period_s:
            raise ScpiError(SETTINGS_CONFLICT, "width must be shorter than the period")
        c.width_s = w

    def get_width(self, call: Call) -> str:
        return self.fmt(self._chan(call).width_s)

    def do_delay(self, call: Call) -> None:
        lo, hi = self.DELAY_RANGE_S
        self._chan(call).delay_s = call.number(0, lo=lo, hi=hi, unit="S")

    def get_delay(self, call: Call) -> str:
        return self.fmt(self._chan(call).delay_s)

    def _transition(self, call: Call) -> float:
        lo, hi = self.TRANSITION_RANGE_S
        return call.number(0, lo=lo, hi=hi, unit="S")

    def do_edges(self, call: Call) -> None:
        """Both edges (the trailing edge follows the leading one)."""
        c = self._chan(call)
        c.lead_s = c.trail_s = self._transition(call)

    def get_lead(self, call: Call) -> str:
        return self.fmt(self._chan(call).lead_s)

    get_edges = get_lead

    def do_lead(self, call: Call) -> None:
        self._chan(call).lead_s = self._transition(call)

    def do_trail(self, call: Call) -> None:
        self._chan(call).trail_s = self._transition(call)

    def get_trail(self, call: Call) -> str:
        return self.fmt(self._chan(call).trail_s)

    # -- levels, load, limits ----------------------------------------------------------------
    def _check_level(self, c: PulseChannel, v: float) -> None:
        limit = self.level_range_v(c)
        if abs(v) > limit:
            raise ScpiError(DATA_OUT_OF_RANGE, f"{v} V beyond +-{limit} V")
        if c.limit_on and not (c.limit_low_v <= v <= c.limit_high_v):
            raise ScpiError(DATA_OUT_OF_RANGE, f"{v} V outside the voltage limits")

    def do_high(self, call: Call) -> None:
        c = self._chan(call)
        v = call.number(0, unit="V")
        self._check_level(c, v)
        if v <= c.low_v:
            raise ScpiError(SETTINGS_CONFLICT, "high level must exceed the low level")
        c.high_v = v

    def get_high(self, call: Call) -> str:
        return self.fmt(self._chan(call).high_v)

    def do_low(self, call: Call) -> None:
        c = self._chan(call)
        v = call.number(0, unit="V")
        self._check_level(c, v)
        if v >= c.high_v:
            raise ScpiError(SETTINGS_CONFLICT, "low level must be below the high level")
        c.low_v = v
        self._apply(call.suffix())

    def get_low(self, call: Call) -> str:
        return self.fmt(self._chan(call).low_v)

    def load_specials(self) -> dict[str, float]:
        return {"INFinity": HIGH_Z_OHM, "MAXimum": HIGH_Z_OHM}

    def do_load(self, call: Call) -> None:
        c = self._chan(call)
        lo, hi = self.LOAD_RANGE_OHM
        c.load_ohm = call.number(0, lo=lo, hi=hi, unit="OHM", special=self.load_specials())
        self._apply(call.suffix())

    def get_load(self, call: Call) -> str:
        return self.fmt(self._chan(call).load_ohm)

    def do_limit_state(self, call: Call) -> None:
        self._chan(call).limit_on = call.boolean()

    def get_limit_state(self, call: Call) -> str:
        return "1" if self._chan(call).limit_on else "0"

    def do_limit_high(self, call: Call) -> None:
        lo, hi = self.LIMIT_RANGE_V
        self._chan(call).limit_high_v = call.number(0, lo=lo, hi=hi, unit="V")

    def get_limit_high(self, call: Call) -> str:
        return self.fmt(self._chan(call).limit_high_v)

    def do_limit_low(self, call: Call) -> None:
        lo, hi = self.LIMIT_RANGE_V
        self._chan(call).limit_low_v = call.number(0, lo=lo, hi=hi, unit="V")

    def get_limit_low(self, call: Call) -> str:
        return self.fmt(self._chan(call).limit_low_v)

    # -- output and bursts -------------------------------------------------------------------
    def do_output(self, call: Call) -> None:
        c = self._chan(call)
        c.output = call.boolean()
        if c.output and self.free_running(c):
            self.bench.note(BenchEvent(self.bench.clock.now_s, "free-running",
                                                f"{self.terminal(call.suffix())} output on in continuous mode"))  # fmt: skip
        self._apply(call.suffix())

    def get_output(self, call: Call) -> str:
        return "1" if self._chan(call).output else "0"

    def do_burst(self, call: Call) -> None:
        self._chan(call).burst_on = call.boolean()

    def get_burst(self, call: Call) -> str:
        return "1" if self._chan(call).burst_on else "0"

    def do_ncycles(self, call: Call) -> None:
        self._chan(call).burst_ncycles = int(call.number(0, lo=1, hi=self.NCYCLES_MAX))

    def get_ncycles(self, call: Call) -> str:
        return str(self._chan(call).burst_ncycles)

    def do_trigger_now(self, call: Call) -> None:
        self.trigger()

    def trigger(self) -> None:
        """Bus trigger: fire every channel armed for it (see `_fire`)."""
        self._fire(self.armed)

    def external_trigger(self) -> None:
        """Trigger input: fire every channel armed for it (see `_fire`)."""
        self._fire(self.armed_external)

    def _fire(self, armed_for: Callable[[PulseChannel], bool]) -> None:
        """Fire every armed, enabled pulse channel: one burst, channels in step."""
        armed = {k: c for k, c in self.ch.items() if c.output and c.func == "PULS" and armed_for(c)}
        if not armed:
            return
        counts = {self.burst_count(c) for c in armed.values()}
        periods = {c.period_s for c in armed.values()}
        if len(counts) > 1 or len(periods) > 1:
            self.error(SETTINGS_CONFLICT, "armed channels differ in count or period")
            return
        steps = []
        for k, c in sorted(armed.items(), key=lambda kc: kc[1].delay_s):
            steps.append(
                ({self.terminal(k): c.high_v * c.emf_factor}, c.width_s, c.lead_s, c.trail_s)
            )
        count, period = counts.pop(), periods.pop()
        self.bench.pulse_sequence(steps, repeat=count)
        self.bench.clock.advance(count * period)
