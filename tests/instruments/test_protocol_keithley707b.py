"""Keithley 707B driver: command transcripts (707B reference manual TSP forms)."""

from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol

from reramlab.instruments.base import InstrumentError
from reramlab.instruments.keithley707b import Keithley707B
from reramlab.instruments.roles import SwitchMatrix

EMPTY = ("print(errorqueue.next())", "0\tQueue Is Empty\t0\t0")


def test_init_does_not_talk_and_satisfies_the_role() -> None:
    with expected_protocol(Keithley707B, []) as sw:
        assert isinstance(sw, SwitchMatrix)
        assert sw.n_columns == 72


def test_id() -> None:
    with expected_protocol(
        Keithley707B, [("*IDN?", "Keithley Instruments Inc., Model 707B, 1234567, 1.6.0")]
    ) as sw:
        assert "707B" in sw.id


@pytest.mark.parametrize(
    ("rule", "constant", "number"),
    [
        ("off", "channel.OFF", "0.00000e+00"),
        ("break_before_make", "channel.BREAK_BEFORE_MAKE", "1.00000e+00"),
        ("make_before_break", "channel.MAKE_BEFORE_BREAK", "2"),
    ],
)
def test_connect_rule(rule: str, constant: str, number: str) -> None:
    with expected_protocol(
        Keithley707B,
        [(f"channel.connectrule = {constant}", None), ("print(channel.connectrule)", number)],
    ) as sw:
        sw.connect_rule = rule
        assert sw.connect_rule == rule


@pytest.mark.parametrize(
    ("reply", "closed"),
    [("nil", set()), ("1A01", {"1A01"}), ("1A01;2B02;6H12", {"1A01", "2B02", "6H12"})],
)
def test_closed_channels(reply: str, closed: set[str]) -> None:
    with expected_protocol(
        Keithley707B,
        [('print(channel.getclose("allslots"))', reply)] * 2,
    ) as sw:
        assert sw.closed_channels == closed
        assert sw.closed() == closed


def test_error_count_and_next_error() -> None:
    with expected_protocol(
        Keithley707B,
        [
            ("print(errorqueue.count)", "1.00000e+00"),
            ("print(errorqueue.next())", "-285\tTSP Syntax error at line 1\t2\t0"),
        ],
    ) as sw:
        assert sw.error_count == 1
        assert sw.next_error == [-285, "TSP Syntax error at line 1"]


def test_check_errors_raises_tsp_errors() -> None:
    with (
        expected_protocol(
            Keithley707B,
            [("print(errorqueue.next())", "-286\tTSP Runtime error\t2\t0"), EMPTY],
            name="sw",
        ) as sw,
        pytest.raises(InstrumentError) as info,
    ):
        sw.check_errors()
    assert info.value.errors == [(-286, "TSP Runtime error")]


# -- channel operations: the command and the error count in one chunk (one message per move) ----
COUNT = ";print(errorqueue.count)"


@pytest.mark.parametrize(
    ("method", "names", "command"),
    [
        ("close", ["1A01"], 'channel.close("1A01")'),
        ("close", ["1a01", "2B02"], 'channel.close("1A01,2B02")'),
        ("open", ["6H12"], 'channel.open("6H12")'),
        ("exclusive_close", ["3C05", "3D05"], 'channel.exclusiveclose("3C05,3D05")'),
        ("exclusive_close", [], 'channel.open("allslots")'),
    ],
)
def test_channel_operations(method: str, names: list[str], command: str) -> None:
    with expected_protocol(Keithley707B, [(command + COUNT, "0.00000e+00")]) as sw:
        getattr(sw, method)(names)


@pytest.mark.parametrize("method", ["close", "open"])
def test_empty_close_or_open_sends_nothing(method: str) -> None:
    with expected_protocol(Keithley707B, []) as sw:
        getattr(sw, method)([])


@pytest.mark.parametrize("name", ["1A13", "7A01", "1I01", "1A1", "A01", "1A00", ""])
def test_invalid_channel_names_are_refused_before_sending(name: str) -> None:
    with expected_protocol(Keithley707B, []) as sw, pytest.raises(ValueError):
        sw.close(["1A01", name])


def test_channel_names_respect_the_installed_slots() -> None:
    with expected_protocol(Keithley707B, [], slots=2) as sw:
        assert sw.n_columns == 24
        with pytest.raises(ValueError):
            sw.close(["3A01"])


def test_close_raises_what_the_instrument_refused() -> None:
    with (
        expected_protocol(
            Keithley707B,
            [
                ('channel.close("1A01")' + COUNT, "1.00000e+00"),
                ("print(errorqueue.next())", "-286\tTSP Runtime error\t2\t0"),
                EMPTY,
            ],
        ) as sw,
        pytest.raises(InstrumentError) as info,
    ):
        sw.close(["1A01"])
    assert info.value.errors == [(-286, "TSP Runtime error")]


class _StoppedChunk:
    """A 707B whose chunk stopped at a Lua run-time error: no reply to the count, the error
    waiting in the queue (what a device clear and `clear_io` then read)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.queue = [("-286", "TSP Runtime error at line 1")]

    def write(self, command: str, **kwargs) -> None:
        self.sent.append(command)

    def read(self, **kwargs) -> str:
        from pyvisa.errors import VisaIOError

        if self.sent[-1] != "print(errorqueue.next())":
            raise VisaIOError(-1073807339)  # VI_ERROR_TMO
        code, message = self.queue.pop(0) if self.queue else ("0", "Queue Is Empty")
        return f"{code}\t{message}\t2\t0"


def test_a_chunk_stopped_by_a_refused_command_still_raises_it() -> None:
    """Should the refusal stop the chunk before the count is printed, the reply times out and
    the queued error is raised all the same (after a device clear)."""
    from pymeasure.adapters import Adapter

    bus = _StoppedChunk()

    class StubAdapter(Adapter):
        def _write(self, command: str, **kwargs) -> None:
            bus.write(command)

        def _read(self, **kwargs) -> str:
            return bus.read()

    sw = Keithley707B(StubAdapter())
    with pytest.raises(InstrumentError) as info:
        sw.exclusive_close(["1A01", "1H01"])
    assert info.value.errors == [(-286, "TSP Runtime error at line 1")]
    assert bus.sent[0] == 'channel.exclusiveclose("1A01,1H01")' + COUNT


# -- SwitchMatrix role --------------------------------------------------------------------------
def test_configure_sets_break_before_make() -> None:
    with expected_protocol(
        Keithley707B, [("channel.connectrule = channel.BREAK_BEFORE_MAKE" + COUNT, "0")]
    ) as sw:
        sw.configure()


def test_open_all_and_safe_state() -> None:
    with expected_protocol(
        Keithley707B,
        [('channel.open("allslots")' + COUNT, "0"), ('channel.open("allslots")', None)],
    ) as sw:
        sw.open_all()
        sw.safe_state()  # no error check: stale errors must not stop a shutdown


@pytest.mark.parametrize(
    ("row", "column", "name"),
    [("A", 1, "1A01"), ("B", 14, "2B02"), ("h", 12, "1H12"), ("C", 13, "2C01"), ("D", 72, "6D12")],
)
def test_crosspoint(row: str, column: int, name: str) -> None:
    with expected_protocol(Keithley707B, []) as sw:
        assert sw.crosspoint(row, column) == name


@pytest.mark.parametrize(("row", "column"), [("I", 1), ("AB", 1), ("A", 0), ("A", 73), ("A", 1.5)])
def test_crosspoint_rejects_rows_and_columns_outside_the_matrix(row: str, column) -> None:
    with expected_protocol(Keithley707B, []) as sw, pytest.raises(ValueError):
        sw.crosspoint(row, column)
