"""Array pulse board: driver transcripts, and the driver against its simulated twin
("RERAMSIM,ARRAY-PULSER-64") cabled to every line of a 2x2 chip."""

from __future__ import annotations

import numpy as np
import pytest
import pyvisa
import yaml
from _transcripts import control_transcript
from pymeasure.test import expected_protocol

from helpers import drain_errors, open_raw
from reramlab.instruments.array_pulser import ArrayPulser64, pattern_words
from reramlab.instruments.base import InstrumentError
from reramlab.instruments.roles import ArrayPulser

NO_ERROR = '0,"No error"'
ADDRESS = "GPIB0::20::INSTR"
#: board channel -> chip line of the twin bench
CABLES = {1: "WL0", 2: "WL1", 3: "BL0", 4: "BL1", 5: "SL0", 6: "SL1"}


# -- transcripts -------------------------------------------------------------------------------
def test_init_does_not_talk_and_satisfies_the_role() -> None:
    with expected_protocol(ArrayPulser64, []) as board:
        assert isinstance(board, ArrayPulser)
        assert board.n_channels == 64


@pytest.mark.parametrize(
    ("name", "value", "sent", "query", "reply"),
    [
        ("voltage_limit", 2.5, ":SOUR:LINE:VOLT:LIM 2.5", ":SOUR:LINE:VOLT:LIM?", "+2.500000E+00"),
        ("pulse_width", 2.5e-6, ":PULS:WIDT 2.500000e-06", ":PULS:WIDT?", "+2.500000E-06"),
        ("pulse_period", 1e-5, ":PULS:PER 1.000000e-05", ":PULS:PER?", "+1.000000E-05"),
        ("pulse_transition", 5e-9, ":PULS:TRAN 5.000000e-09", ":PULS:TRAN?", "+5.000000E-09"),
        ("output_enabled", True, ":OUTP 1", ":OUTP?", "1"),
        ("trigger_source", "BUS", ":TRIG:SOUR BUS", ":TRIG:SOUR?", "BUS"),
        ("segment_count", 4, ":PATT:SEGM 4", ":PATT:SEGM?", "4"),
    ],
)
def test_properties(name, value, sent, query, reply) -> None:
    control_transcript(ArrayPulser64, lambda b: b, name, value, sent.encode(), query.encode(),
                       reply.encode())  # fmt: skip


@pytest.mark.parametrize(
    ("name", "value"),
    [("voltage_limit", 10.5), ("pulse_width", 5e-9), ("segment_count", 17),
     ("trigger_source", "EXT")],
)  # fmt: skip
def test_properties_refuse_values_out_of_range(name, value) -> None:
    with expected_protocol(ArrayPulser64, []) as board, pytest.raises(ValueError):
        setattr(board, name, value)


def test_pattern_words_put_channel_1_in_bit_0() -> None:
    bits = np.zeros((3, 64), dtype=bool)
    bits[0, 0] = bits[1, [1, 3]] = bits[2, 63] = True
    assert pattern_words(bits) == ["1", "A", "8000000000000000"]


def test_configure_timing_is_one_checked_message() -> None:
    with expected_protocol(ArrayPulser64, [
        (":PULS:PER 1.000000e-05;:PULS:WIDT 2.500000e-06;:PULS:TRAN 1.000000e-08;:SYST:ERR?",
         NO_ERROR),
    ]) as board:  # fmt: skip
        board.configure_timing(width_s=2.5e-6, period_s=10e-6, rise_s=5e-9, fall_s=10e-9)
        with pytest.raises(ValueError, match="must fit"):
            board.configure_timing(width_s=10e-6, period_s=10e-6, rise_s=5e-9, fall_s=5e-9)


def test_fire_segments_loads_fires_and_checks_in_one_message() -> None:
    levels = [0.0] * 8
    levels[2], levels[4] = 0.7, -0.7
    bits = np.zeros((2, 8), dtype=bool)
    bits[0, [2, 4]] = bits[1, 2] = True
    message = (":TRIG:SOUR IMM;:PATT:SEGM 2;"
               ":SOUR:LINE:VOLT1 0,0,0.7,0,-0.7,0,0,0;:PATT:DATA1 14,4;"
               ":SOUR:LINE:VOLT2 0,0,0.7,0,-0.7,0,0,0;:PATT:DATA2 14,4;"
               ":OUTP 1;:INIT;*WAI;:OUTP 0;:SYST:ERR?")  # fmt: skip
    with expected_protocol(ArrayPulser64, [(message, NO_ERROR)]) as board:
        board.fire_segments([(levels, bits), (levels, bits)])


def test_fire_segments_raises_the_board_errors() -> None:
    with expected_protocol(ArrayPulser64, [
        (":TRIG:SOUR IMM;:PATT:SEGM 1;:SOUR:LINE:VOLT1 1;:PATT:DATA1 1;:OUTP 1;:INIT;*WAI;"
         ":OUTP 0;:SYST:ERR?", '-221,"Settings conflict; segment(s) [1] not loaded"'),
        (":SYST:ERR?", NO_ERROR),
    ]) as board, pytest.raises(InstrumentError, match="-221"):  # fmt: skip
        board.fire_segments([([1.0], np.ones((1, 1), dtype=bool))])


@pytest.mark.parametrize(
    ("levels", "bits", "match"),
    [
        ([0.5] * 65, np.ones((1, 65), bool), "levels"),
        ([11.0], np.ones((1, 1), bool), "beyond"),
        ([float("nan")], np.ones((1, 1), bool), "beyond"),
        ([0.5], np.ones((1, 65), bool), "patterns must be"),
        ([0.5], np.ones((0, 1), bool), "patterns must be"),
        ([0.5], np.ones((1, 1), int), "booleans"),
    ],
)
def test_fire_segments_refuses_bad_input_before_sending(levels, bits, match) -> None:
    with expected_protocol(ArrayPulser64, []) as board, pytest.raises(ValueError, match=match):
        board.fire_segments([(levels, bits)])


def test_levels_beyond_the_clamp_it_set_are_refused_here() -> None:
    with expected_protocol(
        ArrayPulser64, [(":SOUR:LINE:VOLT:LIM 1;:SYST:ERR?", NO_ERROR)]
    ) as board:
        board.set_voltage_limit(1.0)
        with pytest.raises(ValueError, match="beyond"):
            board.fire_segments([([1.5], np.ones((1, 1), bool))])


def test_safe_state_floats_every_line_and_empties_the_segments() -> None:
    with expected_protocol(ArrayPulser64, [(":ABOR;:OUTP 0;:PATT:SEGM 1", None)]) as board:
        board.safe_state()


# -- the twin ----------------------------------------------------------------------------------
@pytest.fixture
def twin(tmp_path):
    """(visa library spec, simulator) of a 2x2 350 nm chip with the board on every line."""
    content = {
        "spec": "1.1",
        "devices": {"arr": {"eom": {"GPIB INSTR": {"q": "\n", "r": "\n"}}, "dialogues": []}},
        "resources": {ADDRESS: {"device": "arr"}},
        "reramsim": {
            "chip": {"preset": "cmo-hfox-350nm", "rows": 2, "cols": 2, "seed": 3},
            "instruments": {ADDRESS: {"model": "array-pulser-64", "name": "arr"}},
            "wiring": {"cabled": {f"arr.{k}": [line] for k, line in CABLES.items()}},
        },
    }
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(content))
    spec = f"{path}@reramsim"
    sim = pyvisa.ResourceManager(spec).visalib
    sim.model.program(np.ones((2, 2), dtype=bool), 20e-6)
    yield spec, sim
    assert all(len(inst.errors) == 0 for inst in sim.instruments.values())


@pytest.fixture
def board(twin):
    spec, _ = twin
    board = ArrayPulser64(ADDRESS, visa_library=spec)
    yield board
    assert board.check_errors() == []
    board.adapter.close()


def _set_cell_00(v_cell: float, vg: float = 3.3) -> tuple[list[float], np.ndarray]:
    """Levels and one slot putting v_cell on cell (0, 0): V/2 on BL0 and -V/2 on SL0."""
    levels = [vg, vg, v_cell / 2, 0.0, -v_cell / 2, 0.0]
    return levels, np.array([[True, True, True, False, True, False]])


def test_twin_identifies_and_reports_its_channels(board) -> None:
    assert board.id.startswith("RERAMSIM,ARRAY-PULSER-64")
    assert board.channel_count == 64
    assert board.output_enabled is False and board.trigger_source == "IMM"
    assert board.segment_count == 1


def test_a_fire_updates_only_the_coincident_cell_and_floats_the_lines(twin, board) -> None:
    _, sim = twin
    board.configure_timing(width_s=2.5e-6, period_s=10e-6, rise_s=5e-9, fall_s=5e-9)
    g0, t0 = sim.model.g_s.copy(), sim.clock.now_s
    levels, bits = _set_cell_00(1.4)
    board.fire_segments([(levels, np.repeat(bits, 20, axis=0))])  # 20 coincidences on (0, 0)
    dg = sim.model.g_s - g0
    assert dg[0, 0] > 1e-6  # SET on the crossing
    assert np.all(np.abs(dg.ravel()[1:]) < 1e-8)  # half-selected and unselected cells stay
    assert sim.clock.now_s - t0 >= 20 * 10e-6
    v_bl, v_sl, v_wl = sim.bench.line_voltages()
    assert np.isnan(v_bl).all() and np.isnan(v_sl).all() and np.isnan(v_wl).all()


def test_a_refused_level_empties_its_segment_and_nothing_fires(twin, board) -> None:
    _, sim = twin
    board.set_voltage_limit(1.0)
    g0 = sim.model.g_s.copy()
    inst = open_raw(pyvisa.ResourceManager(twin[0]), ADDRESS)
    inst.write(":TRIG:SOUR IMM;:SOUR:LINE:VOLT 3.3,3.3,1.5,0,-0.7;:PATT:DATA 17;:OUTP 1;:INIT")
    errors = drain_errors(inst)
    assert errors[0].startswith("-222") and errors[1].startswith("-221")
    assert np.array_equal(sim.model.g_s, g0)
    inst.write(":OUTP 0")
    inst.close()


def test_twin_grammar_and_errors(twin) -> None:
    spec, sim = twin
    inst = open_raw(pyvisa.ResourceManager(spec), ADDRESS)
    assert inst.query("*IDN?").startswith("RERAMSIM,ARRAY-PULSER-64")
    assert inst.query(":syst:chan?") == "64" and inst.query("*OPC?") == "1"
    inst.write(":PATT:SEGM 2;:PATT:DATA2 1f,0;:SOURCE:LINE:VOLTAGE2 0.5,-0.25")
    assert inst.query(":PATT:DATA2?") == "000000000000001F,0000000000000000"
    assert inst.query(":PATT:SLOT2?") == "2"
    assert inst.query(":LINE:VOLT2?").startswith("+5.000000E-01,-2.500000E-01,+0.000000E+00")
    assert drain_errors(inst) == []
    inst.write(":PATT:DATA1 XYZ")
    inst.write(":PATT:DATA3 1")
    inst.write(":LINE:VOLT1 " + ",".join(["0"] * 65))
    inst.write(":PULS:WIDT 1e-10")
    inst.write(":FOO:BAR 1")
    inst.write(":INIT")
    codes = [int(e.split(",")[0]) for e in drain_errors(inst)]
    assert codes == [-104, -114, -108, -222, -113, -221]
    inst.close()


def test_bus_trigger_fires_when_armed(twin, board) -> None:
    _, sim = twin
    inst = open_raw(pyvisa.ResourceManager(twin[0]), ADDRESS)
    levels, bits = _set_cell_00(1.4)
    words = ",".join(pattern_words(np.repeat(bits, 20, axis=0)))
    inst.write(f":TRIG:SOUR BUS;:LINE:VOLT {','.join(map(str, levels))};:PATT:DATA {words};"
               ":OUTP 1;:INIT")  # fmt: skip
    g0 = sim.model.g_s.copy()
    assert np.array_equal(sim.model.g_s, g0)  # armed, not fired
    inst.write("*TRG")
    assert sim.model.g_s[0, 0] - g0[0, 0] > 1e-6
    inst.write(":OUTP 0")
    assert drain_errors(inst) == []
    inst.close()
