"""`DriverMixin` attribute lookup: plain (C) lookup for drivers without dynamic properties,
pymeasure's reserved-name guard kept for drivers with them. No pyvisa."""

from __future__ import annotations

import pytest
from pymeasure.instruments import Instrument
from pymeasure.instruments.common_base import CommonBase
from pymeasure.instruments.validators import strict_range
from pymeasure.test import expected_protocol

from reramlab.instruments.base import DriverMixin, has_dynamic_properties
from reramlab.instruments.keithley2450 import Keithley2450
from reramlab.instruments.keysight33600a import Keysight33600A


class Plain(DriverMixin, Instrument):
    level = Instrument.control("LEV?", "LEV %g", "Control a level.", validator=strict_range,
                               values=(0, 10))  # fmt: skip

    def __init__(self, adapter, name="plain", **kwargs) -> None:
        super().__init__(adapter, name, **kwargs)


class Dynamic(Plain):
    """Adds a dynamic property below a driver that has the plain lookup."""

    width = Instrument.control("WIDT?", "WIDT %g", "Control a width.", validator=strict_range,
                               values=(0, 1), dynamic=True)  # fmt: skip


class PlainAgain(Dynamic):
    """Below a driver with dynamic properties: inherits them, so keeps the guard."""


def test_drivers_without_dynamic_properties_get_the_plain_lookup() -> None:
    assert not has_dynamic_properties(Keithley2450)
    assert Keithley2450.__getattribute__ is object.__getattribute__
    assert Plain.__getattribute__ is object.__getattribute__


@pytest.mark.parametrize("cls", [Keysight33600A, Dynamic, PlainAgain])
def test_drivers_with_dynamic_properties_keep_the_guard(cls: type) -> None:
    assert has_dynamic_properties(cls)
    assert cls.__getattribute__ is CommonBase.__getattribute__


def test_reserved_names_stay_unreadable_and_settable() -> None:
    with expected_protocol(Dynamic, [("WIDT 0.5", None), ("WIDT 2", None)]) as inst:
        with pytest.raises(AttributeError, match="reserved"):
            inst.width_values  # noqa: B018 - the read is the test
        inst.width = 0.5
        with pytest.raises(ValueError):
            inst.width = 2
        inst.width_values = (0, 5)  # stored under pymeasure's reserved prefix
        inst.width = 2
        with pytest.raises(AttributeError, match="reserved"):
            inst.width_values  # noqa: B018


def test_plain_lookup_keeps_properties_validators_and_batches() -> None:
    with expected_protocol(
        Plain, [("LEV?", "3.5"), ("LEV 2", None), (":LEV 1;:LEV?", "1"), ("LEV?", "4")]
    ) as inst:
        assert inst.level == 3.5
        inst.level = 2
        with pytest.raises(ValueError):
            inst.level = 11
        with inst.batch():
            inst.level = 1
            assert inst.level == 1  # rides on the batched command
        assert inst.level == 4
        with pytest.raises(AttributeError):
            inst.no_such_attribute  # noqa: B018
