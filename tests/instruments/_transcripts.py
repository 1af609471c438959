"""Transcript helper for the driver tests: one test per property sets it and reads it back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pymeasure.test import expected_protocol


def control_transcript(
    driver: type,
    select: Callable[[Any], Any],
    name: str,
    value: Any,
    message: bytes,
    query: bytes,
    reply: bytes,
) -> None:
    """Setting `name` on `select(instrument)` to `value` sends exactly `message`; reading it
    sends `query` and turns `reply` back into `value`."""
    with expected_protocol(driver, [(message, None), (query, reply)]) as inst:
        target = select(inst)
        setattr(target, name, value)
        assert getattr(target, name) == pytest.approx(value)
