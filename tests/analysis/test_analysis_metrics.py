"""Metrics: forming values on a known table, the plug-in registry, several logs compared."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from conftest import new_log, write_forming

from reramlab.analysis import (
    combined_runs,
    compare,
    distribution,
    load_summaries,
    metrics_for,  # fmt: skip
    open_log,
    summarize,
)
from reramlab.analysis.metrics import forming_metrics


def test_forming_metrics_on_a_known_table() -> None:
    cells = pd.DataFrame({"row": [0, 0, 1, 1], "col": [0, 1, 0, 1], "formed": [True, True, True, False],
                          "v_form": [3.3, 3.4, 3.5, math.nan], "i_form": [2.5e-4, 2.6e-4, 2.7e-4, math.nan],
                          "g_form": [30e-6, 40e-6, 50e-6, math.nan]})  # fmt: skip
    m = forming_metrics({"cells": cells}, {})
    assert m["n_cells"] == 4 and m["n_formed"] == 3 and m["yield"] == 0.75
    assert m["v_form_mean"] == pytest.approx(3.4) and m["v_form_std"] == pytest.approx(0.1)
    assert (m["v_form_min"], m["v_form_max"]) == (3.3, 3.5)
    assert m["v_form_median"] == pytest.approx(3.4) and m["v_form_iqr"] == pytest.approx(0.1)
    assert m["v_form_p05"] == pytest.approx(3.31) and m["v_form_p95"] == pytest.approx(3.49)
    assert m["i_form_mean"] == pytest.approx(2.6e-4) and m["g_form_median_uS"] == pytest.approx(
        40.0
    )
    assert forming_metrics({}, {}) == {"n_cells": 0, "n_formed": 0}


def test_distribution_ignores_nan_and_handles_empty() -> None:
    d = distribution([1.0, math.nan, 3.0], "x")
    assert d["x_mean"] == 2.0 and d["x_std"] == pytest.approx(math.sqrt(2))
    assert all(math.isnan(v) for v in distribution([], "y").values())
    assert distribution([5.0], "z")["z_std"] == 0.0


def test_metrics_from_a_log(forming_log) -> None:
    with open_log(forming_log) as log:
        s = summarize(log)
    assert (s["station"], s["chip"]) == ("sim", "chipA")
    run = s["runs"][0]
    assert (run["id"], run["protocol"], run["status"]) == ("0001_forming", "forming", "completed")
    assert run["metrics"]["yield"] == 0.75 and run["metrics"]["v_form_mean"] == pytest.approx(3.4)


def test_a_protocol_registers_its_metrics_in_a_few_lines(registries, tmp_path) -> None:
    @metrics_for("read")
    def read_metrics(tables, parameters):
        return {"n_reads": float(len(tables["reads"])), "v_read": parameters["v_read"]}

    @metrics_for("broken")
    def broken_metrics(tables, parameters):
        raise KeyError("g_s")

    with new_log(tmp_path / "r.h5") as log:
        for protocol in ("read", "broken"):
            run = log.new_run(protocol, {"v_read": 0.2}, "all", t_s=0.0)
            run.row("reads", row=0, col=0, g_s=1e-5)
            run.finish("completed", t_s=1.0)
    with open_log(tmp_path / "r.h5") as log, pytest.warns(UserWarning, match="metrics failed"):
        runs = summarize(log)["runs"]
    assert runs[0]["metrics"] == {"n_reads": 1.0, "v_read": 0.2}
    assert runs[1]["metrics"] == {} and runs[1]["analysis_error"] == "KeyError: 'g_s'"


def test_two_logs_compared(forming_log, tmp_path) -> None:
    other = tmp_path / "chipB.h5"
    with new_log(other, chip_name="chipB", station="lab1") as log:
        write_forming(log, cells={(0, 0): 3.2, (0, 1): 3.6})
        log.new_run("read", {}, "all", t_s=0.0).finish("completed", t_s=0.0)
    table = compare([forming_log, other], protocol="forming")
    assert list(table[["chip", "station", "id"]].itertuples(index=False, name=None)) == [
        ("chipA", "sim", "0001_forming"), ("chipB", "lab1", "0001_forming")]  # fmt: skip
    assert table["yield"].tolist() == [0.75, 1.0]
    assert table["v_form_mean"].iloc[1] == pytest.approx(3.4)
    runs = combined_runs(load_summaries([forming_log, other]))["runs"]
    assert [(r["file"], r["protocol"]) for r in runs] == [
        (str(forming_log), "forming"), (str(other), "forming"), (str(other), "read")]  # fmt: skip
    assert "file" not in combined_runs(load_summaries([other]))["runs"][0]


def test_every_protocol_answers_a_run_without_rows() -> None:
    """A run that wrote nothing yet (aborted at once, or still running) gets metrics and
    figures without errors: the registries guard every function's needed table."""
    from reramlab.analysis.figures import FIGURES
    from reramlab.analysis.metrics import METRICS
    from reramlab.protocols.base import PROTOCOL_MODULES

    assert set(METRICS) == set(FIGURES) == set(PROTOCOL_MODULES)
    empty = pd.DataFrame()
    for protocol in METRICS:
        for tables in ({}, {name: empty for name in ("cells", "cycles", "window", "train",
                                                     "reads", "k", "parallel", "map")}):  # fmt: skip
            metrics = METRICS[protocol](tables, {})
            assert all(v == 0 for v in metrics.values()), (protocol, metrics)
            assert FIGURES[protocol](tables, pd.DataFrame(), {}) == [], protocol
