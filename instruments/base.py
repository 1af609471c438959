"""Pieces every reramlab driver shares: instrument errors that raise, command batching, timeouts.

`DriverMixin` goes first in a driver's bases, before the pymeasure class it extends::

    class Keithley2450(DriverMixin, pymeasure.instruments.keithley.Keithley2450): ...

It changes three things about a pymeasure instrument:

- `check_errors()` (and so `check_set_errors`/`check_get_errors`) reads the whole error queue and
  raises `InstrumentError` with the instrument's name and every (code, message), instead of
  logging them and carrying on;
- `batch()` collects the commands that properties and methods write and sends them as one
  message joined by ';' (SCPI program message units, or Lua statements for TSP). A query inside
  the batch goes out with the commands before it, so "configure, then check the error queue"
  costs one round trip. Property validators still run first: a rejected value raises before
  anything of the batch is sent;
- `timeout_at_least()` lengthens the VISA timeout for a query that waits for a long operation.

Terminations default to LF, what the 2450, 81160A and 707B use on GPIB, USB and LAN.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from inspect import getmembers
from typing import Any, ClassVar

from pymeasure.instruments.common_base import CommonBase, DynamicProperty
from pyvisa.errors import VisaIOError

#: error queue depth of the instruments we drive; a longer loop means the queue never drains
MAX_ERRORS = 64


class InstrumentError(RuntimeError):
    """The instrument reported errors; `errors` holds its own (code, message) pairs."""

    def __init__(
        self, instrument: str, errors: Sequence[tuple[int, str]], detail: str = ""
    ) -> None:
        self.instrument = instrument
        self.errors = list(errors)
        listed = "; ".join(f"{code}, {message}" for code, message in self.errors)
        super().__init__(f"{instrument}: {detail or 'instrument error'}: {listed or 'none queued'}")


def error_entry(entry: Any) -> tuple[int, str]:
    """Normalise one error-queue reply (pymeasure `next_error` list) to (code, message)."""
    items = list(entry) if isinstance(entry, list | tuple) else [entry]
    code = int(float(items[0]))
    message = ",".join(str(x) for x in items[1:]).strip().strip('"')
    return code, message


def has_dynamic_properties(cls: type) -> bool:
    """Whether `cls` has pymeasure dynamic properties (`control(..., dynamic=True)`), i.e.
    whether its instances have reserved `_special_names` (the test pymeasure uses)."""
    return any(isinstance(member, DynamicProperty) for _, member in getmembers(cls))


class DriverMixin:
    """Raising error checks, batched writes and timeouts for a pymeasure `Instrument`."""

    #: SCPI: a chained command unit needs a leading ':' to start from the root of the tree
    scpi_chaining: ClassVar[bool] = True
    #: False for TSP: a Lua chunk stops at its first error, so a query must not ride on commands
    chain_queries: ClassVar[bool] = True
    #: TSP: what prints the error count; a checked batch then ends its own chunk with it (one
    #: message, one reply) instead of a query of its own (see `batch`)
    error_count_query: ClassVar[str | None] = None

    _pending: list[str] | None = None
    #: a nested `batch(check_errors=True)` asked for a check: the outermost batch does it
    _check_deferred: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give a driver without dynamic properties the plain (C) attribute lookup.

        pymeasure's `CommonBase.__getattribute__` runs in Python on every attribute read and
        looks `_special_names` up twice more through itself, to refuse reads of the reserved
        names of dynamic properties (`<property>_<parameter>`). A property read makes some 14
        attribute reads (`values`, `ask`, `write`, `adapter`, `_pending`, ...), so the guard
        was the largest cost of the driver over pyvisa. A class without dynamic properties
        has no reserved names (pymeasure derives them from the class's `DynamicProperty`
        members alone), so the guard can never fire: such a class gets `object`'s lookup.
        A class with dynamic properties keeps pymeasure's guard."""
        super().__init_subclass__(**kwargs)
        if "__getattribute__" in vars(cls):
            return  # the class defines its own
        if not has_dynamic_properties(cls):
            cls.__getattribute__ = object.__getattribute__  # type: ignore[method-assign]
        elif cls.__getattribute__ is object.__getattribute__:  # inherited from a driver above
            cls.__getattribute__ = CommonBase.__getattribute__  # type: ignore[method-assign]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        super().__init__(*args, **kwargs)

    # -- errors ------------------------------------------------------------------------------
    def check_errors(self) -> list[tuple[int, str]]:
        """Read the error queue until it is empty; raise `InstrumentError` if it held any.

        :return: an empty list (kept for pymeasure's `check_errors` contract).
        """
        errors = self.queued_errors()
        if errors:
            raise InstrumentError(self.name, errors)
        return []

    def queued_errors(self) -> list[tuple[int, str]]:
        """Read the error queue until it is empty and return its (code, message) entries
        (raises only if it does not drain); for messages that already report a failure."""
        errors = []
        for _ in range(MAX_ERRORS):
            code, message = error_entry(self.next_error)
            if code == 0:
                return errors
            errors.append((code, message))
        raise InstrumentError(self.name, errors, "error queue does not drain")

    def check_set_errors(self) -> list[tuple[int, str]]:
        """Raise `InstrumentError` if setting a property put errors in the queue."""
        return self.check_errors()

    def check_get_errors(self) -> list[tuple[int, str]]:
        """Raise `InstrumentError` if getting a property put errors in the queue."""
        return self.check_errors()

    # -- batching ----------------------------------------------------------------------------
    @contextmanager
    def batch(self, *, check_errors: bool = False) -> Iterator[None]:
        """Send everything written inside the block as one message (nested blocks join the
        outermost). With `check_errors`, read the error queue at the end (the first query
        rides on the message for SCPI) and raise `InstrumentError` on any error. If the block
        raises, nothing that is still pending is sent.

        A nested block's `check_errors` is folded into the outermost block's one check (one
        error query per step, not per command); a nested block without it checks nothing.

        On a TSP instrument (`error_count_query`) the check is the chunk's last statement, which
        prints the error count: commands and check are one message with one reply. Most TSP
        errors do not stop a chunk, so the count is printed after a refused command too
        (707B/2600B manuals, "Effects of errors on scripts"); a Lua run-time error does stop it:
        the count is then never printed, the reply times out, the I/O is cleared and the queue
        read, so the refusal is raised all the same (only slower)."""
        outer = self._pending is None
        if outer:
            self._pending = []
            self._check_deferred = False
        try:
            yield
            checked = check_errors or self._check_deferred
            if not outer:
                # one check per step: a nested block's check travels with the outermost one
                self._check_deferred = checked
            elif checked and self.error_count_query is not None:
                self._flush_counted()
            else:
                if checked:
                    self.check_errors()
                self.flush()
        except BaseException:
            if outer and self._pending:
                self._pending.clear()
            raise
        finally:
            if outer:
                self._pending = None
                self._check_deferred = False

    def _flush_counted(self) -> None:
        """The pending chunk ending with `error_count_query`, sent and answered; raises
        `InstrumentError` with the queued errors if the count is not 0 (see `batch`)."""
        chunk = self.join_commands(self._pending)
        self._pending.append(self.error_count_query)
        try:
            self.flush()
            reply = self.read()
        except VisaIOError as e:
            errors = self.clear_io()
            if errors:
                raise InstrumentError(self.name, errors, f"{chunk} stopped the chunk") from e
            raise
        if int(float(reply)) != 0:
            errors = self.queued_errors()
            raise InstrumentError(self.name, errors, f"{chunk}: error count {reply.strip()}")

    def flush(self) -> None:
        """Send the pending batched commands now (no-op outside a batch)."""
        if self._pending:
            message = self.join_commands(self._pending)
            self._pending.clear()
            super().write(message)  # type: ignore[misc]

    def join_commands(self, commands: Sequence[str]) -> str:
        """Join commands into one message; SCPI units get a leading ':' so that each one starts
        from the root (a bare 'OUTP ON' after ':SOUR:VOLT 0' would otherwise mean
        ':SOUR:OUTP ON')."""
        units = []
        for command in commands:
            text = command.strip().rstrip(";").strip()
            if not text:
                continue
            if self.scpi_chaining and not text.startswith((":", "*")):
                text = ":" + text
            units.append(text)
        return ";".join(units)

    def write(self, command: str, **kwargs: Any) -> None:
        """Write `command`, or queue it while a `batch()` is open."""
        pending = self._pending
        if pending is not None and not kwargs:
            pending.append(command)
            return
        if pending:
            self.flush()
        super().write(command, **kwargs)  # type: ignore[misc]

    def ask(self, command: str, query_delay: float | None = None) -> str:
        """Write a query and read the reply (pending batched commands go first)."""
        if self._pending and not self.chain_queries:
            self.flush()
        return super().ask(command, query_delay)  # type: ignore[misc]

    def read(self, **kwargs: Any) -> str:
        if self._pending:  # nothing to send outside a batch
            self.flush()
        return super().read(**kwargs)  # type: ignore[misc]

    def read_bytes(self, count: int, **kwargs: Any) -> bytes:
        if self._pending:  # nothing to send outside a batch
            self.flush()
        return super().read_bytes(count, **kwargs)  # type: ignore[misc]

    def write_bytes(self, content: bytes, **kwargs: Any) -> None:
        if self._pending:  # nothing to send outside a batch
            self.flush()
        super().write_bytes(content, **kwargs)  # type: ignore[misc]

    def write_binary_values(self, command: str, values: Sequence[float], *args, **kwargs) -> None:
        if self._pending:  # nothing to send outside a batch
            self.flush()
        super().write_binary_values(command, values, *args, **kwargs)  # type: ignore[misc]

    def read_binary_values(self, **kwargs: Any) -> Any:
        if self._pending:  # nothing to send outside a batch
            self.flush()
        return super().read_binary_values(**kwargs)  # type: ignore[misc]

    # -- recovering the bus ------------------------------------------------------------------
    def clear_io(self) -> list[tuple[int, str]]:
        """Recover from a timeout or a garbled reply: drop unsent batched commands, send a VISA
        device clear (empties the instrument's input and output buffers, so a late reply to an
        abandoned query cannot be read as the answer to the next one), then read the error
        queue empty (an interrupted query leaves -410/-420 there on SCPI instruments).

        :return: the (code, message) pairs that were in the error queue; nothing is raised for
            them (the caller decides), but bus errors (VisaIOError) propagate.
        """
        if self._pending:
            self._pending.clear()
        connection = getattr(self.adapter, "connection", None)
        clear = getattr(connection, "clear", None)
        if callable(clear):
            clear()
        errors: list[tuple[int, str]] = []
        for _ in range(MAX_ERRORS):
            try:
                code, message = error_entry(self.next_error)
            except (ValueError, TypeError, IndexError):
                break  # an unreadable entry: the next check will report what remains
            if code == 0:
                break
            errors.append((code, message))
        return errors

    # -- timeouts ----------------------------------------------------------------------------
    @contextmanager
    def timeout_at_least(self, seconds: float) -> Iterator[None]:
        """Lengthen the VISA timeout to at least `seconds` inside the block (for a query that
        answers only when a long operation ends, e.g. after '*WAI')."""
        connection = getattr(self.adapter, "connection", None)
        old_ms = getattr(connection, "timeout", None)
        if not isinstance(old_ms, int | float) or math.isinf(old_ms):
            yield  # no VISA session (test adapter) or already infinite
            return
        connection.timeout = max(old_ms, seconds * 1000.0)
        try:
            yield
        finally:
            connection.timeout = old_ms
