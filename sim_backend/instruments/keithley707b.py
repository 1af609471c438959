"""Simulated Keithley 707B switching matrix mainframe (TSP, 707B Reference Manual 707B-901-01).

Six slots of 8x12 matrix cards (7174A): channel names are slot, row letter, two-digit column
(``"1A01"``); lists are comma separated, ``"1A01:1B12"`` is a rectangular range, and
``"allslots"``/``"slot1"`` name whole cards. Closing a channel takes the relay's actuation time
on the simulated clock. ``channel.connectrule`` is honoured for reporting only: relays are ideal.
"""

from __future__ import annotations

import re

from ..instrument import TSP_RUNTIME_ERROR, TspInstrument, tsp
from ..scpi import ScpiError

ROWS = "ABCDEFGH"
COLS_PER_CARD = 12
RELAY_TIME_S = 3e-3  # 7174A actuation plus settling, data sheet order of magnitude
RULES = {"channel.OFF": 0, "channel.BREAK_BEFORE_MAKE": 1, "channel.MAKE_BEFORE_BREAK": 2}


class Keithley707BSim(TspInstrument):
    idn = "Keithley Instruments Inc., Model 707B, 1234567, 1.6.0"

    def reset(self) -> None:
        super().reset()
        self.slots = int(self.options.get("slots", 6))
        self.closed: set[tuple[int, str, int]] = set()
        self.connect_rule = 1
        self._push()

    def _push(self) -> None:
        self.bench.set_closed(
            self.name, {(row, (slot - 1) * COLS_PER_CARD + col) for slot, row, col in self.closed}
        )

    def parse_channels(self, spec: str) -> set[tuple[int, str, int]]:
        """'1A01,1B02', '1A01:2H12', 'slot3', 'allslots' -> set of (slot, row, column)."""
        out: set[tuple[int, str, int]] = set()
        for item in (s.strip() for s in spec.split(",")):
            low = item.lower()
            if low == "allslots":
                out |= self._card_channels(range(1, self.slots + 1))
            elif re.fullmatch(r"slot[1-6]", low):
                out |= self._card_channels([int(low[4])])
            elif ":" in item:
                a, b = (self._one(p) for p in item.split(":", 1))
                for slot in range(min(a[0], b[0]), max(a[0], b[0]) + 1):
                    for r in ROWS[ROWS.index(min(a[1], b[1])) : ROWS.index(max(a[1], b[1])) + 1]:
                        for col in range(min(a[2], b[2]), max(a[2], b[2]) + 1):
                            out.add((slot, r, col))
            else:
                out.add(self._one(item))
        return out

    def _one(self, name: str) -> tuple[int, str, int]:
        m = re.fullmatch(r"([1-6])([A-Ha-h])(\d\d)", name.strip())
        if not m or int(m.group(1)) > self.slots or not 1 <= int(m.group(3)) <= COLS_PER_CARD:
            raise ScpiError(TSP_RUNTIME_ERROR, f"invalid channel '{name}'")
        return int(m.group(1)), m.group(2).upper(), int(m.group(3))

    def _card_channels(self, slots) -> set[tuple[int, str, int]]:
        return {(s, r, c) for s in slots for r in ROWS for c in range(1, COLS_PER_CARD + 1)}

    @tsp(r'channel\.close\(\s*"(?P<spec>[^"]+)"\s*\)')
    def _close(self, spec: str) -> None:
        self.closed |= self.parse_channels(spec)
        self._push()
        self.bench.clock.advance(RELAY_TIME_S)

    @tsp(r'channel\.exclusiveclose\(\s*"(?P<spec>[^"]+)"\s*\)')
    def _exclusive_close(self, spec: str) -> None:
        wanted = self.parse_channels(spec)
        self.closed = set(wanted)
        self._push()
        self.bench.clock.advance(2 * RELAY_TIME_S)

    @tsp(r'channel\.open\(\s*"(?P<spec>[^"]+)"\s*\)')
    def _open(self, spec: str) -> None:
        self.closed -= self.parse_channels(spec)
        self._push()
        self.bench.clock.advance(RELAY_TIME_S)

    @tsp(r'print\(\s*channel\.getclose\(\s*"(?P<spec>[^"]+)"\s*\)\s*\)')
    def _getclose(self, spec: str) -> str:
        scope = self.parse_channels(spec)
        names = sorted(f"{s}{r}{c:02d}" for s, r, c in self.closed & scope)
        return ";".join(names) if names else "nil"

    @tsp(r"channel\.connectrule\s*=\s*(?P<rule>channel\.\w+|\d)")
    def _rule(self, rule: str) -> None:
        value = RULES.get(rule, int(rule) if rule.isdigit() else -1)
        if value not in (0, 1, 2):
            raise ScpiError(TSP_RUNTIME_ERROR, f"invalid connect rule {rule}")
        self.connect_rule = value

    @tsp(r"print\(\s*channel\.connectrule\s*\)")
    def _rule_q(self) -> str:
        return f"{self.connect_rule}"

    @tsp(r"print\(\s*localnode\.model\s*\)")
    def _model(self) -> str:
        return "707B"
