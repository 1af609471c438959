"""What the two pulse generators (Keysight 81160A, Keysight 33600A/33500B) do the same way.

Both drivers subclass their pymeasure base (`Keysight81160A`, `Agilent33500`), whose channel
properties share names (`output`, `output_load`, `voltage_low`, `voltage_high`, `limit_low`,
`limit_high`, `limit_state_enabled`, `period_and_high`): so the safe order of paired writes,
the idle levels of a channel, output off, the instrument-side level clamp, the channel lookup
and the safe state are written once here, as mixins the two drivers put before their bases.

Kept apart from either driver so that neither borrows the other's methods.
"""

from __future__ import annotations

#: smallest amplitude into high impedance (100 mVpp): the pulse level of the safe state
SAFE_HIGH_V = 0.1


def ordered_pair(
    lower: tuple[str, float], upper: tuple[str, float], present_upper: float
) -> tuple[tuple[str, float], tuple[str, float]]:
    """The order in which to write a (lower, upper) pair of settings so that lower < upper
    holds after each write: lower first unless it would not be below the present upper."""
    return (upper, lower) if lower[1] >= present_upper else (lower, upper)


class PulseChannelMixin:
    """Output off and the idle levels of one generator channel (`PulseChannel` role)."""

    #: the value `output_load` takes for a high-impedance load (the drivers set theirs)
    HIGH_Z_LOAD: object = "INF"

    def disable(self) -> None:
        """Output off."""
        with self.parent.batch(check_errors=True):
            self.output = False

    def idle_levels(self) -> None:
        """High-impedance load declared, then low level 0 V and the smallest pulse amplitude
        above it, in the safe order (levels set for a 50-ohm load would double on the cell)."""
        self.output_load = self.HIGH_Z_LOAD
        _, present_high_v = self.period_and_high
        pair = ordered_pair(("voltage_low", 0.0), ("voltage_high", SAFE_HIGH_V), present_high_v)
        for name, value in pair:
            setattr(self, name, value)


class PulseGeneratorMixin:
    """Channel lookup, level clamp and safe state of a two-channel generator
    (`PulseGenerator` role; `fire` is each driver's own: the trigger commands differ)."""

    def channel(self, number: int):
        """Output channel 1 or 2."""
        if number not in self.channels:
            raise ValueError(f"{self.name} has channels {sorted(self.channels)}, not {number!r}")
        return self.channels[number]

    def set_voltage_limits(self, number: int, v_low: float, v_high: float) -> None:
        """Clamp channel `number`'s levels to [v_low, v_high] V in the instrument and turn the
        clamp on; the instrument then refuses any level outside it."""
        if not v_low < v_high:
            raise ValueError(f"v_high {v_high} V must exceed v_low {v_low} V")
        ch = self.channel(number)
        with self.batch(check_errors=True):
            ch.limit_low = v_low
            ch.limit_high = v_high
            ch.limit_state_enabled = True

    def safe_state(self) -> None:
        """Both outputs off, then low level 0 V (and the smallest amplitude above it) on each
        channel. The queue is not checked, so that stale errors cannot stop a shutdown."""
        channels = list(self.channels.values())
        with self.batch():
            for ch in channels:
                ch.output = False
            for ch in channels:
                ch.idle_levels()
