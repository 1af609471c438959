"""pyvisa backend shim: ``pyvisa.ResourceManager("bench.yaml@reramsim")`` finds the simulator.

pyvisa resolves ``@name`` by importing the top-level module ``pyvisa_<name>`` and using its
``WRAPPER_CLASS``; the simulator itself lives in :mod:`reramlab.sim_backend`.
"""

from reramlab.sim_backend.library import ReramSimLibrary

WRAPPER_CLASS = ReramSimLibrary
