"""Instrument-side failures injected into a simulated instrument for the tests."""

from __future__ import annotations

from reramlab.sim_backend.scpi import DATA_OUT_OF_RANGE, ScpiError


def inject_gate_refusal(twin, *, after: int, monkeypatch) -> None:
    """The simulated 2636B refuses the `after`-th setting of smub's level (and every later one)
    with -222, as it would a level out of range: a script setting the gate stops there."""
    original = twin._set_attr
    count = {"n": 0}

    def refusing(s, name, attr, v):
        if name == "smub" and attr == "source.levelv":
            count["n"] += 1
            if count["n"] >= after:
                raise ScpiError(DATA_OUT_OF_RANGE, f"{attr} = {v} (injected)")
        return original(s, name, attr, v)

    monkeypatch.setattr(twin, "_set_attr", refusing)
