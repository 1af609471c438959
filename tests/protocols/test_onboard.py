"""Loops on the instrument: TSP scripts on the 2636B of the lab-2636b-81160-707b station (TSP-Link
to the 707B, digital I/O line 1 to the 81160A's trigger input), run against the simulator:
program-and-verify's write-verify loop and forming's ramp. Each must give what the host loop
gives, cost about one bus transaction per cell, log every step, and refuse where it cannot run."""

from __future__ import annotations

import numpy as np
import pytest

from reramlab.analysis import open_log, summarize
from reramlab.errors import ParameterError
from reramlab.instruments.base import InstrumentError
from reramlab.runner import execute, open_bench
from reramlab.stations.loader import load_station

STATION = "lab-2636b-81160-707b"
CELLS = "0:2,0:4"  # 8 cells
SETTINGS = {"n_levels": "4", "g_min_s": "20e-6", "g_max_s": "80e-6"}


def _bench(tmp_path, name: str = STATION):
    """The lab station with --sim, on the 130 nm chip the program-verify defaults are for."""
    st = load_station(name).simulating("cmo-hfox-130nm")
    _, connected, bench = open_bench(st, sim=True, sim_dir=tmp_path)
    execute("forming", out=tmp_path / "form.h5", cells=CELLS, bench=bench)
    return connected, bench


def _run(tmp_path, loop: str, name: str = "pv.h5"):
    connected, bench = _bench(tmp_path / loop)
    try:
        sim = connected.simulator
        n0 = sim.transactions
        result = execute("program-verify", out=tmp_path / name, cells=CELLS, bench=bench,
                         settings=SETTINGS | {"loop": loop})  # fmt: skip
        transactions = sim.transactions - n0
        assert result.status == "completed", result.error
        assert all(len(inst.errors) == 0 for inst in sim.instruments.values())
        assert not [e for e in sim.bench.events if e.kind == "short"]
        levels = dict(sim.bench.levels)
        closed = {k: set(v) for k, v in sim.bench.closed.items()}
    finally:
        connected.close()
    with open_log(tmp_path / name) as log:
        last = int(log.runs["number"].max())
        cells = log.run(last)["cells"]
        ops = log.timeseries(run=last)
        metrics = summarize(log)["runs"][-1]["metrics"]
    return transactions, cells, ops, metrics, levels, closed


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("onboard")
    (tmp / "instrument").mkdir()
    (tmp / "host").mkdir()
    return _run(tmp, "instrument", "onboard.h5"), _run(tmp, "host", "host.h5")


def test_the_loop_runs_on_the_instrument_and_converges(both) -> None:
    (tr, cells, _, metrics, _, _), _ = both
    assert set(cells["loop"].astype(str)) == {"instrument"}
    assert cells["converged"].astype(bool).all()
    assert metrics["success_rate"] == 1.0
    err = np.abs(cells["final_g_s"] - cells["target_g_s"]) / cells["target_g_s"]
    assert (err <= 0.02).all()


def test_one_call_per_cell_on_the_bus(both) -> None:
    (tr, cells, _, _, _, _), (tr_host, cells_host, _, _, _, _) = both
    iterations = int(cells["iterations"].sum())
    assert iterations >= len(cells)  # the loop did work
    # per cell: the script call, plus pulse levels when a target range changes, plus set-up
    assert tr / iterations < 1.0, (tr, iterations)
    assert tr_host / int(cells_host["iterations"].sum()) > 2 * tr / iterations


def test_instrument_and_host_loops_agree(both) -> None:
    (_, cells, _, m_on, _, _), (_, cells_host, _, m_host, _, _) = both
    assert cells_host["converged"].astype(bool).all()
    # same chip, same targets: the pulse counts differ only by cycle-to-cycle noise
    ratio = m_on["iterations_median"] / max(m_host["iterations_median"], 1)
    assert 0.33 < ratio < 3.0, (m_on["iterations_median"], m_host["iterations_median"])


def test_every_read_and_pulse_is_logged_in_time_order(both) -> None:
    (_, cells, ops, _, _, _), _ = both
    for (r, c), one in ops.groupby(["row", "col"]):
        kinds = one["op"].astype(str).tolist()
        row = cells[(cells["row"] == r) & (cells["col"] == c)].iloc[0]
        pulses = sum(k.endswith("_pulse") for k in kinds)
        assert pulses == row["iterations"]
        assert kinds.count("read") == row["iterations"] + 1
        assert np.all(np.diff(one["t_s"].to_numpy(float)) > 0)
        assert one["g_s"].to_numpy(float)[-1] == pytest.approx(row["final_g_s"])


def test_the_bench_is_safe_after_the_run(both) -> None:
    (_, _, _, _, levels, closed), _ = both
    assert all(v is None or v == 0.0 for v in levels.values()), levels
    assert not any(closed.values()), closed


def test_loop_instrument_is_refused_where_the_station_cannot_run_it(tmp_path) -> None:
    _, connected, bench = open_bench(load_station("sim"), sim=True, sim_dir=tmp_path)
    try:
        assert bench.onboard is None
        before = connected.simulator.transactions
        with pytest.raises(ParameterError, match=r"wiring\.tsplink"):
            execute("program-verify", out=tmp_path / "x.h5", cells="0,0", bench=bench,
                    settings={"loop": "instrument"})  # fmt: skip
        assert connected.simulator.transactions == before
    finally:
        connected.close()


def test_ispva_cannot_run_on_the_instrument() -> None:
    from reramlab.protocols.program_verify import Params

    with pytest.raises(ParameterError, match="ispva changes the pulse amplitude"):
        Params(loop="instrument", algorithm="ispva")


def _form(tmp_path, loop: str):
    st = load_station(STATION)
    _, connected, bench = open_bench(st, sim=True, sim_dir=tmp_path / loop)
    try:
        n0 = connected.simulator.transactions
        result = execute("forming", out=tmp_path / f"{loop}.h5", cells=CELLS, bench=bench,
                         settings={"loop": loop})  # fmt: skip
        assert result.status == "completed", result.error
        transactions = connected.simulator.transactions - n0
        assert all(len(i.errors) == 0 for i in connected.simulator.instruments.values())
    finally:
        connected.close()
    with open_log(tmp_path / f"{loop}.h5") as log:
        return transactions, log.run(1)["cells"], log.timeseries()


def test_forming_on_the_instrument_is_the_host_ramp_in_one_call_per_cell(tmp_path) -> None:
    tr_on, cells_on, ops_on = _form(tmp_path, "instrument")
    tr_host, cells_host, ops_host = _form(tmp_path, "host")
    # the same chip (seed), the same steps and reads: the same forming voltages
    assert cells_on["formed"].astype(bool).all()
    np.testing.assert_allclose(cells_on["v_form"], cells_host["v_form"])
    np.testing.assert_allclose(cells_on["i_form"], cells_host["i_form"], rtol=1e-6)
    assert len(ops_on) == len(ops_host)
    assert list(ops_on["op"].astype(str)) == list(ops_host["op"].astype(str))
    n_cells = len(cells_on)
    assert tr_on <= 5 * n_cells < tr_host / 10, (tr_on, tr_host)


def test_forming_loop_instrument_is_refused_without_tsp_link(tmp_path) -> None:
    _, connected, bench = open_bench(load_station("sim"), sim=True, sim_dir=tmp_path)
    try:
        with pytest.raises(ParameterError, match=r"forming ramp on an instrument"):
            execute("forming", out=tmp_path / "x.h5", cells="0,0", bench=bench,
                    settings={"loop": "instrument"})  # fmt: skip
    finally:
        connected.close()


def test_station_check_sees_the_tsp_link(tmp_path) -> None:
    from reramlab.stations.check import check_station
    from reramlab.stations.loader import station_dir

    good = check_station(station_dir() / f"{STATION}.yaml", sim=True)
    assert good.ok, good.problems
    assert any("TSP-Link node 2" in role for row in good.rows for role in row.roles)
    text = (station_dir() / f"{STATION}.yaml").read_text()
    broken = tmp_path / "no-switch-on-link.yaml"
    broken.write_text(text.replace("tsplink: {smu: 1, sw: 2}", "tsplink: {smu: 1}"))
    report = check_station(broken, sim=True)
    assert not report.ok
    assert any("wiring.tsplink: declared" in p for p in report.problems), report.problems


def _station_130nm():
    return load_station(STATION).simulating("cmo-hfox-130nm")


@pytest.mark.parametrize(
    ("protocol", "settings"),
    [
        ("program-verify", SETTINGS | {"v_form": "4.0", "n_reset_first": "5"}),
        ("read", {"program": "true", "v_form": "4.0", "n_reads": "3", "targets_s": "50e-6"}),
    ],
)
def test_host_steps_between_onboard_loops_never_short_a_line(tmp_path, protocol, settings):
    """Host reads and pulses around the loops (forming pulse, RESET burst, reads after
    programming) run while the pulse outputs may still be armed for the script: the bench must
    turn them off first, or a read drives the BL against a 50-ohm output at 0 V."""
    _, connected, bench = open_bench(_station_130nm(), sim=True, sim_dir=tmp_path)
    try:
        result = execute(protocol, out=tmp_path / "x.h5", cells=CELLS, bench=bench,
                         settings=settings)  # fmt: skip
        assert result.status == "completed", result.error
        sim = connected.simulator
        assert not [e for e in sim.bench.events if e.kind == "short"]
        assert all(len(inst.errors) == 0 for inst in sim.instruments.values())
    finally:
        connected.close()
    with open_log(tmp_path / "x.h5") as log:
        loops = set(log.run(1)["cells"]["loop"].astype(str))
    assert loops == {"instrument"}


def test_a_loop_that_stops_part_way_keeps_what_it_measured(tmp_path, monkeypatch) -> None:
    """An instrument error inside the script ends the loop at 0 V; the reads and pulses it made
    before are logged, the run fails with the instrument's message, the bench ends safe."""
    from sim_backend_errors import inject_gate_refusal

    _, connected, bench = open_bench(_station_130nm(), sim=True, sim_dir=tmp_path)
    try:
        execute("forming", out=tmp_path / "x.h5", cells="0,0", bench=bench)
        inject_gate_refusal(
            connected.simulator.instruments["smu"], after=7, monkeypatch=monkeypatch
        )
        with pytest.raises(InstrumentError, match=r"rl_verify stopped: .*-222"):
            execute("program-verify", out=tmp_path / "x.h5", cells="0,0", bench=bench,
                    settings={"targets_s": "20e-6", "acceptance": "0.002"})  # fmt: skip
        sim = connected.simulator
        levels = sim.bench.levels
        assert all(v is None or v == 0.0 for v in levels.values()), levels
        assert not any(sim.bench.closed.values())
    finally:
        connected.close()
    with open_log(tmp_path / "x.h5") as log:
        assert log.runs["status"].tolist() == ["completed", "failed"]
        ops = log.timeseries(run=2)
    # the 7th gate level (prepare_dc's 0 V, the script's 0 V and read gate, then pulse gate and
    # read gate per iteration) is the read gate after the second pulse: that pulse is logged too
    kinds = ops["op"].astype(str).tolist()
    assert kinds[:3] == ["read", "reset_pulse", "read"] and kinds[3:] == ["set_pulse"], kinds
    assert len(kinds) == 4
