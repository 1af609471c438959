"""SCPI grammar for the simulated instruments: headers, long/short forms, parameters, errors.

A handler method is bound to a header pattern written the way programming manuals write it:
``@scpi("[:SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]")``. Upper-case letters are the short
form, the whole word is the long form, either matches case-insensitively; ``[...]`` is an optional
node and ``#`` an optional numeric suffix (``OUTPut#`` matches ``OUTP``, ``OUTP2``, ``output1``).
Queries are bound separately (``@scpi("...?")``), as they behave differently on real instruments.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

# Standard SCPI error codes (SCPI-99 vol. 2, chapter 21) used by the simulated instruments.
NO_ERROR = (0, "No error")
COMMAND_ERROR = (-100, "Command error")
SYNTAX_ERROR = (-102, "Syntax error")
DATA_TYPE_ERROR = (-104, "Data type error")
PARAMETER_NOT_ALLOWED = (-108, "Parameter not allowed")
MISSING_PARAMETER = (-109, "Missing parameter")
UNDEFINED_HEADER = (-113, "Undefined header")
NUMERIC_DATA_ERROR = (-120, "Numeric data error")
SUFFIX_NOT_ALLOWED = (-138, "Suffix not allowed")
EXECUTION_ERROR = (-200, "Execution error")
SETTINGS_CONFLICT = (-221, "Settings conflict")
DATA_OUT_OF_RANGE = (-222, "Data out of range")
ILLEGAL_PARAMETER_VALUE = (-224, "Illegal parameter value")
QUERY_INTERRUPTED = (-410, "Query INTERRUPTED")
QUEUE_OVERFLOW = (-350, "Queue overflow")

_SI_PREFIX = {
    "P": 1e-12, "N": 1e-9, "U": 1e-6, "M": 1e-3, "K": 1e3, "MA": 1e6, "G": 1e9,
}  # fmt: skip


class ScpiError(Exception):
    """Raised inside a handler; the dispatcher puts (code, message) into the error queue."""

    def __init__(self, error: tuple[int, str], detail: str = "") -> None:
        self.code, self.message = error
        self.detail = detail
        super().__init__(f"{self.code},{self.message}{'; ' + detail if detail else ''}")


class ErrorQueue:
    """Instrument error FIFO (SCPI: 'SYST:ERR?' pops the oldest; overflow keeps -350 last)."""

    def __init__(self, depth: int = 32) -> None:
        self.depth = depth
        self._q: deque[tuple[int, str]] = deque()

    def push(self, code: int, message: str) -> None:
        if len(self._q) >= self.depth:
            self._q[-1] = QUEUE_OVERFLOW
            return
        self._q.append((code, message))

    def pop(self) -> tuple[int, str]:
        return self._q.popleft() if self._q else NO_ERROR

    def clear(self) -> None:
        self._q.clear()

    def __len__(self) -> int:
        return len(self._q)

    def __iter__(self) -> Iterator[tuple[int, str]]:
        return iter(self._q)


def _mnemonic_regex(word: str) -> str:
    suffix = word.endswith("#")
    word = word.rstrip("#")
    short = "".join(ch for ch in word if ch.isupper() or ch.isdigit() or ch == "*")
    long_ = word.upper()
    alts = {re.escape(long_), re.escape(short)} if short else {re.escape(long_)}
    body = "(?:" + "|".join(sorted(alts, key=len, reverse=True)) + ")"
    return body + (r"(\d*)" if suffix else "")


def compile_header(pattern: str) -> re.Pattern[str]:
    """Compile a manual-style header pattern into a case-insensitive regex.

    Numeric suffixes become groups, in order. Match it against `rooted(header)`: a leading ':'
    is optional on input, as in SCPI.
    """
    query = pattern.endswith("?")
    pat = pattern[:-1] if query else pattern
    out: list[str] = []
    i = 0
    while i < len(pat):
        ch = pat[i]
        if ch == "[":
            out.append("(?:")
            i += 1
        elif ch == "]":
            out.append(")?")
            i += 1
        elif ch == ":":
            out.append(":")
            i += 1
        else:
            m = re.match(r"[*A-Za-z][A-Za-z0-9]*#?", pat[i:])
            if not m:
                raise ValueError(f"bad SCPI pattern {pattern!r} at {pat[i:]!r}")
            out.append(_mnemonic_regex(m.group(0)))
            i += m.end()
    regex = "".join(out)
    # Headers are matched in rooted form (":SOUR:VOLT"); `rooted()` adds the ':' to input that
    # lacks it, so a leading optional node ("[:SOURce]:PULSe") may be absent either way.
    prefix = "^" if regex.startswith((":", "(?::")) else "^:?"
    return re.compile(prefix + regex + (r"\?" if query else "") + "$", re.IGNORECASE)


def program_units(message: str) -> Iterator[tuple[str, list[str]]]:
    """(rooted header, args) per program message unit of a ';'-joined message, applying the
    SCPI current-path rule (a unit without a leading ':' continues the previous unit's path)."""
    path = ""
    for unit in split_top(message, ";"):
        unit = unit.strip()
        if not unit:
            continue
        header, _, rest = unit.partition(" ")
        header = header.strip()
        if header.startswith(":*"):
            header = header[1:]
        if not header.startswith(("*", ":")) and path:
            header = path + ":" + header
        if not header.startswith("*"):
            bare = header.lstrip(":")
            path = bare.rsplit(":", 1)[0] if ":" in bare else ""
        args = [a.strip() for a in split_top(rest, ",")] if rest.strip() else []
        yield rooted(header), args


def rooted(header: str) -> str:
    """':'-prefixed form of a program header (common commands '*XYZ' unchanged)."""
    return header if header.startswith((":", "*")) else ":" + header


def split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside double/single quotes and parentheses."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


@dataclass
class Call:
    """One parsed program message unit handed to a handler."""

    header: str
    suffixes: tuple[str, ...]
    args: list[str] = field(default_factory=list)

    def suffix(self, i: int = 0, default: int = 1) -> int:
        s = self.suffixes[i] if i < len(self.suffixes) else ""
        return int(s) if s else default

    def nargs(self, lo: int, hi: int | None = None) -> None:
        hi = lo if hi is None else hi
        if len(self.args) < lo:
            raise ScpiError(MISSING_PARAMETER, self.header)
        if len(self.args) > hi:
            raise ScpiError(PARAMETER_NOT_ALLOWED, self.header)

    def text(self, i: int = 0) -> str:
        self.nargs(max(i + 1, len(self.args)) if len(self.args) > i else i + 1, len(self.args))
        return self.args[i].strip().strip("\"'")

    def number(
        self,
        i: int = 0,
        *,
        lo: float | None = None,
        hi: float | None = None,
        unit: str = "",
        special: dict[str, float] | None = None,
    ) -> float:
        """Parse a <numeric> parameter (MIN/MAX/DEF via `special`, SI-prefixed units allowed)."""
        if i >= len(self.args):
            raise ScpiError(MISSING_PARAMETER, self.header)
        raw = self.args[i].strip()
        key = raw.upper()
        for name, value in (special or {}).items():
            if key == name.upper() or (len(key) >= 3 and name.upper().startswith(key)):
                return value
        value = parse_number(raw, unit)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ScpiError(DATA_OUT_OF_RANGE, f"{self.header} {raw}")
        return value

    def boolean(self, i: int = 0) -> bool:
        if i >= len(self.args):
            raise ScpiError(MISSING_PARAMETER, self.header)
        key = self.args[i].strip().upper()
        if key in ("1", "ON"):
            return True
        if key in ("0", "OFF"):
            return False
        try:
            return bool(round(float(key)))
        except ValueError:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"{self.header} {key}") from None

    def choice(self, i: int, choices: list[str]) -> str:
        """Match an enumerated <character data> parameter given in manual form (e.g. 'IMMediate')."""
        if i >= len(self.args):
            raise ScpiError(MISSING_PARAMETER, self.header)
        key = self.args[i].strip().strip("\"'").upper()
        for c in choices:
            short = "".join(ch for ch in c if ch.isupper() or ch.isdigit())
            if key in (c.upper(), short or c.upper()):
                return short or c.upper()
        raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"{self.header} {key}")


def parse_number(raw: str, unit: str = "") -> float:
    """Parse SCPI <NRf> with an optional SI-prefixed unit suffix ('60NS', '1.5V', '2e-3')."""
    text = raw.strip().upper()
    u = unit.upper()
    if u and text.endswith(u):
        text = text[: -len(u)]
        for prefix in sorted(_SI_PREFIX, key=len, reverse=True):
            if text.endswith(prefix) and _is_float(text[: -len(prefix)]):
                return float(text[: -len(prefix)]) * _SI_PREFIX[prefix]
    if not _is_float(text):
        raise ScpiError(DATA_TYPE_ERROR if text and text[0].isalpha() else NUMERIC_DATA_ERROR, raw)
    return float(text)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() != "" and text.lower() not in ("nan", "inf", "-inf", "infinity")


def scpi(pattern: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Bind a handler method to a manual-style SCPI header pattern (see module docstring)."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__dict__.setdefault("_scpi_patterns", []).append(pattern)
        return fn

    return deco


def fmt_nr3(value: float) -> str:
    """Format a number the way most SCPI instruments answer numeric queries (+1.234560E-05)."""
    return f"{value:+.6E}"
