"""Fault injection for the simulated bench: what goes wrong on a real bench at 3 a.m.

One ``Faults`` object per simulated bench (``ReramSimLibrary.faults``). Tests arm faults by
calling its methods; a station arms them from its ``sim: faults:`` list (carried into the
resource file's ``reramsim.faults``, see ``configure``). Every fault that fires is noted in
``fired`` (kind, instrument or cell, simulated time, what happened).

Bus and instrument faults (per instrument name; ``match`` is a regex searched in the program
message, ``after`` lets that many matching messages pass first, ``count`` messages are hit):

- ``timeout``: a query gets no reply, so the VISA read times out. With ``late=True`` the reply
  is not lost but arrives after the next message (a stale reply in the output buffer, which
  only a device clear removes);
- ``garble``: the reply is replaced by bytes that are not a number;
- ``truncate``: half the reply arrives and the message never ends (the read times out with a
  partial message in the buffer);
- ``error``: the instrument puts an entry in its error queue (``code``, ``message``);
- ``disconnect``: the instrument disappears: opening it, writing, reading and clearing fail with
  ``VI_ERROR_CONN_LOST`` (open: ``VI_ERROR_RSRC_NFOUND``) for ``ops`` bus operations or
  ``for_s`` simulated seconds (neither: until ``reconnect``). With ``power_cycle`` it comes back
  in its power-on state (outputs off).

Chip faults (``cells``: a list of (row, col)):

- ``stuck``: cells frozen at ``g_s`` (array model hook);
- ``unformable``: cells that never form (array model hook);
- ``short``: a resistive short of ``r_ohm`` between the cell's BL and SL, bypassing its access
  transistor: only the SMU's compliance limits the current (bench level);
- ``forming_spike``: when the cell forms, the next current measurement on its lines carries an
  extra ``i_a`` (the discharge overshoot of an abrupt forming event; the SMU clamps it at its
  compliance, as a real one does).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .array_model import ArrayModel
    from .bench import SimBench
    from .clock import SimClock
    from .instrument import SimInstrument

#: a program message that expects a reply (SCPI query or TSP print)
QUERY_RE = re.compile(r"\?|print\s*\(|printbuffer\s*\(", re.IGNORECASE)
MESSAGE_KINDS = ("timeout", "garble", "truncate", "error")
BUS_KINDS = (*MESSAGE_KINDS, "disconnect")
CELL_KINDS = ("stuck", "unformable", "short", "forming_spike")
KINDS = (*BUS_KINDS, *CELL_KINDS)
GARBAGE = "\x7f#?"


@dataclass
class _Rule:
    """One armed bus fault."""

    kind: str
    instrument: str
    match: re.Pattern[str] | None
    after: int = 0
    count: int = 1
    late: bool = False
    code: int = -300
    message: str = "Device-specific error"
    ops: int | None = None
    for_s: float | None = None
    power_cycle: bool = False
    seen: int = 0
    hits: int = 0

    def wants(self, text: str) -> bool:
        """Count a message that matches; True if this one is hit."""
        if self.hits >= self.count:
            return False
        pattern = self.match or (
            QUERY_RE if self.kind in ("timeout", "garble", "truncate") else None
        )
        if pattern is not None and not pattern.search(text):
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        self.hits += 1
        return True


@dataclass
class _Offline:
    ops_left: int | None
    until_s: float | None
    power_cycle: bool


@dataclass
class MessageOutcome:
    """What the bus does with one program message and its reply."""

    reply: str | None
    #: True: the reply (if any) is held back and released after the next message
    late: bool = False
    #: True: the reply arrives without its end (the read times out)
    truncated: bool = False


@dataclass
class Faults:
    """Armed faults of one simulated bench; all off by default."""

    clock: SimClock | None = None
    model: ArrayModel | None = None
    bench: SimBench | None = None
    instruments: Mapping[str, SimInstrument] = field(default_factory=dict)
    #: every fault that fired: (kind, where, simulated time, detail)
    fired: list[tuple[str, str, float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rules: list[_Rule] = []
        self._offline: dict[str, _Offline] = {}
        self._shorts: dict[tuple[int, int], float] = {}
        self._spikes: dict[tuple[int, int], float] = {}
        self._spiked: set[tuple[int, int]] = set()
        self._wrapped: Callable[..., float] | None = None

    # -- arming: bus and instrument faults -----------------------------------------------------
    def timeout(self, instrument: str, *, count: int = 1, after: int = 0, match: str | None = None,
                late: bool = False) -> None:  # fmt: skip
        """The next `count` queries (matching `match`) after `after` of them get no reply."""
        self._add("timeout", instrument, count=count, after=after, match=match, late=late)

    def garble(self, instrument: str, *, count: int = 1, after: int = 0, match: str | None = None) -> None:  # fmt: skip
        """Replies to the next `count` queries are garbage (not a number)."""
        self._add("garble", instrument, count=count, after=after, match=match)

    def truncate(self, instrument: str, *, count: int = 1, after: int = 0, match: str | None = None) -> None:  # fmt: skip
        """Replies to the next `count` queries are cut in half and never end."""
        self._add("truncate", instrument, count=count, after=after, match=match)

    def error(self, instrument: str, *, code: int = -300, message: str = "Device-specific error",
              count: int = 1, after: int = 0, match: str | None = None) -> None:  # fmt: skip
        """The instrument queues (code, message) when it receives the next matching message."""
        self._add("error", instrument, count=count, after=after, match=match, code=int(code),
                  message=str(message))  # fmt: skip

    def disconnect(self, instrument: str, *, ops: int | None = None, for_s: float | None = None,
                   after: int = 0, match: str | None = None, power_cycle: bool = False) -> None:  # fmt: skip
        """The instrument disappears (after `after` more messages): `ops` bus operations fail,
        or every operation for `for_s` simulated seconds, or every one until `reconnect`."""
        self._instrument(instrument)
        if after == 0 and match is None:
            self._go_offline(instrument, ops, for_s, power_cycle)
            return
        self._add("disconnect", instrument, after=after, match=match, ops=ops, for_s=for_s,
                  power_cycle=power_cycle)  # fmt: skip

    def reconnect(self, instrument: str) -> None:
        """The instrument is back (in its power-on state if it was power-cycled)."""
        state = self._offline.pop(instrument, None)
        if state is not None and state.power_cycle:
            self.instruments[instrument].safe_outputs()
        if state is not None:
            self._note("reconnect", instrument, "back on the bus")

    def offline(self, instrument: str) -> bool:
        """True while the instrument is gone (without counting a bus operation)."""
        state = self._offline.get(instrument)
        if state is None:
            return False
        if state.until_s is not None and self._now() >= state.until_s:
            self.reconnect(instrument)
            return False
        return True

    # -- arming: chip faults -------------------------------------------------------------------
    def stuck(self, cells: Iterable[tuple[int, int]], g_s: float) -> None:
        """Cells frozen at conductance `g_s` (they neither form nor switch)."""
        cells = self._cells(cells)
        self._model().set_stuck(self._mask(cells), float(g_s))
        self._note("stuck", str(cells), f"at {g_s:g} S")

    def unformable(self, cells: Iterable[tuple[int, int]]) -> None:
        """Cells that never form."""
        cells = self._cells(cells)
        self._model().set_unformable(self._mask(cells))
        self._note("unformable", str(cells), "never form")

    def short(self, cells: Iterable[tuple[int, int]], r_ohm: float = 50.0) -> None:
        """A BL-SL short of `r_ohm` at each cell, bypassing its access transistor."""
        if not r_ohm > 0:
            raise ValueError(f"short: r_ohm must be > 0, not {r_ohm}")
        for cell in self._cells(cells):
            self._shorts[cell] = float(r_ohm)
        self._hook_currents()

    def forming_spike(self, cells: Iterable[tuple[int, int]], i_a: float = 10e-3) -> None:
        """When a cell forms, the next current measurement on its lines carries `i_a` more."""
        for cell in self._cells(cells):
            self._spikes[cell] = float(i_a)
            self._spiked.discard(cell)
        self._hook_currents()

    # -- configuration (resource file) ---------------------------------------------------------
    def configure(self, specs: Iterable[Mapping[str, Any]] | Mapping[str, Any] | None) -> None:
        """Arm faults from a resource file's ``reramsim.faults`` (a list of mappings with a
        ``kind`` key and the keyword arguments of that method; a mapping kind -> arguments or
        list of arguments is accepted too)."""
        for spec in _spec_list(specs):
            args = dict(spec)
            kind = args.pop("kind", None)
            if kind not in KINDS:
                raise ValueError(f"faults: kind {kind!r} is not one of {', '.join(KINDS)}")
            if kind in CELL_KINDS:
                cells = args.pop("cells", None)
                if cells is None:
                    raise ValueError(f"faults: a {kind} fault needs 'cells'")
                getattr(self, kind)([tuple(c) for c in cells], **args)
            else:
                instrument = args.pop("instrument", None)
                if instrument is None:
                    raise ValueError(f"faults: a {kind} fault needs 'instrument'")
                getattr(self, kind)(instrument, **args)

    def chip_restored(self, specs: Iterable[Mapping[str, Any]] | Mapping[str, Any] | None) -> None:
        """The chip was put back in a saved state (ReramSimLibrary.restore_chip): the stuck and
        unformable faults of `specs` are applied on top of it (one armed since the state was
        saved takes effect; the others are in it already), and the forming spikes of cells
        already formed are spent (they formed in an earlier run)."""
        for spec in _spec_list(specs):
            kind, cells = spec.get("kind"), [tuple(c) for c in spec.get("cells") or ()]
            if kind == "stuck":
                self._model().set_stuck(self._mask(self._cells(cells)), float(spec["g_s"]))
            elif kind == "unformable":
                self._model().set_unformable(self._mask(self._cells(cells)))
        if self._spikes and self.model is not None:
            formed = self.model.formed
            self._spiked.update(cell for cell in self._spikes if formed[cell])

    def clear(self) -> None:
        """Disarm every fault (the chip's hook faults go with the model's reset)."""
        self._rules.clear()
        for name in list(self._offline):
            self.reconnect(name)
        self._shorts.clear()
        self._spikes.clear()
        self._spiked.clear()
        self.fired.clear()

    # -- what the bus calls --------------------------------------------------------------------
    def bus_operation(self, instrument: str, op: str) -> bool:
        """Count one bus operation (open, write, read, clear); False if it fails (offline)."""
        if not self.offline(instrument):
            return True
        state = self._offline[instrument]
        if state.ops_left is not None:
            state.ops_left -= 1
            if state.ops_left <= 0:
                # this operation still fails; the next one finds the instrument back
                self._offline[instrument] = _Offline(None, self._now(), state.power_cycle)
        self._note("disconnect", instrument, f"{op} failed: instrument gone")
        return False

    def before_message(self, instrument: SimInstrument, text: str) -> bool:
        """Called when a whole program message arrives; False if the instrument drops off the
        bus with it (the message is lost). Queues armed error entries."""
        for rule in self._rules_for(instrument.name, ("disconnect", "error")):
            if not rule.wants(text):
                continue
            if rule.kind == "disconnect":
                self._go_offline(instrument.name, rule.ops, rule.for_s, rule.power_cycle)
                return False
            instrument.errors.push(rule.code, rule.message)
            self._note("error", instrument.name, f"queued {rule.code},{rule.message!r}")
        return True

    def after_message(
        self, instrument: SimInstrument, text: str, reply: str | None
    ) -> MessageOutcome:
        """Decide what happens to the reply of a message the instrument has executed."""
        out = MessageOutcome(reply)
        if reply is None:
            return out
        for rule in self._rules_for(instrument.name, ("timeout", "garble", "truncate")):
            if not rule.wants(text):
                continue
            if rule.kind == "timeout":
                out.late = rule.late
                if not rule.late:
                    out.reply = None
                self._note("timeout", instrument.name, f"no reply to {text[:60]!r}"
                           + (" (reply arrives late)" if rule.late else ""))  # fmt: skip
            elif rule.kind == "garble":
                out.reply = GARBAGE + reply[: max(1, len(reply) // 2)][::-1]
                self._note("garble", instrument.name, f"garbled reply to {text[:60]!r}")
            else:
                out.reply = reply[: max(1, len(reply) // 2)]
                out.truncated = True
                self._note("truncate", instrument.name, f"truncated reply to {text[:60]!r}")
            break
        return out

    # -- helpers -------------------------------------------------------------------------------
    def _add(self, kind: str, instrument: str, *, match: str | None = None, count: int = 1,
             after: int = 0, **kw: Any) -> None:  # fmt: skip
        self._instrument(instrument)
        if int(count) < 1 or int(after) < 0:
            raise ValueError(f"{kind}: count must be >= 1 and after >= 0")
        pattern = re.compile(match, re.IGNORECASE) if match else None
        self._rules.append(
            _Rule(kind, instrument, pattern, after=int(after), count=int(count), **kw)
        )

    def _rules_for(self, instrument: str, kinds: tuple[str, ...]) -> list[_Rule]:
        return [r for r in self._rules if r.instrument == instrument and r.kind in kinds]

    def _go_offline(self, instrument: str, ops: int | None, for_s: float | None,
                    power_cycle: bool) -> None:  # fmt: skip
        until = None if for_s is None else self._now() + float(for_s)
        self._offline[instrument] = _Offline(None if ops is None else int(ops), until, power_cycle)
        if power_cycle:
            self.instruments[instrument].safe_outputs()
        self._note("disconnect", instrument, "gone from the bus"
                   + (f" for {ops} operations" if ops else "")
                   + (f" for {for_s} s" if for_s else ""))  # fmt: skip

    def _instrument(self, name: str) -> None:
        if self.instruments and name not in self.instruments:
            raise ValueError(
                f"faults: no simulated instrument named {name!r} (have {sorted(self.instruments)})"
            )

    def _model(self) -> ArrayModel:
        if self.model is None:
            raise RuntimeError("faults: no array model to put a cell fault in")
        return self.model

    def _cells(self, cells: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        model = self._model()
        out = []
        for cell in cells:
            r, c = (int(x) for x in cell)
            if not (0 <= r < model.rows and 0 <= c < model.cols):
                raise ValueError(
                    f"faults: cell {(r, c)} is outside the {model.rows}x{model.cols} chip"
                )
            out.append((r, c))
        return out

    def _mask(self, cells: list[tuple[int, int]]) -> np.ndarray:
        model = self._model()
        mask = np.zeros((model.rows, model.cols), dtype=bool)
        for r, c in cells:
            mask[r, c] = True
        return mask

    def _now(self) -> float:
        return self.clock.now_s if self.clock is not None else 0.0

    def _note(self, kind: str, where: str, detail: str) -> None:
        self.fired.append((kind, where, self._now(), detail))

    # -- bench-level current faults (shorts, forming spikes) -----------------------------------
    def _hook_currents(self) -> None:
        """Wrap the simulated bench's current read-out once (instance attribute, no subclass)."""
        if self._wrapped is not None or self.bench is None:
            return
        self._wrapped = self.bench.current_into
        self.bench.current_into = self._current_into  # type: ignore[method-assign]

    def _current_into(self, terminal: str, aperture_s: float | None) -> float:
        assert self._wrapped is not None and self.bench is not None
        i = self._wrapped(terminal, aperture_s)
        if not (self._shorts or self._spikes):
            return i
        lines = set(self.bench.lines_of(terminal))
        if not lines:
            return i
        v_bl, v_sl, _ = self.bench.line_voltages()
        for (r, c), r_ohm in self._shorts.items():
            if np.isnan(v_bl[c]) or np.isnan(v_sl[r]):
                continue
            di = (v_bl[c] - v_sl[r]) / r_ohm
            i += di * ((f"BL{c}" in lines) - (f"SL{r}" in lines))
        if self._spikes and self.model is not None:
            formed = self.model.formed
            for (r, c), i_a in self._spikes.items():
                if (r, c) in self._spiked or not formed[r, c]:
                    continue
                sign = (f"BL{c}" in lines) - (f"SL{r}" in lines)
                if sign:
                    self._spiked.add((r, c))
                    i += sign * i_a
                    self._note("forming_spike", str((r, c)), f"{i_a:g} A spike on {terminal}")
        return i


def _spec_list(
    specs: Iterable[Mapping[str, Any]] | Mapping[str, Any] | None,
) -> list[Mapping[str, Any]]:
    if not specs:
        return []
    if isinstance(specs, Mapping):
        out: list[Mapping[str, Any]] = []
        for kind, args in specs.items():
            for one in args if isinstance(args, list) else [args]:
                out.append({"kind": kind, **dict(one or {})})
        return out
    return list(specs)
