"""Base classes of the simulated instruments: SCPI (IEEE 488.2) and TSP (Keithley Lua) front ends.

A simulated instrument receives whole program messages (terminations stripped) and returns the
reply message or None. It parses its real command set and files every unknown or malformed
command in its error queue with the real error code; nothing is silently accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from .scpi import (
    EXECUTION_ERROR,
    UNDEFINED_HEADER,
    Call,
    ErrorQueue,
    ScpiError,
    compile_header,
    program_units,
    rooted,
    scpi,
    split_top,
)

if TYPE_CHECKING:
    from .bench import SimBench


class SimInstrument:
    """State shared by every simulated instrument: identity, error queue, bench, command log."""

    idn: ClassVar[str] = "SIMULATED,INSTRUMENT,0,0"
    #: seconds the instrument needs per command unit (parsing, relay/DAC settling is extra)
    command_time_s: ClassVar[float] = 20e-6

    def __init__(self, bench: SimBench, name: str, options: dict[str, Any] | None = None) -> None:
        self.bench = bench
        self.name = name
        self.options = dict(options or {})
        self.errors = ErrorQueue()
        self.reset()

    # -- state ------------------------------------------------------------------------------
    def reset(self) -> None:
        """Power-on / *RST state. Subclasses extend and call super()."""

    def safe_outputs(self) -> None:
        """What the instrument does when the bench is reset: outputs off, relays open."""
        self.reset()

    def error(self, err: tuple[int, str], detail: str = "") -> None:
        self.errors.push(err[0], err[1] + (f"; {detail}" if detail else ""))

    #: set by the library when it records commands for the audit: called with (instrument name,
    #: program message, refused) for a command the instrument executed on its own
    own_command_hook: Callable[[str, str, bool], None] | None = None

    def record_effect(self, text: str, refused: bool = False) -> None:
        """Report a command this instrument executed without receiving it (a statement of a
        stored script), written as the equivalent program message, so the safety audit sees
        it as if it had been sent."""
        if self.own_command_hook is not None:
            self.own_command_hook(self.name, text, refused)

    def handle(self, message: str) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError


class ScpiInstrument(SimInstrument):
    """SCPI front end: ';'-separated units, current-path rule, long/short headers, 488.2 commands."""

    _table: ClassVar[list[tuple[re.Pattern[str], bool, str]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: list[tuple[re.Pattern[str], bool, str]] = []
        for klass in reversed(cls.__mro__):
            for attr, fn in vars(klass).items():
                for pattern in getattr(fn, "_scpi_patterns", ()):
                    table.append((compile_header(pattern), pattern.endswith("?"), attr))
        # subclasses' patterns win: search from the most derived
        cls._table = list(reversed(table))

    def reset(self) -> None:
        self.opc_pending = False
        super().reset()

    def handle(self, message: str) -> str | None:
        replies: list[str] = []
        for header, args in program_units(message):
            reply = self._dispatch(header, args)
            self.bench.clock.advance(self.command_time_s)
            if reply is not None:
                replies.append(reply)
        return ";".join(replies) if replies else None

    def _dispatch(self, header: str, args: list[str]) -> str | None:
        is_query = header.endswith("?")
        header = rooted(header)
        for regex, query, attr in self._table:
            if query != is_query:
                continue
            m = regex.match(header)
            if m:
                call = Call(header, tuple(g or "" for g in m.groups()), args)
                try:
                    return getattr(self, attr)(call)
                except ScpiError as e:
                    self.errors.push(e.code, e.message)
                    return None
                except (ValueError, IndexError) as e:
                    self.error(EXECUTION_ERROR, str(e))
                    return None
        self.errors.push(*UNDEFINED_HEADER)
        return None

    # -- IEEE 488.2 common commands ----------------------------------------------------------

    @scpi("*IDN?")
    def _idn(self, call: Call) -> str:
        return self.idn

    @scpi("*RST")
    def _rst(self, call: Call) -> None:
        self.reset()

    @scpi("*CLS")
    def _cls(self, call: Call) -> None:
        self.errors.clear()

    @scpi("*OPC?")
    def _opc_q(self, call: Call) -> str:
        return "1"

    @scpi("*OPC")
    def _opc(self, call: Call) -> None:
        self.opc_pending = True

    @scpi("*WAI")
    def _wai(self, call: Call) -> None:
        return None

    @scpi("*ESR?")
    def _esr(self, call: Call) -> str:
        esr = (1 if self.opc_pending else 0) | (32 if len(self.errors) else 0)
        self.opc_pending = False
        return str(esr)

    @scpi("*STB?")
    def _stb(self, call: Call) -> str:
        return str(4 if len(self.errors) else 0)

    @scpi("*TRG")
    def _trg(self, call: Call) -> None:
        self.trigger()

    @scpi(":SYSTem:ERRor[:NEXT]?")
    def _syst_err(self, call: Call) -> str:
        code, msg = self.errors.pop()
        return f'{code},"{msg}"'

    @scpi(":SYSTem:ERRor:COUNt?")
    def _syst_err_count(self, call: Call) -> str:
        return str(len(self.errors))

    @scpi(":SYSTem:ERRor:ALL?")
    def _syst_err_all(self, call: Call) -> str:
        items = []
        while len(self.errors):
            code, msg = self.errors.pop()
            items.append(f'{code},"{msg}"')
        return ",".join(items) or '0,"No error"'

    def trigger(self) -> None:
        """Bus trigger (*TRG). Instruments without a trigger model ignore it."""

    def external_trigger(self) -> None:
        """A pulse on the trigger input cable (`SimBench.assert_trigger`). Ignored unless the
        instrument is armed for it."""


# -- TSP (Keithley Test Script Processor) ------------------------------------------------------

TSP_SYNTAX_ERROR = (-285, "TSP Syntax error")
TSP_RUNTIME_ERROR = (-286, "TSP Runtime error")


def tsp(pattern: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Bind a handler to a regex over one TSP statement (whitespace-normalised)."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__dict__.setdefault("_tsp_patterns", []).append(pattern)
        return fn

    return deco


class TspInstrument(SimInstrument):
    """TSP front end: one Lua statement per line (or ';'/space separated simple statements).

    Supports the subset real scripts use for instrument control: attribute assignment, function
    calls, and print(...) of expressions the subclass knows. `*IDN?`, `*RST`, `*CLS` and `*OPC?`
    are accepted as on the real instruments.
    """

    _tsp_table: ClassVar[list[tuple[re.Pattern[str], str]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = []
        for klass in reversed(cls.__mro__):
            for attr, fn in vars(klass).items():
                for pattern in getattr(fn, "_tsp_patterns", ()):
                    table.append((re.compile(r"^\s*" + pattern + r"\s*$"), attr))
        cls._tsp_table = list(reversed(table))

    def handle(self, message: str) -> str | None:
        text = message.strip()
        common = {"*IDN?": lambda: self.idn, "*OPC?": lambda: "1"}
        if text.upper() in common:
            return common[text.upper()]()
        if text.upper() in ("*RST", "*CLS"):
            self.reset() if text.upper() == "*RST" else self.errors.clear()
            return None
        out: list[str] = []
        for stmt in _tsp_statements(text):
            if not self._statement(stmt, out):
                break  # Lua aborts the chunk at the first error
        return "\n".join(out) if out else None

    def _statement(self, stmt: str, out: list[str]) -> bool:
        """Run one statement (replies appended to `out`); False ends the chunk."""
        return self._table_statement(stmt, self._match(stmt), out)

    def _match(self, stmt: str) -> tuple[re.Match[str], str] | None:
        """The handler-table entry `stmt` matches, if any."""
        for regex, attr in self._tsp_table:
            m = regex.match(stmt)
            if m:
                return m, attr
        return None

    def _table_statement(
        self, stmt: str, hit: tuple[re.Match[str], str] | None, out: list[str]
    ) -> bool:
        """Run `stmt` through its handler (`hit`); an unknown statement ends the chunk."""
        self.bench.clock.advance(self.command_time_s)
        if hit is None:
            self.error(TSP_SYNTAX_ERROR, f"unexpected statement near '{stmt[:40]}'")
            return False
        m, attr = hit
        try:
            reply = getattr(self, attr)(**m.groupdict())
        except ScpiError as e:
            self.errors.push(e.code, e.message)
            return True
        if reply is not None:
            out.append(reply)
        return True

    @tsp(r"print\(\s*errorqueue\.count\s*\)")
    def _eq_count(self) -> str:
        return f"{len(self.errors)}"

    @tsp(r"print\(\s*errorqueue\.next\(\)\s*\)")
    def _eq_next(self) -> str:
        code, msg = self.errors.pop()
        return f"{code}\t{msg}\t0\t0"

    @tsp(r"errorqueue\.clear\(\)")
    def _eq_clear(self) -> None:
        self.errors.clear()

    @tsp(r"reset\(\)")
    def _reset_fn(self) -> None:
        self.reset()

    @tsp(r"(?:waitcomplete|opc)\(\)")
    def _noop(self) -> None:
        return None


def _tsp_statements(text: str) -> list[str]:
    """Split a TSP chunk into statements (newlines and ';' outside strings)."""
    stmts: list[str] = []
    for line in text.replace("\r", "\n").split("\n"):
        stmts.extend(s.strip() for s in split_top(line, ";") if s.strip())
    return stmts
