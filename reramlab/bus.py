"""What the bench asks of the instrument behind a role object, where its driver offers it.

Role objects are drivers or channels of drivers; the bench reaches the driver for its
message batches and I/O clearing (`driver_of`), extends its timeout for a query answered only
after a long burst (`timeout_at_least`) and asks whether a method takes a keyword
(`accepts`). Shared by the DC, pulse and safe-state code of `reramlab.bench`.
"""

from __future__ import annotations

import contextlib
import inspect


def timeout_at_least(driver: object, seconds: float):
    """`driver.timeout_at_least(seconds)` where the driver has it (a query answered only after
    a long burst), else nothing."""
    extend = getattr(driver, "timeout_at_least", None)
    return extend(seconds) if callable(extend) else contextlib.nullcontext()


def accepts(fn, name: str) -> bool:
    """Whether callable `fn` takes a keyword argument `name`."""
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def driver_of(obj: object) -> object:
    """The instrument behind a role object (a driver, or the parent of a channel)."""
    return obj if hasattr(obj, "clear_io") else getattr(obj, "parent", obj)
