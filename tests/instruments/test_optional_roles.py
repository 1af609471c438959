"""Which drivers offer the optional capabilities the bench looks for (instruments/roles.py):
the shared-line read, user scripts and trigger-input arming. The bench picks its routes and
the instrument-side loops from these; a driver that loses one must fail here, not silently
fall back on a bench."""

from __future__ import annotations

import pytest

from reramlab.instruments.keithley2450 import Keithley2450
from reramlab.instruments.keithley2636b import Keithley2636B
from reramlab.instruments.keysight33600a import Keysight33600A
from reramlab.instruments.keysight81160a import Keysight81160A
from reramlab.instruments.keysightb2902 import KeysightB2902
from reramlab.instruments.roles import (
    ExternallyTriggeredChannel,
    ScriptRunner,
    SharedLineSourceMeter,
    SourceMeter,
)
from reramlab.runner import open_bench
from reramlab.stations.loader import load_station


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The instruments of every lab station, connected to the simulator."""
    found, opened = {}, []
    for name in ("lab-2450-81160-707b", "lab-b2902-33600-707b", "lab-2636b-81160-707b"):
        _, connected, _ = open_bench(load_station(name), sim=True,
                                     sim_dir=tmp_path_factory.mktemp(name))  # fmt: skip
        opened.append(connected)
        for inst in connected.instruments.values():
            found[type(inst)] = inst
    yield found
    for connected in opened:
        connected.close()


def test_drive_smus_can_share_a_line_and_read_in_one_message(lab) -> None:
    channels = [lab[Keithley2450], lab[KeysightB2902].channel(1), lab[Keithley2636B].channel("a")]
    for ch in channels:
        assert isinstance(ch, SourceMeter) and isinstance(ch, SharedLineSourceMeter), ch


def test_only_the_2636b_runs_scripts(lab) -> None:
    assert isinstance(lab[Keithley2636B], ScriptRunner)
    assert not isinstance(lab[KeysightB2902], ScriptRunner)
    assert not isinstance(lab[Keithley2450], ScriptRunner)


def test_81160a_channels_arm_for_the_trigger_input_and_33600a_ones_do_not(lab) -> None:
    assert all(isinstance(lab[Keysight81160A].channel(n), ExternallyTriggeredChannel)
               for n in (1, 2))  # fmt: skip
    assert not isinstance(lab[Keysight33600A].channel(1), ExternallyTriggeredChannel)
