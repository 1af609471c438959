"""The disturb protocol end to end on small blocks: half-select k and drift (and the contrast
chip), the parallel update on the array board and time-multiplexed on a pulse generator and
matrix (consistent results, transactions per update), parallel mapping, limits, resume."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import interrupted_then_resumed
from reramlab.analysis import open_log, summarize
from reramlab.analysis.figures import FIGURES
from reramlab.bench import UpdatePhase
from reramlab.errors import ParameterError, SafetyLimitError, StationError
from reramlab.runner import execute, open_bench
from reramlab.stations.loader import load_station
from reramlab.stations.simulate import resource_dict

HALF = {"mode": "half-select", "n_half": "1000", "n_prep": "300", "n_full": "5", "n_reads": "8",
        "checkpoints_per_decade": "1", "t_settle_s": "1"}  # fmt: skip
PARALLEL = {"mode": "parallel", "n_center": "200", "n_updates": "8", "n_reads": "8", "seed": "4"}


def sim_bench(station: str, directory):
    """A fresh simulated bench of `station` whose chip is formed (test hook, not a protocol)."""
    _, connected, bench = open_bench(load_station(station), sim=True, sim_dir=directory)
    mask = np.ones((bench.rows, bench.cols), dtype=bool)
    connected.simulator.model.program(mask, 40e-6)
    return connected, bench


def run(bench, out, cells: str, settings: dict[str, str], **kwargs) -> dict:
    result = execute("disturb", out=out, cells=cells, settings=settings, bench=bench, **kwargs)
    assert result.status == "completed", result.error
    with open_log(out) as log:
        entry = next(r for r in summarize(log)["runs"] if r["id"] == result.run_id)
        entry["tables"] = log.run(result.run_id)
        entry["timeseries"] = log.timeseries()
    return entry


def queues_empty(connected) -> bool:
    return all(len(inst.errors) == 0 for inst in connected.simulator.instruments.values())


@pytest.fixture(scope="module")
def half_select(tmp_path_factory):
    """The same small half-select run on the reference chip and on the contrast chip."""
    out = {}
    for station in ("sim-350nm", "sim-350nm-weak-nonlinearity"):
        directory = tmp_path_factory.mktemp(station)
        connected, bench = sim_bench(station, directory)
        out[station] = run(bench, directory / "d.h5", "0,0:2", HALF)
        assert queues_empty(connected)
        connected.close()
    return out


@pytest.fixture(scope="module")
def parallel(tmp_path_factory):
    """Eight updates of a 4x4 block on the array board and the same ones time-multiplexed, each
    on a fresh copy of the chip; with the bus transactions of each update."""
    out = {}
    for execution in ("board", "multiplexed"):
        directory = tmp_path_factory.mktemp(execution)
        connected, bench = sim_bench("sim-350nm-array", directory)
        sim, per_update = connected.simulator, []
        method = "parallel_update" if execution == "board" else "parallel_update_multiplexed"
        original = getattr(bench, method)

        def counted(*args, _original=original, _sim=sim, _per=per_update, **kwargs):
            before = _sim.transactions
            _original(*args, **kwargs)
            _per.append(_sim.transactions - before)

        setattr(bench, method, counted)
        out[execution] = run(bench, directory / "p.h5", "0:4,0:4",
                             {**PARALLEL, "execution": execution})  # fmt: skip
        out[execution]["transactions"] = per_update
        out[execution]["safe"] = (queues_empty(connected), sim.bench.line_voltages(),
                                  sim.instruments["arr"].output)  # fmt: skip
        connected.close()
    return out


# -- half-select (row 8) ------------------------------------------------------------------------
def test_half_select_measures_k_and_drift_on_the_reference_chip(half_select) -> None:
    run_ = half_select["sim-350nm"]
    m, t = run_["metrics"], run_["tables"]
    assert len(t["k"]) == 4 and set(t["k"]["bound"]) == {"gmin", "gmax"}
    assert abs(m["k_set_median"]) < 0.005 and abs(m["k_reset_median"]) < 0.005
    assert m["half_select_drift_max"] < 0.01 and m["n_half_pulses"] == 1000
    trains = t["half_select"]
    assert sorted(set(trains["train"])) == ["full_reset", "full_set", "half_reset", "half_set",
                                            "start"]  # fmt: skip
    assert sorted(set(trains[trains["train"] == "half_set"]["n"])) == [1, 10, 100, 1000]
    # instrument-side bursts between the log-spaced reads, not one call per pulse
    bursts = run_["timeseries"].query("op == 'half_set'")["n"]
    assert bursts.sum() == 4 * 1000 and bursts.max() == 900


def test_weak_nonlinearity_chip_shows_the_disturbance_the_reference_avoids(half_select) -> None:
    ref = half_select["sim-350nm"]["metrics"]
    weak = half_select["sim-350nm-weak-nonlinearity"]["metrics"]
    assert weak["k_reset_median"] > 0.01 and weak["k_reset_median"] > 100 * abs(
        ref["k_reset_median"]
    )
    assert weak["half_select_drift_max"] > 0.05
    assert weak["half_select_drift_max"] > 10 * ref["half_select_drift_max"]


def test_half_select_resumes_without_repeating_a_stage(tmp_path) -> None:
    connected, bench = sim_bench("sim-350nm", tmp_path)
    out, seen = tmp_path / "r.h5", []

    def first_stage(progress) -> bool:
        seen.append(progress)
        return len(seen) == 1

    settings = {**HALF, "n_half": "100"}
    result = interrupted_then_resumed("disturb", stop_when=first_stage, out=out, cells="0,0",
                                      settings=settings, bench=bench)  # fmt: skip
    assert result.status == "completed"
    with open_log(out) as log:
        t = log.run(result.run_id)
    assert list(t["k"]["bound"]) == ["gmin", "gmax"]
    assert (t["half_select"]["train"] == "start").sum() == 4  # two preparations per stage
    connected.close()


# -- parallel update (row 9) --------------------------------------------------------------------
def test_board_and_multiplexed_updates_agree(parallel) -> None:
    board, mux = (
        parallel["board"]["tables"]["parallel"],
        parallel["multiplexed"]["tables"]["parallel"],
    )
    for execution in ("board", "multiplexed"):
        m = parallel[execution]["metrics"]
        assert m["update_correlation"] >= 0.85, execution
        assert m["n_unselected"] >= 4 and m["unselected_drift_max"] < 0.01, execution
    # same chip, same bit streams: the two dG maps agree cell by cell
    assert np.array_equal(board["n_set"], mux["n_set"])
    dg_board, dg_mux = board["g_s"] - board["g_before_s"], mux["g_s"] - mux["g_before_s"]
    assert np.corrcoef(dg_board, dg_mux)[0, 1] > 0.95


def test_the_board_does_an_update_in_one_transaction(parallel) -> None:
    board, mux = parallel["board"]["transactions"], parallel["multiplexed"]["transactions"]
    assert len(board) == len(mux) == 8
    assert board[0] <= 8 and max(board[1:]) == 1  # first: matrices opened, limit and timing set
    assert min(mux) > 50 * max(board[1:])
    bench_s = {e: parallel[e]["metrics"]["bench_s_per_update"] for e in parallel}
    assert bench_s["multiplexed"] > 20 * bench_s["board"]


def test_parallel_runs_leave_the_bench_safe(parallel) -> None:
    for execution in ("board", "multiplexed"):
        empty, (v_bl, v_sl, v_wl), board_on = parallel[execution]["safe"]
        assert empty and not board_on, execution
        assert np.isnan(v_bl).all() and np.isnan(v_sl).all() and np.isnan(v_wl).all()


def test_parallel_logs_every_update_of_every_block_cell(parallel) -> None:
    run_ = parallel["board"]
    updates = run_["tables"]["updates"]
    assert list(updates["update"]) == list(range(8)) and (updates["execution"] == "board").all()
    ops = run_["timeseries"].query("op == 'par_update'")
    assert len(ops) == 8 * 16 and ops.groupby(["row", "col"])["n"].sum().sum() == (
        run_["tables"]["parallel"][["n_set", "n_reset"]].to_numpy().sum()
    )


def test_disturb_figures(half_select, parallel) -> None:
    names = []
    for run_ in (half_select["sim-350nm"], parallel["board"]):
        figures = FIGURES["disturb"](run_["tables"], run_["timeseries"], {})
        names += [name for name, _ in figures]
    assert names == ["half_select_drift", "k_set_map", "k_reset_map", "update_dg_map",
                     "update_expected_map", "update_scatter"]  # fmt: skip


# -- parallel mapping ---------------------------------------------------------------------------
def test_map_programs_a_block_and_reports_the_rest(tmp_path) -> None:
    connected, bench = sim_bench("sim-350nm-array", tmp_path)
    run_ = run(bench, tmp_path / "m.h5", "0:3,0:3",
               {"mode": "map", "map_rows": "2", "map_cols": "2", "n_rounds": "3",
                "n_center": "200", "n_reads": "8"})  # fmt: skip
    m, t = run_["metrics"], run_["tables"]
    assert 1 <= m["map_rounds"] <= 3 and len(t["map"]) == 9 and t["map"]["in_block"].sum() == 4
    assert np.isfinite(m["map_error_rms_rel"]) and m["map_rest_drift_max"] < 0.01
    figures = FIGURES["disturb"](t, run_["timeseries"], {})
    assert [n for n, _ in figures] == ["map_target", "map_programmed", "map_disturbance"]
    connected.close()


# -- limits -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("settings", "error", "match"),
    [
        ({"v_reset": "-5"}, SafetyLimitError, "v_reset = 5.0 V exceeds"),
        ({"mode": "parallel", "vg_update": "4"}, SafetyLimitError, "vg_update = 4.0 V exceeds"),
        ({"mode": "parallel", "execution": "board"}, ParameterError, "no array board"),
        ({"mode": "parallel", "bit_length": "20", "n_center": "0"}, None, None),
        ({"mode": "sideways"}, ParameterError, "mode = 'sideways'"),
    ],
)
def test_limits_refused_before_the_first_command(tmp_path, settings, error, match) -> None:
    connected, bench = sim_bench("sim-350nm", tmp_path)
    sim = connected.simulator
    before = sim.transactions
    if error is None:  # a station whose per-call pulse limit is below the bit length
        object.__setattr__(
            bench, "limits", bench.limits.model_copy(update={"pulses_per_call_max": 10})
        )
        error, match = SafetyLimitError, "bit_length .* exceeds limits.pulses_per_call_max"
    with pytest.raises(error, match=match):
        execute("disturb", out=tmp_path / "x.h5", cells="0:2,0:2", settings=settings, bench=bench)
    assert sim.transactions == before and not (tmp_path / "x.h5").exists()
    connected.close()


def test_bench_refuses_parallel_updates_it_cannot_do_safely(tmp_path) -> None:
    connected, bench = sim_bench("sim-350nm", tmp_path)
    before = connected.simulator.transactions
    bits = np.ones((2, 2), dtype=bool)
    with pytest.raises(SafetyLimitError, match="no array board"):
        bench.parallel_update([0, 1], [0, 1], [UpdatePhase(1.4, bits, bits)], width_s=1e-6, vg=3.3)
    with pytest.raises(SafetyLimitError, match="SL update amplitude = 5.0 V exceeds"):
        bench.check_parallel([0, 1], [0, 1], [UpdatePhase(-5.0, bits, bits)], width_s=1e-6, vg=3.3)
    with pytest.raises(SafetyLimitError, match="outside the 8x8 chip"):
        bench.check_parallel([0, 8], [0, 1], [UpdatePhase(1.4, bits, bits)], width_s=1e-6, vg=3.3)
    assert connected.simulator.transactions == before
    connected.close()


# -- the array board in the station file --------------------------------------------------------
def test_station_cables_one_board_channel_per_line(tmp_path) -> None:
    st = load_station("sim-350nm-array")
    cabled = resource_dict(st.spec, st.driver_classes)["reramsim"]["wiring"]["cabled"]
    assert cabled["arr.1"] == ["WL0"] and cabled["arr.9"] == ["BL0"] and cabled["arr.24"] == ["SL7"]
    bad = tmp_path / "bad.yaml"
    for lines, match in (("BL: {board: arr, first_channel: 5}", "overlap"),
                         ("BL: {board: nope}", "no instrument named 'nope'")):  # fmt: skip
        bad.write_text(f"extends: {st.path}\nwiring:\n  lines:\n    {lines}\n")
        with pytest.raises(StationError, match=match):
            load_station(bad)
