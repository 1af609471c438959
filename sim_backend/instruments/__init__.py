"""Simulated instruments, by the model name used in a resource file's ``reramsim:`` section."""

from ..instrument import SimInstrument
from .array_pulser import ArrayPulserSim
from .keithley707b import Keithley707BSim
from .keithley2450 import Keithley2450Sim
from .keithley2636b import Keithley2636BSim
from .keysight33600a import Keysight33500BSim, Keysight33600ASim
from .keysight81160a import Keysight81160ASim
from .keysightb2902 import KeysightB2902Sim

SIM_INSTRUMENTS: dict[str, type[SimInstrument]] = {
    "keithley2450": Keithley2450Sim,
    "keysight81160a": Keysight81160ASim,
    "keithley707b": Keithley707BSim,
    "keysightb2902": KeysightB2902Sim,
    "keithley2636b": Keithley2636BSim,
    "keysight33600a": Keysight33600ASim,
    "keysight33500b": Keysight33500BSim,
    "array-pulser-64": ArrayPulserSim,
}

__all__ = [
    "SIM_INSTRUMENTS",
    "Keithley2450Sim",
    "Keysight81160ASim",
    "Keithley707BSim",
    "KeysightB2902Sim",
    "Keithley2636BSim",
    "Keysight33600ASim",
    "Keysight33500BSim",
    "ArrayPulserSim",
]
