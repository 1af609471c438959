"""reramlab: instrument control, protocols and a simulated chip for 1T1R ReRAM arrays."""

__version__ = "0.1.0"
