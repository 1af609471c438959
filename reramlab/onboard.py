"""Loops that run on the instrument: TSP scripts on a 2600B-class drive SMU.

Two loops whose every step depends on the last measurement: the write-verify loop of
program-and-verify (below) and the forming ramp (a BL step, a read, stop when formed).

A verify decision made on the host costs a bus round trip per iteration (read, decide, pulse).
On a station whose drive SMU runs TSP scripts, whose switch matrix is on the same TSP-Link
network and whose pulse generator's trigger input is cabled to one of the SMU's digital I/O
lines (`wiring.tsplink`, `wiring.triggers`), the whole loop of a cell runs on the SMU as one
function call: read, decide, route the pulse through the matrix, set the gate, pulse the
trigger line, route back, read again. The bus then carries one call per cell (plus the pulse
generator's levels when the target range changes).

Pulses: both pulse-generator channels are armed for the trigger input (`:ARM:SOUR EXT`), the
BL channel at the SET amplitude and the SL channel at the RESET amplitude; each trigger fires
both, and the matrix decides which one reaches the cell. The read route puts the BL on the
drive SMU with the SL grounded; a SET closes the BL pulse channel's crosspoint onto the same BL
(the drive let go: output off, high impedance) and opens it again after the pulse, one relay
actuation each way, as the host loop's shared route does; a RESET moves to the SL pulse channel
with the BL grounded (break before make) and back. The channel whose row is open pulses into
nothing. No relay moves with a source above 0 V: the drive goes to 0 V before each move and the
pulse outputs idle at 0 V; the gate's WL crosspoint never moves.

Forming needs no pulse generator: the ramp step, the read and the stop decision run on the SMU
on the cell's read route (`form`), the same steps `protocols/forming.py` makes from the host.

What the write-verify loop does per iteration is `programming.program_cell`'s loop (identical pulses, or
the IGVVA gate ladder, incremental or cumulative); ISPVA changes the pulse amplitude, which
only the host can set on the generator, so it stays on the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reramlab.errors import SafetyLimitError
from reramlab.instruments.base import InstrumentError
from reramlab.instruments.roles import ExternallyTriggeredChannel, ScriptRunner
from reramlab.routing import GND, Route

if TYPE_CHECKING:
    from reramlab.bench import Bench
    from reramlab.routing import Cell

SCRIPT_NAME = "reramlab_loops"
#: wait after a gate change before the pulse fires: the gate SMU's source settling (the 2600B
#: settles within ~100 us on the 2 V range); from the host a bus round trip hides it
GATE_SETTLE_S = 100e-6

#: the loops (Lua, Series 2600B user script); `sw` = the matrix's TSP-Link node, `line` = the
#: digital I/O line cabled to the pulse generator. Verify history, in order: reads ("r", G, time)
#: and pulses ("p", 1 SET / 2 RESET, time, gate). A loop body runs under pcall: an error ends it
#: at 0 V with what it did so far returned.
SCRIPT = """
function rl_verify(d, g, sw, line, v_read, vg_read, lo, hi, g_formed, max_iter,
                   x_read, x_set, x_reset, wait_s, vg_set, vg_reset,
                   vg_set_start, vg_reset_start, vg_step, cumulative, settle_s)
  local k, last, n, vg = {0, 0}, 0, 0, 0
  local out = {}
  local ok, err = pcall(function()
  digio.trigger[line].mode = digio.TRIG_RISINGM
  local function route(x)
    d.source.levelv = 0
    sw.exclusiveclose(x)
  end
  local function read()
    d.source.levelv = v_read
    local gv = d.measure.i() / v_read
    table.insert(out, string.format("r,%.9g,%.9g", gv, timer.measure.t()))
    return gv
  end
  timer.reset()
  d.source.offmode = d.OUTPUT_HIGH_Z
  g.source.levelv = 0
  route(x_read)
  g.source.levelv = vg_read
  d.source.output = d.OUTPUT_ON
  local gv = read()
  if gv >= g_formed then
    while (gv < lo or gv > hi) and n < max_iter do
      local p = (gv < lo) and 1 or 2
      if cumulative and p ~= last then k[p] = 0 end
      if p == 1 then
        vg = math.min(vg_set_start + k[p] * vg_step, vg_set)
        d.source.levelv = 0
        d.source.output = d.OUTPUT_OFF
        sw.close(x_set)
      else
        vg = math.min(vg_reset_start + k[p] * vg_step, vg_reset)
        route(x_reset)
      end
      k[p] = k[p] + 1
      last = p
      g.source.levelv = vg
      delay(settle_s)
      digio.trigger[line].assert()
      delay(wait_s)
      table.insert(out, string.format("p,%d,%.9g,%.9g", p, timer.measure.t(), vg))
      g.source.levelv = vg_read
      if p == 1 then
        sw.open(x_set)
        d.source.output = d.OUTPUT_ON
      else
        route(x_read)
      end
      n = n + 1
      gv = read()
    end
  end
  end)
  return rl_finish(d, g, vg_read, out, ok, err)
end

function rl_form(d, g, sw, x_read, vg, v_read, v_start, v_step, n_steps, g_formed)
  local out = {}
  local ok, err = pcall(function()
  timer.reset()
  g.source.levelv = 0
  d.source.levelv = 0
  sw.exclusiveclose(x_read)
  g.source.levelv = vg
  d.source.output = d.OUTPUT_ON
  for k = 0, n_steps - 1 do
    local v = v_start + k * v_step
    d.source.levelv = v
    local i = d.measure.i()
    local t = timer.measure.t()
    d.source.levelv = v_read
    local gv = d.measure.i() / v_read
    table.insert(out, string.format("%.9g,%.9g,%.9g,%.9g,%.9g", v, i, t, gv, timer.measure.t()))
    if gv >= g_formed then break end
  end
  end)
  return rl_finish(d, g, vg, out, ok, err)
end

-- every loop ends here, also after an error: the drive at 0 V, the gate at its read level,
-- and whatever was measured, with "!" and the error appended if the loop stopped early
function rl_finish(d, g, vg, out, ok, err)
  d.source.levelv = 0
  pcall(function() g.source.levelv = vg end)
  local text = table.concat(out, ";")
  if not ok then text = text .. "!" .. tostring(err) end
  return text
end
"""


class ScriptAborted(InstrumentError):
    """An instrument-side loop stopped part-way (a Lua or instrument error, or the bus failed);
    `steps` holds what it measured before (logged by the caller before this propagates)."""

    def __init__(self, instrument: str, errors: list, detail: str, steps: list) -> None:
        super().__init__(instrument, errors, detail)
        self.steps = steps


@dataclass(frozen=True)
class VerifyStep:
    """One verify read of an on-instrument loop: the pulse before it (polarity 0 none, +1 SET,
    -1 RESET; its bench time and gate voltage), the conductance read (S) and its bench time
    (NaN for a pulse after which the loop stopped before reading)."""

    polarity: int
    g_s: float
    t_s: float
    t_pulse_s: float
    vg_pulse: float


@dataclass(frozen=True)
class FormStep:
    """One forming step run on the instrument: the BL level (V) and the current during it (A)
    at `t_s`, then the read's conductance (S) at `t_read_s`."""

    v: float
    i_a: float
    t_s: float
    g_s: float
    t_read_s: float


class Onboard:
    """The loops of one cell as single calls to the drive SMU's script.

    Build it with `Onboard.of(bench)` (None if the station cannot run scripts);
    `can_pulse` says whether the write-verify loop can (it needs the trigger cable)."""

    def __init__(self, bench: Bench, smu, switch_name: str, node: int, line: int | None) -> None:
        self.bench = bench
        self.smu = smu  # the TSP instrument holding drive and gate
        self.switch_name = switch_name
        self.node = node
        self.line = line
        self._loaded = False

    @classmethod
    def of(cls, bench: Bench) -> Onboard | None:
        """The loop runner for `bench`, or None: it needs drive and gate on one script-capable
        SMU, every line on one matrix on that SMU's TSP-Link network and a ground matrix row.
        For the write-verify loop also both pulse channels on one generator whose trigger
        input is cabled to a digital I/O line of the SMU."""
        w = bench.wiring
        fns = w.functions
        smu_name = fns["drive"].split(".")[0]
        switches = {g.switch for g in w.lines.values()}
        if (
            fns["gate"].split(".")[0] != smu_name
            or "gnd" not in w.matrix_rows.values()
            or len(switches) != 1
            or None in switches
        ):
            return None
        (switch,) = switches
        smu = bench.station.instruments[smu_name]
        if (
            smu_name not in w.tsplink
            or switch not in w.tsplink
            or not isinstance(smu, ScriptRunner)
        ):
            return None
        pg = {fns[k].split(".")[0] for k in ("pulse_bl", "pulse_sl") if k in fns}
        lines = [ln for ln, target in w.triggers.items()
                 if ln.split(".")[0] == smu_name and {target} == pg and len(fns) == 4]  # fmt: skip
        armable = all(
            isinstance(ch, ExternallyTriggeredChannel) for ch in (bench.pulse_bl, bench.pulse_sl)
        )
        line = int(lines[0].split(".dio")[1]) if lines and armable else None
        return cls(bench, smu, switch, w.tsplink[switch], line)

    def check_links(self) -> list[str]:
        """Problems with the TSP-Link network as the SMU sees it (empty if none): the link must
        be online and the matrix must answer as node `node`. (A trigger cable cannot be seen
        from the SMU; a wrong one shows as cells that never move.)"""
        try:
            state = self.smu.call_script("tsplink.state")
        except InstrumentError as e:
            return [f"wiring.tsplink: cannot read tsplink.state ({e})"]
        if state != "online":
            return [f"wiring.tsplink: TSP-Link is {state!r}, not 'online' (cable, node numbers, "
                    "tsplink.reset())"]  # fmt: skip
        try:
            self.smu.call_script(f'node[{self.node}].channel.getclose("allslots")')
        except InstrumentError as e:
            return [f"wiring.tsplink: {self.switch_name} does not answer as node {self.node} ({e})"]
        return []

    @property
    def can_pulse(self) -> bool:
        """Whether the write-verify loop can run: a trigger cable from the SMU to a pulse
        generator whose channels can be armed for it (`enable_external`)."""
        return self.line is not None

    def _call(self, function: str, args: list[str], busy_s: float, parse) -> list:
        """Call a script function and parse its records (a list of ';'-separated records of
        ','-separated fields) with `parse`. The
        matrix gets its connect rule first (break before make). If the loop stopped early, or
        the call itself failed, the bench forgets the matrix state and levels and
        `ScriptAborted` carries the parsed partial records."""
        b = self.bench
        if not b._dc_ready:
            raise RuntimeError("call prepare_dc() before an instrument-side loop")
        b.configured_switch(self.switch_name)
        self._load()
        try:
            reply = self.smu.call_script(f"{function}({', '.join(args)})", timeout_s=busy_s)
        except BaseException:
            b.after_failed_script(self.switch_name)
            raise
        text, stopped, error = reply.partition("!")
        records = parse([item.split(",") for item in text.split(";") if item])
        if stopped:
            b.after_failed_script(self.switch_name)
            queued = self.smu.queued_errors()
            raise ScriptAborted(self.smu.name, queued, f"{function} stopped: {error}", records)
        return records

    def _channels(self) -> tuple[str, str]:
        """Lua names of the drive and gate SMUs ('smua', 'smub')."""
        fns = self.bench.wiring.functions
        return tuple(f"smu{fns[f].split('.')[1]}" for f in ("drive", "gate"))  # type: ignore[return-value]

    # -- forming -------------------------------------------------------------------------------
    def form(self, cell: Cell, *, v_start: float, v_step: float, n_steps: int, vg: float,
             v_read: float, g_formed_s: float) -> list[FormStep]:  # fmt: skip
        """The forming ramp of `cell` on the instrument: BL steps from `v_start` by `v_step`
        (at most `n_steps`), each followed by a read, stopping at the first read at or above
        `g_formed_s`. Levels are checked against the station limits first; afterwards the
        cell is on its read route with the drive at 0 V."""
        b = self.bench
        b.check_cell(cell)
        b.check_level("BL", v_start + (n_steps - 1) * v_step, "forming ramp end")
        b.check_level("BL", v_read, "v_read")
        b.check_level("WL", vg, "vg")
        x_read = ",".join(sorted(self._crosspoints(cell, "read")))
        d, g = self._channels()
        args = [d, g, f"node[{self.node}].channel", f'"{x_read}"']
        args += [f"{v:.9g}" for v in (vg, v_read, v_start, v_step)]
        args += [str(int(n_steps)), f"{g_formed_s:.9g}"]
        nplc = getattr(b.drive, "_nplc", 1.0)
        t0 = b.now_s()

        def parse(records: list[list[str]]) -> list[FormStep]:
            return [FormStep(v, i, t0 + t, gv, t0 + tr)
                    for v, i, t, gv, tr in (map(float, r) for r in records)]  # fmt: skip

        steps = self._call("rl_form", args, n_steps * (2 * nplc / 50.0 + 0.02) + 5.0, parse)
        b.after_script(cell, read_route=x_read, switch=self.switch_name, vg=vg)
        return steps

    # -- per cell ----------------------------------------------------------------------------
    def program(self, cell: Cell, *, target_s: float, window_s: float, v_set: float,
                v_reset: float, width_s: float, vg_set: float, vg_reset: float,
                vg_set_start: float, vg_reset_start: float, vg_step: float, cumulative: bool,
                v_read: float, vg_read: float, g_formed_s: float,
                max_iterations: int) -> list[VerifyStep]:  # fmt: skip
        """Write-verify `cell` to `target_s` ± `window_s` on the instrument; every verify read
        (the first one included) as a `VerifyStep`. Levels are checked against the station
        limits first; afterwards the cell is on its read route with the drive at 0 V."""
        if not self.can_pulse:
            raise SafetyLimitError(
                "no trigger cable from the drive SMU to the pulse generator (wiring.triggers)"
            )
        b = self.bench
        b.check_cell(cell)
        b.check_width(width_s)
        b.check_level("BL", v_set, "SET pulse amplitude")
        b.check_level("SL", -v_reset, "RESET pulse amplitude")
        b.check_level("BL", v_read, "v_read")
        for name, v in (("vg_set", vg_set), ("vg_reset", vg_reset), ("vg", vg_read),
                        ("vg_set_start", vg_set_start), ("vg_reset_start", vg_reset_start)):  # fmt: skip
            b.check_level("WL", v, name)
        if not (v_set > 0 > v_reset and v_read > 0):
            raise SafetyLimitError(f"v_set {v_set} V must be > 0, v_reset {v_reset} V < 0")
        period_s = max(4 * width_s, width_s + 2 * 10e-9 + 20e-9)
        shape = dict(width_s=width_s, period_s=period_s, rise_s=10e-9, fall_s=10e-9)
        b.arm_pulse_outputs_external([(b.pulse_bl, dict(v_high=v_set, **shape)),
                                      (b.pulse_sl, dict(v_high=-v_reset, **shape))])  # fmt: skip
        x = {name: self._crosspoints(cell, name) for name in ("read", "set", "reset")}
        x["set"] -= x["read"]  # a SET only adds the BL pulse channel to the read route
        d, g = self._channels()
        args = [d, g, f"node[{self.node}].channel", str(self.line)]
        args += [f"{v:.9g}" for v in (v_read, vg_read, target_s - window_s, target_s + window_s,
                                      g_formed_s)]  # fmt: skip
        args += [str(int(max_iterations))]
        args += [f'"{",".join(sorted(x[k]))}"' for k in ("read", "set", "reset")]
        args += [f"{v:.9g}" for v in (period_s, vg_set, vg_reset, vg_set_start, vg_reset_start,
                                      vg_step)]  # fmt: skip
        args += ["true" if cumulative else "false", f"{GATE_SETTLE_S:.9g}"]
        nplc = getattr(b.drive, "_nplc", 1.0)
        t0 = b.now_s()

        def parse(records: list[list[str]]) -> list[VerifyStep]:
            steps, pulse = [], (0, math.nan, math.nan)
            for kind, *fields in records:
                if kind == "p":
                    pulse = ({1: 1, 2: -1}[int(fields[0])], t0 + float(fields[1]), float(fields[2]))
                else:
                    steps.append(VerifyStep(pulse[0], float(fields[0]), t0 + float(fields[1]),
                                            pulse[1], pulse[2]))  # fmt: skip
                    pulse = (0, math.nan, math.nan)
            if pulse[0]:  # a pulse the loop stopped after, before its read
                steps.append(VerifyStep(pulse[0], math.nan, math.nan, pulse[1], pulse[2]))
            return steps

        busy_s = (max_iterations + 1) * (nplc / 50.0 + 0.05) + 5.0
        steps = self._call("rl_verify", args, busy_s, parse)
        b.after_script(cell, read_route=",".join(sorted(x["read"])), switch=self.switch_name,
                       vg=vg_read)  # fmt: skip
        return steps

    # -- set-up --------------------------------------------------------------------------------
    def _load(self) -> None:
        if not self._loaded:
            self.smu.load_script(SCRIPT_NAME, SCRIPT)
            self._loaded = True

    def _crosspoints(self, cell: Cell, kind: str) -> set[str]:
        fns = self.bench.wiring.functions
        if kind == "read":
            route = Route(wl=fns["gate"], bl=fns["drive"], sl=GND)
        elif kind == "set":
            route = Route(wl=fns["gate"], bl=fns["pulse_bl"], sl=GND)
        else:
            route = Route(wl=fns["gate"], bl=GND, sl=fns["pulse_sl"])
        wanted, _ = self.bench.crosspoints(cell, route)
        return set(wanted[self.switch_name])
