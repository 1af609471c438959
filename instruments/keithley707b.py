"""Keithley 707B switching matrix mainframe (TSP), as a `SwitchMatrix` role.

pymeasure has no 707B driver; this one follows pymeasure's declarative style over the 707B's
TSP (Lua) command set (707B Reference Manual 707B-901-01): `channel.close("1A01,1B02")`,
`channel.open("allslots")`, `channel.exclusiveclose(...)`, `print(channel.getclose(...))`,
`channel.connectrule`, `print(errorqueue.count)` / `print(errorqueue.next())`. A channel
operation and its error check travel as one chunk (`channel.open("1H01");print(errorqueue.count)`),
one message per relay move.

Channel names are slot (1-6), row letter (A-H) and two-digit column (01-12) of an 8x12 matrix
card (7174A), e.g. '2B02'. Columns are also numbered globally across the slots (12 per card), so
global column 14 is column 02 of slot 2.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pymeasure.adapters import Adapter
from pymeasure.instruments import Instrument
from pymeasure.instruments.validators import strict_discrete_set

from .base import DriverMixin

ROWS = "ABCDEFGH"
COLUMNS_PER_CARD = 12
SLOTS = 6
ALL_SLOTS = "allslots"
CHANNEL_NAME = re.compile(r"[1-6][A-H](0[1-9]|1[0-2])")
#: connect rules by name -> the TSP constant; the 707B reads them back as 0, 1, 2
CONNECT_RULES = {
    "off": "channel.OFF",
    "break_before_make": "channel.BREAK_BEFORE_MAKE",
    "make_before_break": "channel.MAKE_BEFORE_BREAK",
}
_RULE_BY_NUMBER = dict(enumerate(CONNECT_RULES))
ERROR_COUNT_QUERY = "print(errorqueue.count)"


def _closed_set(reply: str) -> set[str]:
    """`print(channel.getclose(...))` reply ('1A01;1B02' or 'nil') -> set of channel names."""
    reply = reply.strip()
    return set() if reply in ("", "nil") else {name.strip() for name in reply.split(";")}


def _error_fields(fields: list) -> list:
    """errorqueue.next() prints code, message, severity, node: keep (code, message)."""
    return fields[:2]


class Keithley707B(DriverMixin, Instrument):
    """Keithley 707B switching matrix (`SwitchMatrix` role). Nothing is sent in `__init__`;
    call `configure()` once after connecting.

    .. code-block:: python

        sw = Keithley707B("GPIB0::16::INSTR")
        sw.configure()                               # break-before-make
        sw.close([sw.crosspoint("A", 1), sw.crosspoint("B", 14)])   # '1A01', '2B02'
        sw.closed()                                  # {'1A01', '2B02'}
        sw.safe_state()                              # every crosspoint open
    """

    scpi_chaining = False  # TSP: statements, not SCPI program message units
    #: a Lua run-time error stops a chunk, so a batch never lets a query ride on its commands;
    #: a checked batch (every channel operation) ends its chunk with the error count instead
    chain_queries = False
    error_count_query = ERROR_COUNT_QUERY

    def __init__(
        self,
        adapter: Adapter | str | int,
        name: str = "Keithley 707B Switching Matrix",
        slots: int = SLOTS,
        **kwargs,
    ) -> None:
        super().__init__(adapter, name, includeSCPI=False, **kwargs)
        if not 1 <= slots <= SLOTS:
            raise ValueError(f"slots must be 1..{SLOTS}, not {slots}")
        self.slots = slots

    @property
    def n_columns(self) -> int:
        """Get the number of global columns across the installed cards (int)."""
        return self.slots * COLUMNS_PER_CARD

    id = Instrument.measurement(
        "*IDN?",
        """Get the identification of the instrument (str).""",
        cast=str,
        maxsplit=0,
    )

    connect_rule = Instrument.control(
        "print(channel.connectrule)",
        "channel.connectrule = %s",
        """Control the order in which relays move on close (str: 'off', 'break_before_make'
        or 'make_before_break').""",
        validator=strict_discrete_set,
        values=list(CONNECT_RULES),
        set_process=CONNECT_RULES.__getitem__,
        get_process=lambda v: _RULE_BY_NUMBER[int(float(v))],
    )

    closed_channels = Instrument.measurement(
        f'print(channel.getclose("{ALL_SLOTS}"))',
        """Get the closed channels of every slot (set of str, empty if none).""",
        cast=str,
        maxsplit=0,
        get_process=_closed_set,
    )

    error_count = Instrument.measurement(
        ERROR_COUNT_QUERY,
        """Get the number of entries in the error queue (int).""",
        get_process=lambda v: int(float(v)),
    )

    next_error = Instrument.measurement(
        "print(errorqueue.next())",
        """Get the oldest error as [code, message] and remove it from the queue (0 = empty).""",
        separator="\t",
        get_process_list=_error_fields,
    )

    # -- channel operations ------------------------------------------------------------------
    def channel_list(self, names: Iterable[str]) -> str:
        """Validate channel names ('1A01') against the installed slots; return the TSP list."""
        checked = []
        for name in names:
            text = str(name).strip().upper()
            if not CHANNEL_NAME.fullmatch(text) or int(text[0]) > self.slots:
                raise ValueError(f"{self.name}: invalid channel name {name!r}")
            checked.append(text)
        return ",".join(checked)

    def _channel_call(self, function: str, spec: str) -> None:
        self.write_checked(f'channel.{function}("{spec}")')

    def write_checked(self, command: str) -> None:
        """`command` and the error count in one chunk, one message and one reply
        (`channel.open("1H01");print(errorqueue.count)`); raises `InstrumentError` with the
        queued errors if the 707B refused the command (a checked `batch`, see there)."""
        with self.batch(check_errors=True):
            self.write(command)

    def close(self, crosspoints: Iterable[str]) -> None:
        """Close the named crosspoints (others stay as they are); raises on a refused name."""
        spec = self.channel_list(crosspoints)
        if spec:
            self._channel_call("close", spec)

    def open(self, crosspoints: Iterable[str]) -> None:
        """Open the named crosspoints."""
        spec = self.channel_list(crosspoints)
        if spec:
            self._channel_call("open", spec)

    def exclusive_close(self, crosspoints: Iterable[str]) -> None:
        """Close exactly the named crosspoints and open every other one."""
        spec = self.channel_list(crosspoints)
        if spec:
            self._channel_call("exclusiveclose", spec)
        else:
            self.open_all()

    def open_all(self) -> None:
        """Open every crosspoint of every slot."""
        self._channel_call("open", ALL_SLOTS)

    # -- SwitchMatrix role -------------------------------------------------------------------
    def configure(self) -> None:
        """Break-before-make switching (the relays of a close open before new ones make)."""
        self.write_checked(f"channel.connectrule = {CONNECT_RULES['break_before_make']}")

    def closed(self) -> set[str]:
        """The closed crosspoints."""
        return self.closed_channels

    def crosspoint(self, row: str, column: int) -> str:
        """Channel name of row letter `row` and 1-based global `column` ('B', 14 -> '2B02')."""
        letter = str(row).strip().upper()
        if len(letter) != 1 or letter not in ROWS:
            raise ValueError(f"row must be one of {ROWS}, not {row!r}")
        if isinstance(column, bool) or int(column) != column or not 1 <= column <= self.n_columns:
            raise ValueError(f"column must be 1..{self.n_columns}, not {column!r}")
        slot, col = divmod(int(column) - 1, COLUMNS_PER_CARD)
        return f"{slot + 1}{letter}{col + 1:02d}"

    def safe_state(self) -> None:
        """Every crosspoint open. The queue is not checked, so that stale errors cannot stop a
        shutdown."""
        self.write(f'channel.open("{ALL_SLOTS}")')
