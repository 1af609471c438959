"""Endurance end to end on the simulated 350 nm chip: pulse-pair bursts, window checkpoints at
log-spaced counts, early stop, resume, limits, a lab station with sim=True."""

from __future__ import annotations

import pytest

from reramlab.analysis import FIGURES, open_log, summarize
from reramlab.errors import SafetyLimitError
from reramlab.protocols.schedules import bursts, log_counts
from reramlab.runner import execute, open_bench
from reramlab.stations.loader import load_station, station_dir

SHORT = {"preform": "1", "n_cycles": "10000", "checkpoints_per_decade": "1"}


@pytest.fixture
def bench350(tmp_path):
    _, connected, bench = open_bench(load_station("sim-350nm"), sim=True, sim_dir=tmp_path)
    yield bench
    connected.close()


def _tables(out, run_id):
    with open_log(out) as log:
        tables = log.run(run_id)
        ts = log.timeseries(run=run_id)
        return tables, ts, summarize(log)["runs"][-1]["metrics"], log.parameters(run_id)


def test_schedules() -> None:
    assert log_counts(1000, 1) == [1, 10, 100, 1000]
    assert log_counts(1_000_000, 3)[:7] == [1, 2, 5, 10, 22, 46, 100]
    assert log_counts(50, 3)[-1] == 50 and log_counts(0, 3) == []
    assert log_counts(1_000_000, 0.5) == [1, 100, 10_000, 1_000_000]
    assert list(bursts(25, 10)) == [10, 10, 5] and list(bursts(0, 10)) == []


def test_window_checkpoints_metrics_and_figures(bench350, tmp_path) -> None:
    out = tmp_path / "e.h5"
    result = execute("endurance", out=out, cells="0,0:2", settings=SHORT, bench=bench350)
    assert result.status == "completed", result.error
    tables, ts, metrics, parameters = _tables(out, result.run_id)
    window = tables["window"]
    assert list(window[window["col"] == 0]["cycles"]) == [0, 1, 10, 100, 1000, 10000]
    assert (window["g_lrs_s"] > 5 * window["g_hrs_s"]).all()
    assert metrics["pulses"] == 10000 and metrics["window_retained"] > 0.5
    assert metrics["window_initial_median_uS"] > 30 and metrics["n_stopped_early"] == 0
    pairs = ts[ts["op"] == "pulse_pairs"]  # one burst between checkpoints, not one per pair
    assert len(pairs) == 2 * 5 and pairs.groupby("col")["n"].sum().tolist() == [10000, 10000]
    assert {"window_vs_cycles", "lrs_hrs_vs_cycles"} <= {
        n for n, _ in FIGURES["endurance"](tables, ts, parameters)
    }


def test_stops_early_when_the_window_closes(bench350, tmp_path, monkeypatch) -> None:
    out = tmp_path / "e.h5"
    pulse_pairs, calls = bench350.pulse_pairs, []

    def worn_out_after_ten_pairs(*args, **kwargs) -> None:  # from then on every read is 20 uS
        calls.append(kwargs["count"])
        pulse_pairs(*args, **kwargs)
        if len(calls) == 2:
            monkeypatch.setattr(bench350, "read", lambda cell, v, vg, **_: (v * 20e-6, 20e-6))

    monkeypatch.setattr(bench350, "pulse_pairs", worn_out_after_ten_pairs)
    result = execute("endurance", out=out, cells="0,0", settings=SHORT, bench=bench350)
    tables, _, metrics, _ = _tables(out, result.run_id)
    assert list(tables["window"]["cycles"]) == [0, 1, 10]
    assert bool(tables["cells"]["stopped_early"].iloc[0]) and metrics["pulses"] == 10
    assert metrics["window_retained"] < 0.1 and metrics["n_stopped_early"] == 1


def test_resume_continues_a_cell_after_its_last_checkpoint(bench350, tmp_path, monkeypatch) -> None:
    out = tmp_path / "e.h5"
    pulse_pairs, calls = bench350.pulse_pairs, []

    def interrupted_third_burst(*args, **kwargs) -> None:
        calls.append(kwargs["count"])
        if len(calls) == 3:  # the burst 10 -> 100 pairs of cell (0, 0)
            raise KeyboardInterrupt
        pulse_pairs(*args, **kwargs)

    monkeypatch.setattr(bench350, "pulse_pairs", interrupted_third_burst)
    with pytest.raises(KeyboardInterrupt):
        execute("endurance", out=out, cells="0,0:2", settings=SHORT, bench=bench350)
    result = execute(
        "endurance", out=out, cells="0,0:2", settings=SHORT, bench=bench350, resume=True
    )
    tables, _, metrics, _ = _tables(out, result.run_id)
    assert result.status == "completed" and metrics["pulses"] == 10000
    window = tables["window"]
    assert list(window[window["col"] == 0]["cycles"]) == [0, 1, 10, 100, 1000, 10000]
    assert calls[3:5] == [90, 900]  # resumed at the checkpoint after 10, not from 0
    assert len(tables["cells"]) == 2


def test_limits_refused_before_the_first_command(bench350, tmp_path) -> None:
    before = bench350.station.simulator.transactions
    for settings, match in (({"v_reset": "-5"}, "v_reset = 5.0 V exceeds the station limit"),
                            ({"width_s": "2e-9"}, "width_s = 2e-09 s outside"),
                            ({"n_probe": "20000000"}, "n_probe = 20000000 exceeds")):  # fmt: skip
        with pytest.raises(SafetyLimitError, match=match):
            execute(
                "endurance", out=tmp_path / "e.h5", cells="0,0", settings=settings, bench=bench350
            )
    assert bench350.station.simulator.transactions == before
    assert not (tmp_path / "e.h5").exists()


def test_runs_on_a_lab_station_with_sim(tmp_path) -> None:
    station = load_station(station_dir() / "lab-2450-81160-707b.yaml")
    _, connected, bench = open_bench(station, sim=True, sim_dir=tmp_path)
    try:
        result = execute(
            "endurance", out=tmp_path / "e.h5", cells="0,0", settings=SHORT, bench=bench
        )
        assert result.status == "completed", result.error
        assert _tables(tmp_path / "e.h5", result.run_id)[2]["window_retained"] > 0.5
        assert all(len(inst.errors) == 0 for inst in connected.simulator.instruments.values())
    finally:
        connected.close()
