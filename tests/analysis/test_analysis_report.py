"""Figures (style, shapes, forming) and the HTML report, also through `reramlab analyze`."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import new_log, write_forming

from reramlab.analysis import (
    FIGURES,
    cell_map,
    figures_for,
    histogram,
    open_log,
    traces,
    write_report,  # fmt: skip
    xy_logx,
)
from reramlab.cli import cli

PNG = b"\x89PNG\r\n\x1a\n"
FORMING_FIGURES = ["v_form_histogram", "v_form_map", "g_form_map", "forming_ramps"]


def test_forming_figures(forming_log) -> None:
    with open_log(forming_log) as log:
        figures = dict(FIGURES["forming"](log.run(1), log.timeseries(run=1), log.parameters(1)))
    assert list(figures) == FORMING_FIGURES
    hist = figures["v_form_histogram"].axes[0]
    assert hist.get_xlabel() == "Forming voltage V_form (V)" and hist.get_ylabel() == "Count"
    assert any(
        "normal fit: μ = 3.4 V, σ = 0.1 V" in t.get_text() for t in hist.get_legend().get_texts()
    )
    vmap, colorbar = figures["v_form_map"].axes
    assert colorbar.get_ylabel() == "V_form (V)"
    grid = vmap.images[0].get_array()
    assert grid[0, 0] == 3.3 and np.ma.is_masked(grid[1, 1])  # the unformed cell is NaN
    assert [t.get_text() for t in vmap.get_legend().get_texts()] == ["not formed"]
    assert figures["g_form_map"].axes[1].get_ylabel() == "G after forming (µS)"
    ramps = figures["forming_ramps"].axes[0]
    assert ramps.get_yscale() == "log" and ramps.get_ylabel() == "Current |I| (A)"
    assert len(ramps.get_legend().get_texts()) == 4  # three formed cells + the unformed one


def test_shapes_for_other_protocols() -> None:
    x = np.logspace(0, 5, 20)
    fig = xy_logx(
        {"ON": (x, 90 - np.log(x)), "OFF": (x, 10 + np.log(x))}, ("Pulse pairs", ""), ("G", "µS")
    )
    ax = fig.axes[0]
    assert (
        ax.get_xscale() == "log"
        and ax.get_xlabel() == "Pulse pairs"
        and ax.get_ylabel() == "G (µS)"
    )
    v = np.r_[np.linspace(0, 1.3, 20), np.linspace(1.3, -1.5, 40)]
    assert traces({"loop": (v, 1e-4 * v)}, ("V", "V"), ("|I|", "A")).axes[0].get_yscale() == "log"
    levels = {f"{g} µS": np.random.default_rng(0).normal(g, 0.5, 50) for g in (10, 50, 90)}
    assert len(histogram(levels, ("G", "µS")).axes[0].get_legend().get_texts()) == 6
    disturb = cell_map(
        [0, 0, 1], [0, 1, 1], [-0.5, 0.25, np.nan], ("ΔG", "%"), shape=(2, 2), symmetric=True
    )
    image = disturb.axes[0].images[0]
    assert (
        image.norm.vmin == -0.5
        and image.norm.vmax == 0.5
        and np.ma.is_masked(image.get_array()[1, 0])
    )


def _embedded(page: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r"src='data:image/png;base64,([^']+)'", page)]


def test_report_embeds_its_figures(forming_log, tmp_path) -> None:
    out = write_report([forming_log], tmp_path / "report")
    page = out.read_text(encoding="utf-8")
    pngs = sorted(p.name for p in out.parent.glob("*.png"))
    assert pngs == sorted(f"0001_forming_{name}.png" for name in FORMING_FIGURES)
    images = _embedded(page)
    assert len(images) == 4 and all(i.startswith(PNG) for i in images)
    assert sorted(images) == sorted((out.parent / p).read_bytes() for p in pngs)
    assert "<style>" in page and "http" not in page.replace("http-equiv", "")  # self-contained
    for text in (
        "chipA.h5",
        "0001_forming",
        "completed",
        "v_form_mean",
        "3.4",
        "g_form_median_uS",
        "vg",
    ):
        assert text in page


def test_report_of_two_logs_and_a_failing_plugin(registries, forming_log, tmp_path) -> None:
    @figures_for("read")
    def read_figures(tables, timeseries, parameters):
        raise ValueError("no reads")

    other = tmp_path / "chipB.h5"
    with new_log(other, chip_name="chipB") as log:
        write_forming(log, status="aborted", cells={(0, 0): 3.2})
        log.new_run("read", {}, "all", t_s=0.0).finish("completed", t_s=0.0)
    with pytest.warns(UserWarning, match="figures failed"):
        out = write_report([forming_log, other], tmp_path / "two")
    page = out.read_text(encoding="utf-8")
    assert "All runs" in page and "chipB" in page and "figures failed: ValueError: no reads" in page
    assert (out.parent / "chipA_0001_forming_v_form_map.png").exists()
    assert (out.parent / "chipB_0001_forming_v_form_histogram.png").exists()
    assert len(_embedded(page)) == 8


def test_cli_analyze_json_and_report(forming_log, tmp_path) -> None:
    runner = CliRunner()
    report = tmp_path / "rep"
    res = runner.invoke(cli, ["analyze", str(forming_log), "--json", "--report", str(report)],
                        catch_exceptions=False)  # fmt: skip
    data = json.loads(res.stdout)  # the report's message goes to stderr
    assert list(data) == ["runs"] and {"id", "protocol", "status", "metrics"} <= set(
        data["runs"][0]
    )
    assert data["runs"][0]["metrics"]["yield"] == 0.75 and "file" not in data["runs"][0]
    assert (report / "report.html").exists() and len(list(report.glob("*.png"))) == 4
    other = tmp_path / "chipB.h5"
    with new_log(other, chip_name="chipB") as log:
        write_forming(log)
    res = runner.invoke(
        cli, ["analyze", str(forming_log), str(other), "--json"], catch_exceptions=False
    )
    assert [r["file"] for r in json.loads(res.stdout)["runs"]] == [str(forming_log), str(other)]
    res = runner.invoke(cli, ["analyze", str(forming_log)], catch_exceptions=False)
    assert "v_form_mean=3.4" in res.stdout


def test_report_with_empty_tables(tmp_path) -> None:
    path = tmp_path / "empty.h5"
    with new_log(path) as log:
        log.new_run("forming", {}, "all", t_s=0.0)  # started, nothing flushed yet
    out = write_report([path], tmp_path / "r")
    assert "running" in out.read_text(encoding="utf-8") and not list(out.parent.glob("*.png"))
