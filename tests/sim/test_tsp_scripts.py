"""TSP user scripts on the simulated 2636B (Lua through lupa), reached through plain pyvisa:
``loadscript``/``endscript``, functions called by later messages, control flow, the TSP API
(SMUs, delay, timer, digital I/O triggers, TSP-Link to a 707B), error codes, and the command
audit seeing what a script sets."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvisa

from helpers import open_raw
from reramlab.sim_backend import tsp_lua
from reramlab.sim_backend.audit import CommandRecorder, audit
from reramlab.sim_backend.instruments.keithley707b import RELAY_TIME_S
from reramlab.sim_backend.library import ReramSimLibrary

K26, SW = "GPIB0::26::INSTR", "GPIB0::16::INSTR"
CELL = "1A01,2H01,3B01"  # smua -> BL0, ground -> SL0, smub -> WL0

#: a 2636B and a 707B on one TSP-Link network (nodes 1 and 2), the 2636B's digital I/O line 1
#: cabled to nothing (the tests spy on it); a 2x2 chip on the matrix
BENCH = """\
spec: "1.1"
devices:
  k26: {eom: {GPIB INSTR: {q: "\\n", r: "\\n"}}, dialogues: []}
  sw: {eom: {GPIB INSTR: {q: "\\n", r: "\\n"}}, dialogues: []}
resources:
  GPIB0::26::INSTR: {device: k26}
  GPIB0::16::INSTR: {device: sw}
reramsim:
  chip: {preset: cmo-hfox-130nm, rows: 2, cols: 2, seed: 3}
  instruments:
    GPIB0::26::INSTR: {model: keithley2636b, name: k26}
    GPIB0::16::INSTR: {model: keithley707b, name: sw}
  wiring:
    matrix_rows: {sw: {A: k26.a, B: k26.b, H: gnd}}
    matrix_columns: {BL0: [sw, 1], BL1: [sw, 2], SL0: [sw, 13], SL1: [sw, 14],
                     WL0: [sw, 25], WL1: [sw, 26]}
    tsplink: {k26: 1, sw: 2}
LIMITS
"""

#: a write-verify-like loop: attribute sets, a trigger, a route through the matrix, a read
LOOP = """\
loadscript vloop
function rl_pv(n, sw, v_read, route)
  local readings = {}
  for k = 1, n do
    smua.source.levelv = 0
    sw.exclusiveclose(route)
    smub.source.levelv = 1.2
    smua.source.levelv = v_read
    digio.trigger[1].assert()
    readings[k] = smua.measure.i()
  end
  if n > 0 then
    return table.getn(readings), readings[n]
  end
  return 0
end
endscript"""


def _open(tmp_path: Path, limits: str = "") -> tuple:
    path = tmp_path / "bench.yaml"
    path.write_text(BENCH.replace("LIMITS", limits))
    rm = pyvisa.ResourceManager(f"{path}@reramsim")
    return rm, rm.visalib, open_raw(rm, K26)


@pytest.fixture
def bench(tmp_path: Path):
    """(simulated bench library, the 2636B and the 707B through pyvisa)."""
    rm, lib, smu = _open(tmp_path)
    yield lib, smu, open_raw(rm, SW)
    rm.close()


def errors(smu) -> list[tuple[int, str]]:
    """The 2636B's error queue, emptied."""
    out = []
    while True:
        code, message, *_ = smu.query("print(errorqueue.next())").split("\t")
        if int(code) == 0:
            return out
        out.append((int(code), message))


def configure(smu) -> None:
    smu.write(
        "smua.source.limiti = 1e-4 smub.source.limiti = 1e-4 smua.measure.nplc = 0.01 "
        "smua.source.output = smua.OUTPUT_ON smub.source.output = smub.OUTPUT_ON"
    )


# -- scripts, functions, control flow ------------------------------------------------------------
def test_a_user_script_defines_functions_later_messages_call(bench) -> None:
    lib, smu, _ = bench
    smu.write(
        "loadscript maths\n"
        "function rl_sum(a, b, n)\n"
        "  local s = 0\n"
        "  for i = 1, n do\n"
        "    if math.mod(i, 2) == 0 then s = s + a else s = s + b end\n"
        "  end\n"
        "  return s\n"
        "end\n"
        "endscript"
    )
    assert smu.query("print(type(rl_sum))") == "nil"  # loaded, not run
    smu.write("maths.run()")
    assert smu.query("print(rl_sum(1, 10, 4))") == "22"
    smu.write("x = rl_sum(0.5, 0, 2)")
    assert smu.query("print(x, x * 2, 'text', nil, true)") == "0.5\t1\ttext\tnil\ttrue"
    assert smu.query("print(1 / 3)") == "0.33333333333333"  # %.14g, as TSP prints
    smu.write("maths()")  # running it again redefines the same functions
    assert smu.query("print(maths.name, rl_sum(2, 3, 1))") == "maths\t3"
    assert errors(smu) == []


def test_a_script_sent_line_by_line_and_a_loop_in_one_message(bench) -> None:
    lib, smu, _ = bench
    for line in ["loadscript ramp", "function ramp(a, b, n)", "  local out = {}",
                 "  for k = 0, n - 1 do", "    smua.source.levelv = a + (b - a) * k / (n - 1)",
                 "    out[k + 1] = smua.source.levelv", "  end",
                 "  return table.concat(out, ',')", "end", "endscript"]:  # fmt: skip
        smu.write(line)
    smu.write("ramp()")
    assert smu.query("print(ramp(0, 1, 5))") == "0,0.25,0.5,0.75,1"
    assert lib.instruments["k26"].smu["smua"].levelv == 1.0
    assert smu.query("for i = 1, 3 do print(i * i) end") == "1\n4\n9"
    assert errors(smu) == []


def test_a_loadandrunscript_body_with_lua_runs_through_lua(bench) -> None:
    lib, smu, _ = bench
    smu.write("loadandrunscript\nlocal v = 0.2\nfor k = 1, 3 do v = v + 0.1 end\n"
              "smua.source.levelv = v\nendscript")  # fmt: skip
    assert lib.instruments["k26"].smu["smua"].levelv == pytest.approx(0.5)
    smu.write("loadandrunscript setup\nlevel = 0.25\nsmub.source.levelv = level\nendscript")
    assert lib.instruments["k26"].smu["smub"].levelv == 0.25
    smu.write("level = 0.35")
    smu.write("setup()")  # a named loadandrunscript is kept as a script
    assert lib.instruments["k26"].smu["smub"].levelv == 0.25  # it sets level itself first
    smu.write("smub.source.levelv = level + 0.1")  # a statement using a script's global
    assert lib.instruments["k26"].smu["smub"].levelv == pytest.approx(0.35)
    assert errors(smu) == []


def test_the_statement_table_still_answers_what_it_knows(bench) -> None:
    lib, smu, _ = bench
    smu.write("bogus.call()")  # an unknown global: the statement is not understood
    assert [c for c, _ in errors(smu)] == [-285]
    assert smu.query("print(1 + 2)") == "3"  # Lua can run it
    smu.write("smua.source.levelv = 300")
    assert [c for c, _ in errors(smu)] == [-222]
    assert smu.query("print(smua.source.levelv)") == "0"


# -- errors ---------------------------------------------------------------------------------------
def test_a_syntax_error_queues_285_and_stores_nothing(bench) -> None:
    lib, smu, _ = bench
    smu.write("loadscript good\nfunction f() return 1 end\nendscript")
    smu.write("good()")
    smu.write("loadscript good\nfunction f() return 2\nendscript")  # 'end' missing
    ((code, message),) = errors(smu)
    assert code == -285 and message.startswith("TSP Syntax error at line ")
    assert "`end' expected" in message  # Lua 5.0's quoting, as the instrument reports
    smu.write("good()")  # the script loaded before is still there
    assert smu.query("print(f())") == "1"
    smu.write("loadandrunscript\nfor i = 1, 3 do smua.source.levelv = 1\nendscript")
    assert [c for c, _ in errors(smu)] == [-285]
    assert lib.instruments["k26"].smu["smua"].levelv == 0.0  # not run at all


def test_a_runtime_error_queues_286_and_ends_the_chunk(bench) -> None:
    lib, smu, _ = bench
    s = lib.instruments["k26"].smu
    smu.write("loadscript broken\nfunction go()\n  smua.source.levelv = 0.5\n  missing()\n"
              "  smua.source.levelv = 0.9\nend\nendscript")  # fmt: skip
    smu.write("broken()")
    smu.write("go() smub.source.levelv = 0.4")
    ((code, message),) = errors(smu)
    assert code == -286
    assert message == "TSP Runtime error at line 3: attempt to call global `missing' (a nil value)"
    assert (s["smua"].levelv, s["smub"].levelv) == (0.5, 0.0)  # stopped at the error
    smu.write("do error('giving up') end")
    assert errors(smu) == [(-286, "TSP Runtime error at line 1: giving up")]


def test_a_value_the_instrument_refuses_keeps_its_code_and_changes_nothing(bench) -> None:
    lib, smu, _ = bench
    s = lib.instruments["k26"].smu["smua"]
    smu.write("smua.source.levelv = 0.3")
    smu.write("for k = 1, 3 do smua.source.levelv = 100 * k end smua.source.levelv = 1")
    assert [c for c, _ in errors(smu)] == [-222]  # queued once, the chunk ended
    assert s.levelv == 200.0  # 100 V and 200 V were accepted (autorange: up to 202 V)
    smu.write("smua.source.levelv = 0.3")
    smu.write("do smua.trigger.source.listv({0.1, 250}) smua.source.levelv = 1 end")
    assert [c for c, _ in errors(smu)] == [-222]
    assert s.sweep == [] and s.levelv == 0.3
    # under pcall the error is queued all the same and its message comes back
    reply = smu.query("print(pcall(function() smua.source.levelv = 500 end))")
    assert reply.startswith("false\ttsp:1: Data out of range")
    assert [c for c, _ in errors(smu)] == [-222] and s.levelv == 0.3


def test_an_endless_loop_is_stopped(bench, monkeypatch) -> None:
    lib, smu, _ = bench
    monkeypatch.setattr(tsp_lua, "INSTRUCTION_LIMIT", 5_000_000)
    smu.write("while true do end")
    ((code, message),) = errors(smu)
    assert code == -286 and "instruction limit" in message


def test_the_standard_library_is_sandboxed(bench) -> None:
    _, smu, _ = bench
    names = "os, io, require, loadstring, dofile, load, debug, python, getfenv, setfenv"
    reply = smu.query(f"do local t = {{{names}}} print(table.getn(t), math.floor(2.7), "
                      f"string.format('%.2f', math.pi), type(pairs)) end")  # fmt: skip
    assert reply == "0\t2\t3.14\tfunction"
    reply = smu.query("print(pcall(setmetatable, smua, {}))")
    assert reply == "false\tcannot change a protected metatable"


# -- the TSP API ----------------------------------------------------------------------------------
def test_measure_i_in_lua_costs_what_the_statement_costs(bench) -> None:
    lib, smu, switch = bench
    switch.write(f'channel.close("{CELL}")')
    configure(smu)
    smu.write("smub.source.levelv = 1.2 smua.source.levelv = 0.2")
    clock = lib.clock
    t0 = clock.now_s
    by_statement = float(smu.query("print(smua.measure.i())"))
    t1 = clock.now_s
    by_lua = float(smu.query("do local i = smua.measure.i() print(i) end"))
    t2 = clock.now_s
    assert t2 - t1 == pytest.approx(t1 - t0, rel=1e-9)
    assert by_lua == pytest.approx(by_statement, rel=1e-3)
    assert smu.query("print(smua.measure.v(), smub.measure.v())") == "0.2\t1.2"
    assert errors(smu) == []


def test_delay_and_timer_follow_the_simulated_clock(bench) -> None:
    lib, smu, _ = bench
    command_s = lib.instruments["k26"].command_time_s
    t0 = lib.clock.now_s
    elapsed = float(smu.query("timer.reset() delay(0.25) print(timer.measure.t())"))
    # timer.reset(), delay() and timer.measure.t() each take one command time
    assert lib.clock.now_s - t0 == pytest.approx(0.25 + 3 * command_s)
    assert elapsed == pytest.approx(0.25 + 2 * command_s)


def test_digio_trigger_assert_pulses_the_cabled_line(bench, monkeypatch) -> None:
    lib, smu, _ = bench
    fired: list[str] = []
    monkeypatch.setattr(lib.bench, "assert_trigger", fired.append, raising=False)
    assert smu.query("print(digio.trigger[1].mode, digio.trigger[1].pulsewidth)") == "0\t1e-05"
    smu.write("digio.trigger[1].assert()")  # TRIG_BYPASS: the line is plain digital I/O
    assert fired == []
    smu.write("digio.trigger[1].mode = digio.TRIG_FALLING digio.trigger[14].mode = 2 "
              "digio.trigger[1].pulsewidth = 20e-6 digio.trigger[1].assert() "
              "digio.trigger[14].assert()")  # fmt: skip
    assert fired == ["k26.dio1", "k26.dio14"]
    assert smu.query("print(digio.trigger[1].mode, digio.trigger[1].pulsewidth)") == "1\t2e-05"
    assert smu.query("print(digio.TRIG_BYPASS, digio.TRIG_RISING, digio.TRIG_EITHER)") == "0\t2\t3"
    smu.write("digio.trigger[15].assert()")  # the 2636B has lines 1..14
    smu.write("digio.trigger[2].mode = 9")
    assert [c for c, _ in errors(smu)] == [-286, -222]
    smu.write("reset()")  # instrument reset: lines back to bypass
    assert smu.query("print(digio.trigger[1].mode)") == "0"


def test_node_n_reaches_the_707b_on_the_tsplink_network(bench, monkeypatch) -> None:
    lib, smu, _ = bench
    switch = lib.instruments["sw"]
    asked: list[tuple[str, int]] = []
    lookup = lib.bench.tsplink_node

    def spy(caller: str, node: int):
        asked.append((caller, node))
        return lookup(caller, node)

    monkeypatch.setattr(lib.bench, "tsplink_node", spy)
    t0 = lib.clock.now_s
    smu.write('node[2].channel.exclusiveclose("1A01,2H01")')
    assert switch.closed == {(1, "A", 1), (2, "H", 1)}
    assert lib.bench.closed["sw"] == {("A", 1), ("H", 13)}  # the bench wiring follows
    assert lib.clock.now_s - t0 >= 2 * RELAY_TIME_S  # relay timing as for the 707B's own
    smu.write('node[2].channel.close("3B01") node[2].channel.open("2H01")')
    assert switch.closed == {(1, "A", 1), (3, "B", 1)}
    assert smu.query('print(node[2].channel.getclose("allslots"))') == "1A01;3B01"
    assert smu.query("print(node[1].smua == smua, tsplink.state)") == "true\tonline"
    assert asked[0] == ("k26", 2)
    smu.write('node[5].channel.close("1A01")')
    smu.write('node[2].channel.close("1A13")')  # no column 13 on a 7174A
    assert errors(smu) == [(-286, "TSP Runtime error at line 1: node 5 not found"),
                           (-286, "TSP Runtime error at line 1: invalid channel '1A13'")]  # fmt: skip
    assert switch.closed == {(1, "A", 1), (3, "B", 1)}


def test_a_verify_loop_runs_on_the_instrument(bench, monkeypatch) -> None:
    lib, smu, _ = bench
    fired: list[str] = []
    monkeypatch.setattr(lib.bench, "assert_trigger", fired.append, raising=False)
    configure(smu)
    smu.write(LOOP)
    smu.write("vloop() digio.trigger[1].mode = digio.TRIG_FALLING")
    n, last = smu.query(f'print(rl_pv(10, node[2].channel, 0.2, "{CELL}"))').split("\t")
    assert int(n) == 10 and abs(float(last)) < 1e-6  # a pristine cell
    assert fired == ["k26.dio1"] * 10
    assert lib.bench.levels["k26.a"] == 0.2 and lib.bench.levels["k26.b"] == 1.2
    assert errors(smu) == []


# -- the audit --------------------------------------------------------------------------------------
def test_the_audit_sees_what_a_script_sets(tmp_path, monkeypatch) -> None:
    local: list[CommandRecorder] = []
    monkeypatch.setattr(ReramSimLibrary, "recorders", local)  # kept out of the session audit
    limits = "  limits: {station: scripted, terminals: {k26.a: 1.5, k26.b: 2.0}}"
    rm, lib, smu = _open(tmp_path, limits)
    smu.write("loadscript levels\nfunction apply(v) smua.source.levelv = v end\nendscript")
    smu.write("levels()")
    smu.write("apply(1.0)")  # within the limits
    smu.write('node[2].channel.exclusiveclose("1A01") digio.trigger[1].assert()')
    (rec,) = local
    assert audit(rec).violations == []
    smu.write("apply(1.75)")  # no level in the message, but beyond k26.a's 1.5 V
    rm.close()
    (found,) = audit(rec).violations
    assert found.instrument == "k26" and found.command == "smua.source.levelv = 1.75"
    assert found.value == 1.75 and found.limit == 1.5 and not found.refused
    texts = [text for inst, text, _ in rec.messages() if inst == "k26"]
    assert 'node[2].channel.exclusiveclose("1A01")' in texts
    assert "digio.trigger[1].assert()" in texts
