"""Pulse train end to end: open-loop depression/potentiation with a read after each pulse (130 nm),
weak-RESET trains read every n pulses (hfox-weak-reset), mid-cell resume, limits, a lab station."""

from __future__ import annotations

import numpy as np
import pytest

from reramlab.analysis import FIGURES, open_log, summarize
from reramlab.analysis.metrics_switching import knee_fit
from reramlab.errors import ParameterError, SafetyLimitError
from reramlab.protocols.pulse_train import Params
from reramlab.runner import execute, open_bench
from reramlab.stations.loader import load_station, station_dir

SMALL = {"preform": "1", "n_down": "25", "n_up": "25", "n_alt": "10"}


def _open(station: str | object, tmp_path):
    st = load_station(station) if isinstance(station, str) else station
    return open_bench(st, sim=True, sim_dir=tmp_path)[1:]


@pytest.fixture
def bench(tmp_path):
    connected, bench = _open("sim", tmp_path)
    yield bench
    connected.close()


def _result(out, run_id):
    with open_log(out) as log:
        tables, ts = log.run(run_id), log.timeseries(run=run_id)
        figures = FIGURES["pulse-train"](tables, ts, log.parameters(run_id))
        return tables["train"], ts, summarize(log)["runs"][-1]["metrics"], {n for n, _ in figures}


def test_plan_reads_after_every_pulse_or_burst() -> None:
    plan = Params(n_down=3, n_up=2, n_alt=3).plan()
    assert [(p, k, runs) for _, p, k, runs in plan] == [
        ("start", 0, []), ("down", 1, [(-1.3, 1)]), ("down", 2, [(-1.3, 1)]), ("down", 3, [(-1.3, 1)]),
        ("up", 1, [(1.35, 1)]), ("up", 2, [(1.35, 1)]),
        ("alt", 1, [(-1.3, 1)]), ("alt", 2, [(1.35, 1)]), ("alt", 3, [(-1.3, 1)])]  # fmt: skip
    bursts = Params(phases="up,alt", n_up=5, n_alt=4, n_per_read=2).plan()
    assert [runs for *_, runs in bursts][1:] == [[(1.35, 2)], [(1.35, 2)], [(1.35, 1)],
                                                 [(-1.3, 1), (1.35, 1)], [(-1.3, 1), (1.35, 1)]]  # fmt: skip
    with pytest.raises(ParameterError, match="phases = 'down,sideways'"):
        Params(phases="down,sideways")


def test_depression_potentiation_symmetry_point(bench, tmp_path) -> None:
    out = tmp_path / "p.h5"
    result = execute("pulse-train", out=out, cells="0,0:2", settings=SMALL, bench=bench)
    assert result.status == "completed", result.error
    train, ts, m, figures = _result(out, result.run_id)
    assert len(train) == 2 * (1 + 25 + 25 + 10)
    assert (ts["op"] == "read").sum() >= len(train) and (ts["op"] == "set_pulse").sum() == 2 * 30
    down = train[train["phase"] == "down"].groupby("col")["g_s"]
    assert (down.last() < down.first()).all()  # depression lowers G
    up = train[train["phase"] == "up"].groupby("col")["g_s"]
    assert (up.last() > up.first()).all()  # potentiation raises it
    assert 0 < m["g_min_uS"] < m["g_max_uS"] and m["states"] > 5
    assert m["g_min_uS"] < m["g_sym_uS"] < m["g_max_uS"]
    assert {"response", "symmetry_point"} <= figures


def test_weak_reset_train_read_every_ten_pulses(tmp_path) -> None:
    connected, bench = _open("sim-weak-reset", tmp_path)
    try:
        settings = {"preform": "1", "phases": "up,down", "n_up": "3", "v_set": "1.5",
                    "n_down": "400", "v_reset": "-1.2", "n_per_read": "10", "vg_read": "3.3"}  # fmt: skip
        result = execute("pulse-train", out=tmp_path / "w.h5", cells="0,0:2", settings=settings,
                         bench=bench)  # fmt: skip
    finally:
        connected.close()
    train, ts, m, figures = _result(tmp_path / "w.h5", result.run_id)
    assert len(train) == 2 * (1 + 1 + 40) and (ts[ts["op"] == "reset_pulse"]["n"] == 10).all()
    assert 1e-5 < m["ln_r_slope_early"] < 1e-2 and 4000 < m["r0_mean_ohm"] < 12000
    assert "ln_r_down_phase" in figures


def test_knee_fit_ignores_a_telegraph_excursion() -> None:
    n = np.arange(0, 3000, 10.0)
    y = 9.0 + np.where(n < 600, 7e-4 * n, 7e-4 * 600 + 3e-5 * (n - 600))
    y[(n > 2500) & (n < 2700)] += 0.3  # a random-telegraph excursion late in the train
    early, late, knee, y0 = knee_fit(n, y)
    assert early == pytest.approx(7e-4, rel=0.02) and late == pytest.approx(3e-5, rel=0.05)
    assert knee == pytest.approx(600, abs=20) and y0 == pytest.approx(9.0, abs=1e-3)


def test_resume_continues_inside_a_cell(bench, tmp_path) -> None:
    out = tmp_path / "p.h5"

    def stop_after_the_down_phase(progress) -> None:
        if "down done" in progress.message:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute("pulse-train", out=out, cells="0,0", settings=SMALL, bench=bench,
                on_progress=stop_after_the_down_phase)  # fmt: skip
    with open_log(out) as log:
        assert len(log.run(1)["train"]) == 1 + 25
    result = execute("pulse-train", out=out, cells="0,0", settings=SMALL, bench=bench, resume=True)
    train = _result(out, result.run_id)[0]
    assert list(train["n"]) == list(range(61))  # every pulse read once, none repeated


def test_limits_refused_before_the_first_command(bench, tmp_path) -> None:
    before = bench.station.simulator.transactions
    for settings, match in (({"v_set": "6"}, "v_set = 6.0 V exceeds the station limit"),
                            ({"width_reset_s": "2e-9"}, "width_reset_s = 2e-09 s outside"),
                            ({"vg_set": "3.6"}, "vg_set = 3.6 V exceeds")):  # fmt: skip
        with pytest.raises(SafetyLimitError, match=match):
            execute(
                "pulse-train", out=tmp_path / "p.h5", cells="0,0", settings=settings, bench=bench
            )
    assert bench.station.simulator.transactions == before
    assert not (tmp_path / "p.h5").exists()


def test_runs_on_a_lab_station_with_sim(tmp_path) -> None:
    """The lab bench carries the 350 nm chip: its array pulses are +1.4 / -1.9 V, 2.5 us."""
    connected, bench = _open(load_station(station_dir() / "lab-2450-81160-707b.yaml"), tmp_path)
    try:
        settings = SMALL | {"phases": "down,up", "n_down": "10", "n_up": "10", "v_set": "1.4",
                            "v_reset": "-1.9", "width_set_s": "2.5e-6", "width_reset_s": "2.5e-6"}  # fmt: skip
        result = execute("pulse-train", out=tmp_path / "p.h5", cells="0,0", settings=settings,
                         bench=bench)  # fmt: skip
        assert result.status == "completed", result.error
        assert all(len(inst.errors) == 0 for inst in connected.simulator.instruments.values())
    finally:
        connected.close()
    g = _result(tmp_path / "p.h5", result.run_id)[0].set_index("n")["g_s"]
    assert g[10] < g[0] and g[20] > g[10]  # 10 RESET pulses lower G, 10 SET pulses raise it
