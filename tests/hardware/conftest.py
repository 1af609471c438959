"""Hardware tests: real instruments, chosen on the command line, skipped otherwise.

    pytest tests/hardware --visa-address-2450 GPIB0::24::INSTR --visa-address-81160a GPIB0::10::INSTR
    pytest tests/hardware --visa-address-707b GPIB0::16::INSTR --visa-library @py

`--visa-library` picks the VISA implementation (default: pyvisa's default); pointing it at a
simulated bench (`bench.yaml@reramsim`) runs these tests against the twins. The options are
registered in tests/conftest.py: pytest reads `pytest_addoption` only from initial conftests,
and this folder's conftest is not one when pytest runs from the repository root.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


def _open(request: pytest.FixtureRequest, model: str, cls: type) -> Iterator[Any]:
    address = request.config.getoption(f"--visa-address-{model}")
    if not address:
        pytest.skip(f"needs --visa-address-{model}")
    inst = cls(address, visa_library=request.config.getoption("--visa-library"))
    try:
        yield inst
    finally:
        try:
            inst.safe_state()
        finally:
            inst.adapter.close()


@pytest.fixture
def smu_2450(request: pytest.FixtureRequest) -> Iterator[Any]:
    from reramlab.instruments.keithley2450 import Keithley2450

    yield from _open(request, "2450", Keithley2450)


@pytest.fixture
def pg_81160a(request: pytest.FixtureRequest) -> Iterator[Any]:
    from reramlab.instruments.keysight81160a import Keysight81160A

    yield from _open(request, "81160a", Keysight81160A)


@pytest.fixture
def sw_707b(request: pytest.FixtureRequest) -> Iterator[Any]:
    from reramlab.instruments.keithley707b import Keithley707B

    yield from _open(request, "707b", Keithley707B)
